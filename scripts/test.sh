#!/usr/bin/env bash
# The whole test suite (make test): installs what is missing, checks gen/,
# builds everything with ASan+UBSan, runs the unit tests, starts a private
# stack in .run/test (free ports, so it can run beside a developer's
# `make run`), runs every executable tests/integration/*.sh against it, stops
# it, and looks for sanitizer reports in the programs' logs.
#
# Every step's "N passed, M failed[, K skipped]" line is added up; the very
# last line is the total, "N passed, M failed" and ", K skipped" when a check
# was skipped (a skip is neither, and must not vanish from the total). Exit
# status: 0 only when nothing failed
# (a step that fails without a count of its own counts as one failure).
#
# Full outputs: .run/test-output/<step>.log; the stack's logs: .run/test/logs/.
# Environment: COMANDA_TEST_TIMEOUT (seconds per integration script, default
# 600), JOBS (make -j, default: number of CPUs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
JOBS=${JOBS:-$(nproc)}
OUT=$REPO/.run/test-output   # each step's full output
rm -rf "$OUT"
mkdir -p "$OUT"

# A developer's shell may hold another stack's settings (after
# `eval "$(scripts/stack.sh env)"`): the test stack chooses its own.
unset GATEWAY_BIND GATEWAY_PORT GATEWAY_URL USER_ADMIN_PORT ORDER_ADMIN_PORT PAYMENT_ADMIN_PORT \
    USER_RPC_LISTEN ORDER_RPC_LISTEN PAYMENT_RPC_LISTEN USER_RPC_URL ORDER_RPC_URL PAYMENT_RPC_URL \
    USER_DB_URL PAYMENT_DB_URL ORDER_MONGO_URL AMQP_URL JWT_SECRET \
    COMANDA_PG_PORT COMANDA_FERRET_PORT COMANDA_AMQP_PORT COMANDA_EPMD_PORT \
    COMANDA_RABBIT_DIST_PORT COMANDA_RABBIT_CTL_PORT_MIN COMANDA_STACK_ID

export COMANDA_RUN_DIR=$REPO/.run/test
export COMANDA_BIN_DIR=$REPO/build/san/bin
export COMANDA_PG_FAST=1
export COMANDA_PORTS=random

# Sanitizers: stop at the first error, with stacks; leaks reported at exit
# (so only by programs that exit: down sends SIGTERM, not SIGKILL).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
if [[ -z ${LSAN_OPTIONS:-} && -f $REPO/tests/lsan.supp ]]; then
    export LSAN_OPTIONS=suppressions=$REPO/tests/lsan.supp:print_suppressions=0
fi

PASSED=0
FAILED=0
SKIPPED=0
STEP_FAILURES=()
FAILED_STEP_LOGS=()

# Adds up the "N passed, M failed" lines of file $1 (an optional "word: "
# before, ", K skipped" after); sets COUNTED_FAILURES to the failures it saw.
count() {
    local line n_pass n_fail n_skip counted=0
    local re='^([A-Za-z0-9_.-]+: )?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?[[:space:]]*$'
    while IFS= read -r line; do
        if [[ $line =~ $re ]]; then
            n_pass=${BASH_REMATCH[2]} n_fail=${BASH_REMATCH[3]} n_skip=${BASH_REMATCH[5]:-0}
            PASSED=$((PASSED + n_pass))
            FAILED=$((FAILED + n_fail))
            SKIPPED=$((SKIPPED + n_skip))
            counted=$((counted + n_fail))
        fi
    done <"$1"
    COUNTED_FAILURES=$counted
}

# step NAME CMD...: runs CMD with its output shown and saved, adds up its
# counts; a failed exit with no failure counted is one failure.
# QUIET=1 step ...: output only saved, and its end shown if CMD fails.
step() {
    local name=$1 rc=0
    shift
    printf '\n==> %s\n' "$name"
    if [[ ${QUIET:-0} == 1 ]]; then
        "$@" >"$OUT/$name.log" 2>&1 || rc=$?
        ((rc == 0)) || tail -n 80 "$OUT/$name.log"
    else
        "$@" 2>&1 | tee "$OUT/$name.log" || rc=${PIPESTATUS[0]}
    fi
    count "$OUT/$name.log"
    if ((rc != 0)); then
        STEP_FAILURES+=("$name (exit $rc)")
        FAILED_STEP_LOGS+=("$OUT/$name.log")
        ((COUNTED_FAILURES > 0)) || FAILED=$((FAILED + 1))
    fi
    return "$rc"
}

