#!/usr/bin/env bash
# Fails when the files under src/ include each other in a circle, printing every
# circle with the #include lines that make it; warns (without failing) about
# files longer than 400 lines. A .c file and its same-named .h are one module, so
# "client.c includes deliver.h, which includes client.h" is the circle
# client -> deliver -> client. Only `#include "..."` of files in src/ counts.
# The first internal header (common.h), which every .c includes by rule
# (STYLE.md), does not count as a dependency of a .c file: otherwise alloc.c ->
# common.h -> alloc.h would be a circle that rule makes. Headers that include
# it still count.
# Usage: tools/check-includes.sh [SRC_DIR]   (default: src/ of this checkout)
set -euo pipefail

src=${1:-"$(cd "$(dirname "$0")/.." && pwd)/src"}
max_lines=400
max_cycles=100 # printed at most; a tangle that big needs no full list
first_header=common.h

shopt -s nullglob
files=("$src"/*.c "$src"/*.h)
if [ ${#files[@]} -eq 0 ]; then
    echo "check-includes: no .c or .h files in $src" >&2
    exit 2
fi

for file in "${files[@]}"; do
    lines=$(wc -l <"$file")
    if [ "$lines" -gt "$max_lines" ]; then
        echo "check-includes: warning: ${file##*/} has $lines lines (keep files under about $max_lines)"
    fi
done

# One line per include between two modules: FROM-MODULE TO-MODULE FILE INCLUDED-FILE.
edges() {
    awk '
        FNR == 1 {
            file = FILENAME; sub(/.*\//, "", file)
            module = file; sub(/\.[ch]$/, "", module)
        }
        /^[ \t]*#[ \t]*include[ \t]*"/ {
            target = $0; sub(/^[^"]*"/, "", target); sub(/".*/, "", target)
            print module, target, file
        }
    ' "${files[@]}" |
        awk -v known="$(printf '%s\n' "${files[@]##*/}")" -v first="$first_header" '
            BEGIN { n = split(known, list, "\n"); for (i = 1; i <= n; i++) in_src[list[i]] = 1 }
            $2 == first && $3 ~ /\.c$/ { next }
            in_src[$2] {
                to = $2; sub(/\.[ch]$/, "", to)
                if (to != $1) print $1, to, $3, $2
            }
        ' | sort -u
}

# Elementary circles, each found once from its first module (in order of first
# appearance in the sorted edge list): a depth-first walk that only enters
# modules after the start, not already on the path, that lead back to the start.
edges | awk -v max_cycles="$max_cycles" '
    function node(name) {
        if (!(name in id)) { id[name] = ++count; label[count] = name }
        return id[name]
    }
    {
        a = node($1); b = node($2)
        if ((a, b) in edge) {
            why[a, b] = why[a, b] "; " $3 " includes " $4
        } else {
            edge[a, b] = 1; out[a, ++degree[a]] = b; into[b, ++in_degree[b]] = a
            why[a, b] = $3 " includes " $4
        }
    }
    function report(   i, line, from, to) {
        line = label[path[1]]
        for (i = 2; i <= depth; i++) line = line " -> " label[path[i]]
        print "check-includes: include cycle: " line " -> " label[start]
        for (i = 1; i <= depth; i++) {
            from = path[i]; to = (i < depth) ? path[i + 1] : start
            print "    " why[from, to]
        }
        found++
    }
    function walk(v,   i, w) {
        on_path[v] = 1; path[++depth] = v
        for (i = 1; i <= degree[v] && found < max_cycles; i++) {
            w = out[v, i]
            if (w == start) report()
            else if (w > start && back[w] && !on_path[w]) walk(w)
        }
        on_path[v] = 0; depth--
    }
    # back[v]: v (after start in the order) leads back to start; the walk enters
    # no other module, so parts of the graph without a circle cost nothing.
    function mark_back(   queue, head, tail, v, i, u) {
        split("", back)
        head = tail = 1; queue[1] = start; back[start] = 1
        while (head <= tail) {
            v = queue[head++]
            for (i = 1; i <= in_degree[v]; i++) {
                u = into[v, i]
                if (u > start && !back[u]) { back[u] = 1; queue[++tail] = u }
            }
        }
    }
    END {
        for (start = 1; start <= count && found < max_cycles; start++) { mark_back(); walk(start) }
        if (found >= max_cycles) print "check-includes: stopped after " max_cycles " cycles"
        if (found) {
            print "check-includes: modules under src/ include each other in a circle; " \
                  "make the dependency one-way (a lower module calls up through a function " \
                  "pointer the higher one registers)"
            exit 1
        }
        print "check-includes: " count " modules, no include cycle"
    }
'
