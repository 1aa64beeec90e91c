#!/usr/bin/env bash
# Installs the Debian packages libsegops needs to build, test and demo, when any
# is missing. Used by demo.sh and test.sh; safe to run again (it checks first).
set -euo pipefail

packages=(build-essential cmake pkg-config git curl openssl
          libcurl4-openssl-dev libssl-dev libcjson-dev libcmocka-dev libmicrohttpd-dev)
# clang-19 for the ASan stage (its runtime survives fork(), see test.sh), with
# llvm-19 for llvm-symbolizer-19, without which its reports carry no file:line;
# gcc-multilib for the 32-bit build of the pure modules (tests/ilp32).
[ "${1:-}" = "--test" ] && packages+=(valgrind clang libclang-rt-dev gcc-multilib
                                     clang-19 libclang-rt-19-dev llvm-19)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
