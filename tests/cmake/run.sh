#!/usr/bin/env bash
# Builds and runs the consumer project (tests/cmake) every way an application can get
# libsegops, each against a local segops-dev-server:
#   subdirectory       add_subdirectory, parent provides cJSON, parent sets BUILD_SHARED_LIBS=ON
#   fetchcontent       FetchContent_Declare(SOURCE_DIR), parent provides cJSON
#   fetchcontent_url   FetchContent of a source tarball (git archive), libsegops finds cJSON itself
#   find_package       cmake --install into a staging prefix, then find_package(segops CONFIG)
#   find_package_nocjsoncfg   same install; the consumer has no cJSON CMake package (pkg-config fallback)
#   find_package_pccjson      libsegops built against pkg-config cJSON; consumer has the CMake package
#   pkgconfig          cc $(pkg-config --cflags --libs segops), C and C++
#   deb                cpack -G DEB, unpack the package, find_package from the unpacked /usr
# and the README's recipes exactly as written (tests/cmake/readme, the files README.md shows),
# each building and running the README's two example programs:
#   readme_subdirectory   add_subdirectory(libsegops) with libsegops a link to the source
#   readme_fetchcontent   FetchContent from git, its URL redirected (git insteadOf) to a local
#                         repository whose branch main holds the source
#   readme_install        the install commands in a copy of the source (DESTDIR=staging);
#                         the build must hold the library alone
#   readme_find_package   find_package(segops) from that installation
#   readme_pkgconfig      cc / c++ $(pkg-config ...) against that installation
#
# Usage: run.sh SEGOPS_SOURCE_DIR PATH/TO/segops-dev-server [MODE...]
# Environment: SEGOPS_CONSUMER_JOBS (default 2), SEGOPS_KEEP_TMP=1 keeps the work directory,
# CC / CXX / CMAKE_GENERATOR as usual.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 SEGOPS_SOURCE_DIR SEGOPS_DEV_SERVER [MODE...]" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
server=$2
shift 2
all_modes=(subdirectory fetchcontent fetchcontent_url find_package find_package_nocjsoncfg
    find_package_pccjson pkgconfig deb readme_subdirectory readme_fetchcontent readme_install
    readme_find_package readme_pkgconfig)
