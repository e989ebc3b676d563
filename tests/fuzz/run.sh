#!/usr/bin/env bash
# Runs libFuzzer targets one after the other (make fuzz / make fuzz-smoke).
#
#   tests/fuzz/run.sh SECONDS BIN...
#
# Each BIN (build/fuzz/bin/fuzz_<name>) runs for SECONDS on its seed corpus
# tests/fuzz/corpus/fuzz_<name>/ (read only) plus a working corpus
# build/fuzz/corpus/fuzz_<name>/ (where new inputs go, kept between runs),
# with tests/fuzz/fuzz_<name>.dict when present. A crash, leak, timeout or
# sanitizer report stops that target and leaves its reproducer in
# tests/fuzz/crashes/fuzz_<name>-<kind>-<sha1>; replay it with
#   build/fuzz/bin/fuzz_<name> tests/fuzz/crashes/<file>
# Full logs: build/fuzz/logs/<target>.log. The last line is
# "fuzz: N passed, M failed" (one per target), as scripts/test.sh counts.
#
# Environment: FUZZ_ARGS (extra libFuzzer flags, e.g. -jobs=4 -workers=4).
# Targets run one after the other, on one core each.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
secs=${1:?usage: tests/fuzz/run.sh SECONDS BIN...}
shift
(($#)) || { echo "fuzz: no targets" >&2; exit 2; }

CRASHES=tests/fuzz/crashes
mkdir -p "$CRASHES" build/fuzz/logs
# leaks are findings; stop at the first report of any sanitizer
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

passed=0 failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    seeds=tests/fuzz/corpus/$name
    work=build/fuzz/corpus/$name
    log=build/fuzz/logs/$name.log
    mkdir -p "$work" "$seeds"
    args=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -max_len=8192
        -print_final_stats=1 -artifact_prefix="$CRASHES/$name-")
    [[ -f tests/fuzz/$name.dict ]] && args+=(-dict="tests/fuzz/$name.dict")
    # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
    "$bin" "${args[@]}" ${FUZZ_ARGS:-} "$work" "$seeds" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1)
    if ((rc == 0)); then
        passed=$((passed + 1))
        printf 'ok   %s: %s runs in %ss (%s/s), %s, corpus %s files\n' "$name" "${execs:-?}" "$secs" \
            "${rate:-?}" "${cov:-cov ?}" "$(find "$work" -type f | wc -l)"
    else
        failed=$((failed + 1))
        printf 'FAIL %s: exit %d after %s runs; reproducer: %s\n' "$name" "$rc" "${execs:-?}" \
            "$(sed -n 's/.*Test unit written to //p' "$log" | tail -n1)"
        grep -m1 -A25 -E '==[0-9]+==ERROR|runtime error:|^fuzz_[a-z]+:|Test unit written|libFuzzer: ' "$log" |
            sed 's/^/     | /'
    fi
done
printf 'fuzz: %d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