STACK_STARTED=0
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if ((STACK_STARTED)); then
        printf '\n==> stopping the test stack\n'
        scripts/stack.sh down || true
        sanitizer_reports || true
    fi
    # Whoever reads only the end of the output (CI keeps the tail) still
    # sees why each step failed: its last lines, without info log lines.
    local log
    for log in "${FAILED_STEP_LOGS[@]}"; do
        printf '\n---- the end of %s:\n' "${log#"$REPO"/}"
        grep -v '"level":"info"' "$log" | tail -n 25 | sed 's/^/   | /'
    done
    printf '\n'
    if ((${#STEP_FAILURES[@]})); then
        printf 'failed steps: %s\n' "${STEP_FAILURES[*]}"
    fi
    # Something went wrong that no count shows: still report a failure.
    if ((rc != 0 || ${#STEP_FAILURES[@]} > 0)) && ((FAILED == 0)); then
        FAILED=1
    fi
    if ((SKIPPED)); then
        printf '%s passed, %s failed, %s skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
    else
        printf '%s passed, %s failed\n' "$PASSED" "$FAILED"
    fi
    ((FAILED == 0)) && exit 0
    exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

# Sanitizer reports in the programs' logs (written at exit, so after down)
# count as one failure per program.
sanitizer_reports() {
    local f name
    for f in "$COMANDA_RUN_DIR"/logs/{svc-user,svc-order,svc-payment,gateway}.log; do
        [[ -f $f ]] || continue
        name=$(basename "$f" .log)
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
            printf '\nFAIL sanitizer report in %s:\n' "${f#"$REPO"/}"
            grep -m1 -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | sed 's/^/     | /'
            FAILED=$((FAILED + 1))
            STEP_FAILURES+=("sanitizers ($name)")
        else
            PASSED=$((PASSED + 1))
            printf 'ok   no sanitizer report from %s\n' "$name"
        fi
    done
}

# ---- build and unit tests ------------------------------------------------------------

step deps bash -c 'scripts/deps.sh --check 2>/dev/null || scripts/deps.sh'
step check-gen make --no-print-directory check-gen
# Every C program of the integration scripts (make live: all of
# tests/integration/*_live.c) and the benchmark's own programs too, so that a
# change that breaks them shows here and not in the middle of the suite or
# at the next `make bench`.
QUIET=1 step build make --no-print-directory -j"$JOBS" SAN=1 all build/san/tests/unit live build/san/bench/rpc_bench \
    build/san/bench/rpc_echo_server build/san/bench/nng_floor
# A hang (a close race inside NNG was one) fails the step after 10 minutes
# instead of holding CI to its own limit; the whole suite takes ~4.
step unit timeout -k 10 600 build/san/tests/unit || true   # go on to the integration tests
step docs scripts/check-docs.sh || true
QUIET=1 step fuzz-smoke make --no-print-directory -j"$JOBS" fuzz-smoke || true   # 10 s per libFuzzer target

# ---- integration tests against a private stack -----------------------------------------

scripts/stack.sh reset >/dev/null 2>&1 || true   # a fresh stack every run
STACK_STARTED=1
step stack-up scripts/stack.sh up
eval "$(scripts/stack.sh env)"

shopt -s nullglob
for t in tests/integration/*.sh; do
    [[ -x $t && $(basename "$t") != lib.sh ]] || continue
    step "$(basename "$t" .sh)" timeout --kill-after=10 "${COMANDA_TEST_TIMEOUT:-600}" "$t" || true
    # A script that killed or stopped something and did not bring it back
    # must not break the next one.
    if ! scripts/stack.sh status >/dev/null 2>&1; then
        step "restack-after-$(basename "$t" .sh)" scripts/stack.sh up || true
    fi
    # A process restarted at the very end of a script may still be
    # connecting: the next script starts only once every service is SERVING.
    for _ in $(seq 1 300); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$GATEWAY_URL/ready") == 200 ]] && break
        sleep 0.1
    done
done
