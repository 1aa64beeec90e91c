#!/usr/bin/env bash
# Fails when libsegops.a defines a global symbol outside the segops_ namespace.
# A static archive puts every non-static symbol into the host program, so an
# unprefixed helper can clash with the host's own (STYLE.md, "Naming").
# Usage: tools/check-symbols.sh path/to/libsegops.a
set -euo pipefail

lib=${1:?usage: check-symbols.sh path/to/libsegops.a}
[ -f "$lib" ] || { echo "check-symbols: no such archive: $lib" >&2; exit 2; }

# --defined-only -g: what the archive exports (undefined refs to libc/curl are fine).
# Lines are "member.o:" headers, blanks and "addr type name"; keep the names.
symbols=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
if [ -z "$symbols" ]; then
    echo "check-symbols: no global symbols in $lib (wrong file?)" >&2
    exit 2
fi

offenders=$(grep -v '^segops_' <<<"$symbols" || true)
if [ -n "$offenders" ]; then
    echo "check-symbols: global symbols in $lib without the segops_ prefix:" >&2
    # Name the object file too, so the fix is one step away.
    nm -g --defined-only -A "$lib" | awk 'NF == 3 && $3 !~ /^segops_/ { print "  " $1 " " $3 }' >&2
    exit 1
fi
echo "check-symbols: $(wc -l <<<"$symbols") global symbols, all segops_-prefixed"
