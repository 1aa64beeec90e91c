#!/usr/bin/env bash
# Fails (with file:line) when src/ uses a banned libc function: unbounded string
# writers, non-reentrant or TZ-dependent calls, process-killers (input must never
# be able to end the host program) and raw allocation outside src/alloc.c (the
# counting allocator must see every allocation).
# Usage: tools/check-banned.sh [SRC_DIR]   (default: src/ of this checkout)
set -euo pipefail

src=${1:-"$(cd "$(dirname "$0")/.." && pwd)/src"}

banned=(sprintf vsprintf strcpy strcat strtok gets atoi atol rand gmtime localtime strerror
        assert abort exit)
alloc=(malloc calloc realloc free strdup strndup)

# Comments, string and character literals and #include lines are blanked (newlines
# kept, so line numbers stay right): "free" in a comment or <openssl/rand.h> is fine.
strip() {
    perl -0777 -pe '
        s{ (/\*.*?\*/) | (//[^\n]*) | ("(?:\\.|[^"\\\n])*") | (\x27(?:\\.|[^\x27\\\n])*\x27) }{
            my $m = $&; $m =~ s/[^\n]//g; $m }gsex;
        s/^[ \t]*#[ \t]*include[^\n]*//mg;
    ' "$1"
}

# A bare identifier: not part of a longer one (segops_strerror, fgets, RAND_bytes)
# and not a member (x->free, ops.exit).
pattern() {
    local IFS='|'
    printf '(^|[^A-Za-z0-9_.>])(%s)([^A-Za-z0-9_]|$)' "$*"
}

status=0
shopt -s nullglob
for file in "$src"/*.c "$src"/*.h; do
    words=("${banned[@]}")
    [ "$(basename "$file")" = alloc.c ] || words+=("${alloc[@]}")
    hits=$(strip "$file" | grep -nE "$(pattern "${words[@]}")" || true)
    [ -z "$hits" ] && continue
    status=1
    while IFS= read -r hit; do
        line=${hit%%:*}
        word=$(grep -oE "$(pattern "${words[@]}")" <<<"${hit#*:}" |
               sed -E 's/^[^A-Za-z_]*//; s/[^A-Za-z0-9_]*$//' | sort -u | paste -sd, -)
        printf '%s:%s: banned %s: %s\n' "${file#"$PWD"/}" "$line" "$word" \
            "$(sed -n "${line}p" "$file" | sed -E 's/^[[:space:]]+//')"
    done <<<"$hits"
done

if [ "$status" -ne 0 ]; then
    echo "check-banned: banned functions in $src (see tools/check-banned.sh for why)" >&2
fi
exit "$status"