if [[ $# -gt 0 ]]; then modes=("$@"); else modes=("${all_modes[@]}"); fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../support/skip.sh
source "$here/../support/skip.sh"
jobs=${SEGOPS_CONSUMER_JOBS:-2}
api_key=sk_consumer_test
# A make jobserver inherited from `make test` would confuse the nested builds.
unset MAKEFLAGS MFLAGS MAKELEVEL

if [[ ! -x $server ]]; then
    echo "run.sh: dev server '$server' is not an executable" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/segops-consumers.XXXXXX")
server_pid=""
cleanup() {
    local status=$?
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ $status -eq 0 && -z ${SEGOPS_KEEP_TMP:-} ]]; then
        rm -rf "$work"
    else
        echo "run.sh: work directory kept: $work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n=== %s\n' "$*"; }
with_timeout() {
    if command -v timeout >/dev/null; then timeout "$@"; else shift; "$@"; fi
}

# --- the dev server ---------------------------------------------------------------
"$server" --port 0 --port-file "$work/port" --sk "$api_key" --quiet \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=""
for _ in $(seq 1 200); do
    if [[ -s $work/port ]]; then
        first=$(tr -dc '0-9' <"$work/port")
        sleep 0.05
        second=$(tr -dc '0-9' <"$work/port")
        if [[ -n $first && $first == "$second" ]]; then port=$first; break; fi
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: segops-dev-server exited early" >&2
        cat "$work/server.out" "$work/server.err" >&2
        exit 1
    fi
    sleep 0.05
done
if [[ -z $port ]]; then
    echo "run.sh: segops-dev-server wrote no port file within 10 s" >&2
    cat "$work/server.out" "$work/server.err" >&2
    exit 1
fi
api_url="http://127.0.0.1:$port"
echo "run.sh: segops-dev-server (pid $server_pid) at $api_url"

# --- helpers (explicit `|| return 1`: set -e is off inside functions used in `if`) ---
delivered=0 # events the consumers report delivered; the server must have received as many
run_consumers() { # DIR holding consumer_c and consumer_cxx
    SEGOPS_API_URL=$api_url SEGOPS_API_KEY=$api_key with_timeout 60 "$1/consumer_c" || return 1
    delivered=$((delivered + 2))
    with_timeout 60 "$1/consumer_cxx" "$api_url" "$api_key" || return 1
    delivered=$((delivered + 3)) # one through segops.h, two through segops.hpp
}

consume() { # NAME CMAKE_ARGS...
    local name=$1 build=$work/consumer-$1
    shift
    cmake -S "$here" -B "$build" -DSEGOPS_SOURCE_DIR="$src" "$@" || return 1
    cmake --build "$build" -j "$jobs" || return 1
    run_consumers "$build" || return 1
}

lib_prefix() { # NAME CMAKE_ARGS... : build libsegops alone and install it into $work/stage-NAME
    local name=$1 build=$work/lib-$1
    shift
    if [[ -d $work/stage-$name ]]; then return 0; fi
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DSEGOPS_BUILD_TESTS=OFF -DSEGOPS_BUILD_EXAMPLES=OFF -DSEGOPS_BUILD_TOOLS=OFF \
        -DSEGOPS_BUILD_BENCH=OFF -DSEGOPS_INSTALL=ON "$@" || return 1
    cmake --build "$build" -j "$jobs" || return 1
    cmake --install "$build" --prefix "$work/stage-$name" || return 1
}

make_archive() { # writes $work/segops-src.tar.gz with one top-level directory, segops/
    local out=$work/segops-src.tar.gz rev prefix
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        export GIT_OPTIONAL_LOCKS=0 # read-only: never rewrite the index of a tree in use
        prefix=$(git -C "$src" rev-parse --show-prefix)
        if [[ -z $(git -C "$src" ls-files --others --exclude-standard -- . | head -n 1) ]]; then
            # Committed files plus uncommitted edits to them; `git stash create` is read-only.
            rev=$(git -C "$src" stash create 2>/dev/null || true)
            rev=${rev:-HEAD}
            echo "run.sh: archive = git archive $rev"
            git -C "$src" archive --format=tar.gz --prefix=segops/ -o "$out" "$rev:$prefix" ||
                return 1
        else
            # New files are not in any commit yet: tar exactly what a commit would hold.
            echo "run.sh: archive = tar of the working tree (untracked files present)"
            (cd "$src" && git ls-files -z --cached --others --exclude-standard -- . |
                tar -czf "$out" --null -T - --ignore-failed-read --warning=no-failed-read \
                    --transform='flags=r;s,^,segops/,') || return 1
        fi
    else
        echo "run.sh: archive = tar of $src (not a git work tree)"
        tar -czf "$out" -C "$(dirname "$src")" --exclude=.git --exclude='build*' \
            --transform="flags=r;s,^$(basename "$src"),segops," "$(basename "$src")" || return 1
    fi
    tar -tzf "$out" | grep -x 'segops/CMakeLists.txt' >/dev/null || { echo "bad archive" >&2; return 1; }
}

# --- the modes ---------------------------------------------------------------------
mode_subdirectory() {
    consume subdirectory -DSEGOPS_CONSUME=subdirectory -DBUILD_SHARED_LIBS=ON
}
mode_fetchcontent() {
    consume fetchcontent -DSEGOPS_CONSUME=fetchcontent -DCMAKE_C_FLAGS=-DSEGOPS_CONSUMER_MARK=1
}
mode_fetchcontent_url() {
    make_archive || return 1
    consume fetchcontent_url -DSEGOPS_CONSUME=fetchcontent_url \
        -DSEGOPS_ARCHIVE="$work/segops-src.tar.gz" -DSEGOPS_CONSUMER_PROVIDE_CJSON=OFF
}
mode_find_package() {
    lib_prefix cjsoncfg || return 1
    consume find_package -DSEGOPS_CONSUME=find_package -DCMAKE_PREFIX_PATH="$work/stage-cjsoncfg"
}
mode_find_package_nocjsoncfg() {
    lib_prefix cjsoncfg || return 1
    consume find_package_nocjsoncfg -DSEGOPS_CONSUME=find_package \
        -DCMAKE_PREFIX_PATH="$work/stage-cjsoncfg" -DCMAKE_DISABLE_FIND_PACKAGE_cJSON=ON
}
mode_find_package_pccjson() {
    lib_prefix pccjson -DCMAKE_DISABLE_FIND_PACKAGE_cJSON=ON || return 1
    find "$work/stage-pccjson" -name segops-targets.cmake \
        -exec grep -l 'PkgConfig::SEGOPS_PC_CJSON' {} + | grep -q . || {
        echo "run.sh: the pccjson build did not link pkg-config's cJSON" >&2
        return 1
    }
    consume find_package_pccjson -DSEGOPS_CONSUME=find_package \
        -DCMAKE_PREFIX_PATH="$work/stage-pccjson"
}
mode_pkgconfig() {
    lib_prefix cjsoncfg || return 1
    local pc out=$work/consumer-pkgconfig cc=${CC:-cc} cxx=${CXX:-c++} libs
    pc=$(find "$work/stage-cjsoncfg" -name segops.pc | head -n 1)
    [[ -n $pc ]] || { echo "run.sh: no segops.pc installed" >&2; return 1; }
    mkdir -p "$out"
    export PKG_CONFIG_PATH
    PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
    libs=$(pkg-config --cflags --libs segops) || return 1
    echo "segops.pc: $(pkg-config --modversion segops); $libs"
    echo "+ $cc -std=c99 ... consumer.c $libs"
    # shellcheck disable=SC2086 # word splitting of pkg-config output is intended
    "$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror "$here/consumer.c" $libs \
        -o "$out/consumer_c" || return 1
    # shellcheck disable=SC2086
    "$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror "$here/consumer.cpp" $libs \
        -o "$out/consumer_cxx" || return 1
    run_consumers "$out" || return 1
}
mode_deb() {
    if ! command -v cpack >/dev/null || ! command -v dpkg-deb >/dev/null; then
        # Counted and reported; a failure under CI (scripts/deps.sh installs both).
        segops_skip consumers/deb "cpack or dpkg-deb missing: the Debian package is not checked" \
            installable
        [[ $? -eq 77 ]] && skipped+=(deb) && return 0
        return 1
    fi
    lib_prefix cjsoncfg || return 1
    local deb root=$work/deb-root
    (cd "$work/lib-cjsoncfg" && cpack -G DEB) || return 1
    deb=$(find "$work/lib-cjsoncfg" -maxdepth 1 -name 'libsegops-dev_*.deb' | head -n 1)
    [[ -n $deb ]] || { echo "run.sh: cpack made no .deb" >&2; return 1; }
    dpkg-deb --info "$deb" || return 1
    dpkg-deb --contents "$deb" || return 1
    dpkg-deb -f "$deb" Depends | grep -q 'libcjson-dev' || return 1
    rm -rf "$root" && dpkg-deb -x "$deb" "$root" || return 1
    consume deb -DSEGOPS_CONSUME=find_package -DCMAKE_PREFIX_PATH="$root/usr"
}

# --- the README's recipes ------------------------------------------------------------
readme_url=https://git.example.com/libsegops.git # as fetchcontent.cmake names it
readme_stage=$work/readme-stage                   # DESTDIR of the install recipe

run_readme_programs() { # DIR holding my_server and my_cpp_server
    SEGOPS_API_URL=$api_url SEGOPS_API_KEY=$api_key with_timeout 60 "$1/my_server" || return 1
    delivered=$((delivered + 2)) # order_placed and the identify
    SEGOPS_API_URL=$api_url SEGOPS_API_KEY=$api_key with_timeout 60 "$1/my_cpp_server" ||
        return 1
    delivered=$((delivered + 1))
}

readme_project() { # NAME RECIPE CMAKE_ARGS...: the README's project, built with RECIPE
    local dir=$work/readme-$1 recipe=$2
    shift 2
    mkdir -p "$dir" && cp "$here"/readme/* "$dir/" || return 1
    if [[ $recipe == add_subdirectory.cmake ]]; then ln -sfn "$src" "$dir/libsegops" || return 1; fi
    cmake -S "$dir" -B "$dir/build" -DSEGOPS_README_RECIPE="$dir/$recipe" "$@" || return 1
    cmake --build "$dir/build" -j "$jobs" || return 1
    run_readme_programs "$dir/build" || return 1
}

mode_readme_subdirectory() {
    readme_project subdirectory add_subdirectory.cmake
}
mode_readme_fetchcontent() {
    local repo=$work/readme-git
    make_archive || return 1
    rm -rf "$repo" && mkdir -p "$repo" || return 1
    tar -xzf "$work/segops-src.tar.gz" -C "$repo" --strip-components=1 || return 1
    git -C "$repo" init -q -b main &&
        git -C "$repo" add -A &&
        git -C "$repo" -c user.name=run.sh -c user.email=run.sh@localhost \
            commit -q -m "libsegops under test" || return 1
    # Only the URL is redirected: FetchContent clones and checks out GIT_TAG main itself.
    GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="url.$repo.insteadOf" GIT_CONFIG_VALUE_0="$readme_url" \
        readme_project fetchcontent fetchcontent.cmake || return 1
}
mode_readme_install() {
    local copy=$work/readme-src
    if [[ -d $readme_stage ]]; then return 0; fi
    make_archive || return 1
    rm -rf "$copy" && mkdir -p "$copy" || return 1
    tar -xzf "$work/segops-src.tar.gz" -C "$copy" --strip-components=1 || return 1
    # nproc honours OMP_NUM_THREADS: the recipe's -j"$(nproc)" becomes -j$jobs here.
    (cd "$copy" && DESTDIR=$readme_stage OMP_NUM_THREADS=$jobs bash -e "$here/readme/install.sh") ||
        return 1
    local extra
    for extra in tests tools examples bench; do
        if [[ -e $copy/build/$extra ]]; then
            echo "run.sh: the install recipe built $extra/ (it must build the library alone)" >&2
            return 1
        fi
    done
    [[ -f $readme_stage/usr/local/include/segops/segops.h ]] || {
        echo "run.sh: the install recipe did not install into /usr/local" >&2
        return 1
    }
}
mode_readme_find_package() {
    mode_readme_install || return 1
    readme_project find_package find_package.cmake -DCMAKE_PREFIX_PATH="$readme_stage/usr/local"
}
mode_readme_pkgconfig() {
    mode_readme_install || return 1
    local dir=$work/readme-pkgconfig pc
    pc=$(find "$readme_stage/usr/local" -name segops.pc | head -n 1)
    [[ -n $pc ]] || { echo "run.sh: the install recipe installed no segops.pc" >&2; return 1; }
    mkdir -p "$dir" || return 1
    cp "$here/readme/example.c" "$dir/my_server.c" &&
        cp "$here/readme/example.cpp" "$dir/my_cpp_server.cpp" || return 1
    (cd "$dir" && PKG_CONFIG_PATH=$(dirname "$pc") bash -e -x "$here/readme/pkgconfig.sh") ||
        return 1
    run_readme_programs "$dir" || return 1
}

passed=()
failed=()
skipped=()
for mode in "${modes[@]}"; do
    if ! declare -F "mode_$mode" >/dev/null; then
        echo "run.sh: unknown mode '$mode' (known: ${all_modes[*]})" >&2
        exit 2
    fi
    log "$mode"
    if ! "mode_$mode"; then
        failed+=("$mode")
    elif [[ ${skipped[*]:-} != *"$mode"* ]]; then
        passed+=("$mode")
    fi
done

if command -v curl >/dev/null; then
    stats=$(curl -fsS "$api_url/_dev/stats" 2>/dev/null || echo n/a)
    echo
    echo "run.sh: dev server stats: $stats"
    received=$(sed -n 's/.*"events_received":\([0-9]*\).*/\1/p' <<<"$stats")
    if [[ -n $received && $received != "$delivered" ]]; then
        echo "run.sh: consumers reported $delivered delivered events, the server received $received"
        failed+=("server-count")
    fi
fi
echo
echo "run.sh: passed: ${passed[*]:-none}"
echo "run.sh: skipped: ${skipped[*]:-none}"
echo "run.sh: failed: ${failed[*]:-none}"
[[ ${#failed[@]} -eq 0 ]]
