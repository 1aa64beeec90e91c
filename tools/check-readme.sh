#!/usr/bin/env bash
# Keeps README.md's code blocks honest. The line before each block says what it is:
#   <!-- file: PATH -->   the block is exactly the file PATH, which tests/cmake/run.sh builds
#                         and runs as the README says (PATH relative to the repository)
#   <!-- snippet -->      a fragment of a program, or commands, that does not build alone
# A ```text block is output a program prints, not code: it needs no marker.
# A block with neither, a file block that differs from its file, or a file in
# tests/cmake/readme/ (the recipes' project aside) that no block shows is an error.
# Usage: check-readme.sh [REPOSITORY_ROOT]
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
readme=$root/README.md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Each block's text goes to $tmp/N; the index gets "N LINE KIND [PATH]".
awk -v out="$tmp" '
    !inblock && /^```/ {
        inblock = 1; n++; start = NR; kind = "none"; path = ""
        if (prev ~ /^<!-- file: [^ ]+ -->$/) {
            kind = "file"; path = prev
            sub(/^<!-- file: /, "", path); sub(/ -->$/, "", path)
        } else if (prev == "<!-- snippet -->") {
            kind = "snippet"
        } else if ($0 == "```text") {
            kind = "text"
        }
        block = out "/" n
        printf "" > block
        print n, start, kind, path > (out "/index")
        next
    }
    inblock && /^```$/ { inblock = 0; close(block); prev = $0; next }
    inblock { print > block; next }
    { prev = $0 }
    END { if (inblock) print "unterminated", start > (out "/index") }
' "$readme"

errors=0
error() { echo "check-readme: $*" >&2; errors=$((errors + 1)); }
shown=" "
while read -r n line kind path; do
    case $kind in
    snippet | text) ;;
    file)
        shown+="$path "
        if [[ ! -f $root/$path ]]; then
            error "README.md:$line: the block shows $path, which does not exist"
        elif ! cmp -s "$tmp/$n" "$root/$path"; then
            error "README.md:$line: the block differs from $path:"
            diff -u "$root/$path" "$tmp/$n" --label "$path" --label "README.md:$line" >&2 || true
        fi
        ;;
    *)
        if [[ $n == unterminated ]]; then
            error "README.md:$line: the block is never closed"
        else
            error "README.md:$line: a block needs <!-- file: PATH --> or <!-- snippet --> on the line before"
        fi
        ;;
    esac
done <"$tmp/index"

for file in "$root"/tests/cmake/readme/*; do
    path=${file#"$root"/}
    [[ $path == tests/cmake/readme/CMakeLists.txt ]] && continue
    [[ $shown == *" $path "* ]] || error "no README.md block shows $path"
done

if [[ $errors -gt 0 ]]; then
    echo "check-readme: $errors error(s)" >&2
    exit 1
fi
echo "check-readme: $(wc -l <"$tmp/index") blocks, every file block equal to its file"
