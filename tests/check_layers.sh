#!/bin/sh
# tests/check_layers.sh — every #include "…" in the source folders points down
# the layer order written in docs/ARCHITECTURE.md (its "layer:", "clients:"
# and "allow:" lines), and the folders' include graph has no cycle.
# Run from the repo root. One check per source file, plus the cycle check.
doc=docs/ARCHITECTURE.md
if [ ! -f "$doc" ]; then
    echo "FAIL $doc not found"
    echo "RESULT passed=0 failed=1 skipped=0"
    exit 1
fi
tmp=${TMPDIR:-/tmp}/hubrt_layers.$$
trap 'rm -f "$tmp".*' EXIT
# rank per folder: the bottom "layer:" line is 1, each line above one more
sed -n 's/^ *layer: *//p' "$doc" | awk '{ line[NR] = $0 } END {
    for (i = 1; i <= NR; i++) { n = split(line[i], f, " "); for (j = 1; j <= n; j++) print f[j], NR - i + 1 } }' > "$tmp.rank"
sed -n 's/^ *clients: *//p' "$doc" | tr ' ' '\n' | sed '/^$/d' > "$tmp.clients"
sed -n 's/^ *allow: *\([^ ]*\) *-> *\([^ ]*\).*/\1 \2/p' "$doc" > "$tmp.allow"
if [ ! -s "$tmp.rank" ]; then
    echo "FAIL $doc has no 'layer:' lines"
    echo "RESULT passed=0 failed=1 skipped=0"
    exit 1
fi
: > "$tmp.edges"
passed=0; failed=0
for folder in $(awk '{print $1}' "$tmp.rank"); do
    [ -d "$folder" ] || continue
    for file in $(find "$folder" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' \) | sort); do
        bad=$(awk -v file="$file" -v folder="$folder" -v rankf="$tmp.rank" -v clientsf="$tmp.clients" \
                  -v allowf="$tmp.allow" -v edges="$tmp.edges" '
            BEGIN {
                while ((getline l < rankf) > 0) { split(l, p, " "); rank[p[1]] = p[2] }
                while ((getline l < clientsf) > 0) client[l] = 1
                while ((getline l < allowf) > 0) { split(l, p, " "); allow[p[1] " " p[2]] = 1 }
            }
            /^[ \t]*#[ \t]*include[ \t]*"/ {
                path = $0; sub(/^[^"]*"/, "", path); sub(/".*/, "", path)
                to = index(path, "/") ? substr(path, 1, index(path, "/") - 1) : folder
                if (to == folder) next
                print folder, to >> edges
                why = ""
                if (!(to in rank)) why = to "/ is not a layer"
                else if (client[folder] && to != "include" && !((file " " to) in allow))
                    why = folder "/ uses include/hubrt.h only"
                else if (!client[folder] && rank[to] >= rank[folder])
                    why = to "/ is not below " folder "/"
                if (why != "") printf "  %s:%d: #include \"%s\": %s\n", file, FNR, path, why
            }' "$file")
        if [ -z "$bad" ]; then passed=$((passed + 1)); else echo "FAIL $file"; echo "$bad"; failed=$((failed + 1)); fi
    done
done
# folder cycles: tsort refuses a graph with a loop and names its members
if sort -u "$tmp.edges" | tsort > /dev/null 2> "$tmp.cycle"; then passed=$((passed + 1)); else
    echo "FAIL the folders include each other in a cycle:"; sed 's/^/  /' "$tmp.cycle"; failed=$((failed + 1)); fi
echo "RESULT passed=$passed failed=$failed skipped=0"
[ "$failed" -eq 0 ]
