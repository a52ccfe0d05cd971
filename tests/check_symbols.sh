#!/bin/sh
# tests/check_symbols.sh — libhubrt.so exports exactly the functions that
# include/hubrt.h declares (HUBRT_API), nothing internal and nothing missing.
# Run from the repo root; $HUBRT_BUILD names the build folder (default build).
lib=${HUBRT_BUILD:-build}/libhubrt.so
tmp=${TMPDIR:-/tmp}/hubrt_symbols.$$
trap 'rm -f "$tmp".*' EXIT
if [ ! -f "$lib" ]; then
    echo "FAIL $lib not found (build it first)"
    echo "RESULT passed=0 failed=1 skipped=0"
    exit 1
fi
# Declared: the name before '(' on every HUBRT_API line of the header.
sed -n 's/^HUBRT_API[^(]*[ *]\(hubrt_[A-Za-z0-9_]*\)(.*/\1/p' include/hubrt.h | sort -u > "$tmp.declared"
# Exported: defined dynamic symbols of the library, sanitizer runtimes aside.
nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^__\(asan\|ubsan\|lsan\|sanitizer\)' | sort -u > "$tmp.exported"
passed=0; failed=0
n=$(wc -l < "$tmp.declared")
if [ "$n" -gt 0 ]; then passed=$((passed + 1)); else echo "FAIL no HUBRT_API declarations found in include/hubrt.h"; failed=$((failed + 1)); fi
extra=$(comm -13 "$tmp.declared" "$tmp.exported")
missing=$(comm -23 "$tmp.declared" "$tmp.exported")
if [ -z "$extra" ]; then passed=$((passed + 1)); else
    echo "FAIL $lib exports symbols hubrt.h does not declare:"; echo "$extra" | sed 's/^/  /'; failed=$((failed + 1)); fi
if [ -z "$missing" ]; then passed=$((passed + 1)); else
    echo "FAIL hubrt.h declares functions $lib does not export:"; echo "$missing" | sed 's/^/  /'; failed=$((failed + 1)); fi
echo "$n public functions declared, $(wc -l < "$tmp.exported") exported"
echo "RESULT passed=$passed failed=$failed skipped=0"
[ "$failed" -eq 0 ]
