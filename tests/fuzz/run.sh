#!/bin/sh
# tests/fuzz/run.sh SECONDS — runs every libFuzzer target built by `make fuzz`
# for SECONDS each (ASan + UBSan + LeakSanitizer), starting from the corpus in
# the tree, every past crash (tests/fuzz/regressions/<target>/) and, when
# ../shared is there, the real files of its kind. A crash, leak, timeout or
# sanitizer report fails the run and prints the reproducer (path and base64)
# so it can be added to tests/fuzz/regressions/<target>/ from the log alone.
# Run from the repo root: make fuzz-run SECONDS=60.
seconds=${1:-60}
build=${HUBRT_BUILD:-build}
shared=${HUBRT_SHARED:-../shared}
fuzz=$build/fuzz
failed=0; ran=0
for bin in "$fuzz"/fuzz_*; do
    [ -x "$bin" ] || continue
    target=${bin##*/fuzz_}
    work=$fuzz/work_$target
    artifacts=$fuzz/artifacts_$target/
    rm -rf "$artifacts"
    mkdir -p "$work" "$artifacts"
    # seeds: the committed corpus and regressions, plus real files of the kind
    seeds=""
    [ -d "tests/fuzz/regressions/$target" ] && seeds="tests/fuzz/regressions/$target"
    [ -d "tests/fuzz/corpus_$target" ] && seeds="$seeds tests/fuzz/corpus_$target"
    [ -d "$fuzz/corpus_$target" ] && seeds="$seeds $fuzz/corpus_$target"
    if [ -d "$shared/models" ]; then
        case $target in
        config) for f in "$shared"/models/*/config.json; do cp -f "$f" "$work/$(basename "$(dirname "$f")").json"; done ;;
        safetensors) cp -f "$shared/models/stories260K/model.safetensors" "$work/stories260K.safetensors" 2>/dev/null ;;
        esac
    fi
    dict=""
    [ -f "tests/fuzz/$target.dict" ] && dict="-dict=tests/fuzz/$target.dict"
    echo "== fuzz_$target for ${seconds}s"
    ran=$((ran + 1))
    # -timeout: one input may take at most 10 s; -rss_limit_mb bounds memory
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
            -print_final_stats=1 -artifact_prefix="$artifacts" $dict "$work" $seeds \
            > "$fuzz/log_$target.txt" 2>&1; then
        failed=$((failed + 1))
        echo "FAIL fuzz_$target: the fuzzer stopped on a finding; its log ends:"
        tail -n 60 "$fuzz/log_$target.txt"
        for a in "$artifacts"*; do
            [ -f "$a" ] || continue
            echo "reproducer $a (base64; add it to tests/fuzz/regressions/$target/):"
            base64 "$a" | head -c 20000; echo
        done
    else
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$fuzz/log_$target.txt" | tr '\n' ' '; echo
    fi
done
if [ "$ran" -eq 0 ]; then echo "FAIL no fuzz targets in $fuzz (run make fuzz first)"; exit 1; fi
echo "$ran fuzz targets, $failed failed"
[ "$failed" -eq 0 ]
