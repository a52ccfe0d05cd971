#!/bin/sh
# tests/run.sh — runs each test binary given, shows its output, and adds up
# the "RESULT passed=N failed=N skipped=N" lines into the final summary line.
# A binary that crashes or prints no RESULT line counts as one failure.
passed=0; failed=0; skipped=0
for t in "$@"; do
    echo "== $t"
    out=$("$t" 2>&1); rc=$?
    printf "%s\n" "$out" | grep -v "^RESULT "
    line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $t: exited with status $rc and no RESULT line"
        failed=$((failed + 1)); continue
    fi
    p=$(echo "$line" | sed 's/.*passed=\([0-9]*\).*/\1/')
    f=$(echo "$line" | sed 's/.*failed=\([0-9]*\).*/\1/')
    s=$(echo "$line" | sed 's/.*skipped=\([0-9]*\).*/\1/')
    echo "   $t: $p passed, $f failed, $s skipped"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $t: exit status $rc"; fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
