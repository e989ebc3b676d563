#!/usr/bin/env bash
# make bench's pipeline, end to end, so that it keeps working between the
# sessions that run it: bench/run.sh on this build's programs (BENCH_BUILD,
# the sanitizer build under scripts/test.sh), on a stack of its own
# (BENCH_RUN_DIR), with the floors, the reads, a short saga and the admin's
# writes at 1 s and 4 connections each; then bench.py's report.
# No figure is judged: a sanitizer build beside a test suite measures
# nothing (timings belong to `make bench`). What is checked:
#   - the run exits 0;
#   - every scenario asked for ran, with requests and without errors, and
#     the saga's orders were paid;
#   - the report prints its table, ratios, ceiling, memory and targets, and
#     results.json holds the same: ratios, both ceilings, a target per goal,
#     the RSS of the four programs;
#   - nothing in that run left a sanitizer report: the stack's programs,
#     the two echo servers, and the clients (rpc_bench, nng_floor).
# Needs no running stack (it starts and stops its own).
set -uo pipefail

: "${GATEWAY_URL:=unused}"   # lib.sh: no stack environment needed here
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

BIN=${COMANDA_BIN_DIR:-$IT_REPO/build/bin}
BUILD=${BIN%/bin}
RUN_DIR=${COMANDA_RUN_DIR:-$IT_REPO/.run/dev}-bench
OUT=$BUILD/bench
SCENARIOS="health get_user rpc_get_user rpc_echo nng_echo pgbench get_order create_user_admin"

for p in rpc_bench rpc_echo_server nng_floor; do
    [[ -x $OUT/$p ]] || { fail "$OUT/$p is built" "make $OUT/$p (scripts/test.sh builds it)"; finish; exit 1; }
done

REPORT=$(mktemp "${TMPDIR:-/tmp}/comanda-bench.XXXXXX")
trap 'rm -f "$REPORT"' EXIT
BENCH_BUILD=$BUILD BENCH_RUN_DIR=$RUN_DIR BENCH_DURATION=1 BENCH_CONNECTIONS=4 BENCH_THREADS=2 \
    BENCH_USERS=5 BENCH_ORDERS=3 BENCH_SAGA_ORDERS=2 BENCH_ONLY="$SCENARIOS saga" \
    bench/run.sh >"$REPORT" 2>"$REPORT.err"
rc=$?
check_eq "bench/run.sh exits 0" 0 "$rc"
[[ $rc == 0 ]] || sed 's/^/     | /' "$REPORT.err" | tail -n 30
rm -f "$REPORT.err"

RESULTS=$OUT/results.json
check "results.json written" test -s "$RESULTS"
RES=$(cat "$RESULTS" 2>/dev/null || echo '{}')
for k in $SCENARIOS; do
    check_json "$k ran, with requests and no errors" "$RES" \
        ".scenarios.\"$k\" | .measured == true and .requests > 0 and .error_total == 0"
done
check_json "the saga's 2 orders were paid" "$RES" '.saga.measured == true and .saga.paid == 2'
check_json "the ratios are computed" "$RES" \
    '.ratios | (.gateway_get_user_over_rpc > 0) and (.gateway_get_user_over_pgbench > 0)
     and (.rpc_get_user_over_rpc_echo > 0) and (.rpc_echo_over_nng_echo > 0)'
check_json "both ceilings are computed" "$RES" \
    '.ceilings | (.ceiling_nng.rps > 0) and (.ceiling_lib_rpc.rps > 0) and (.ceiling_nng.over_pgbench > 0)'
check_json "each process's CPU beyond the floors" "$RES" \
    '[.get_user_beyond_floors["gateway", "svc-user", "postgres", "load"] | .get_user_us > 0 and .floor_us > 0] | all'
check_json "a target per goal, each judged" "$RES" \
    '(.targets | length) >= 8 and all(.targets[]; .status == "PASS" or .status == "MISS")'
check_json "the four programs' RSS" "$RES" \
    '[.rss["gateway", "svc-user", "svc-order", "svc-payment"] | .rss_kib > 0] | all'
for heading in "Throughput and latency" "Ratios" "Ceiling of GET /api/users/{id}" "Memory after the run" "Targets"; do
    check "the report prints '$heading'" grep -qF "$heading" "$REPORT"
done
check "the report names the NNG floor" grep -qE '^NNG REQ/REP echo \(no Comanda code\) +[0-9,]+ ' "$REPORT"

SAN_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
for f in "$RUN_DIR"/logs/{gateway,svc-user,svc-order,svc-payment,rpc-echo,nng-echo}.log "$OUT"/raw/{rpc_get_user,rpc_echo,nng_echo}.txt; do
    if [[ ! -f $f ]]; then
        fail "no sanitizer report in ${f#"$IT_REPO"/}" "missing"
    elif grep -qE "$SAN_RE" "$f"; then
        fail "no sanitizer report in ${f#"$IT_REPO"/}" "$(grep -m1 -A20 -E "$SAN_RE" "$f")"
    else
        pass "no sanitizer report in ${f#"$IT_REPO"/}"
    fi
done

finish
