#!/usr/bin/env bash
# Integration: the web dashboard (web/) in a real browser against the live
# stack. tests/ui/*.test.mjs run under node's test runner and drive Debian's
# headless chromium (/usr/bin/chromium, package chromium from scripts/deps.sh)
# with playwright-core (pinned in package.json / package-lock.json, installed
# here with `npm ci` when node_modules does not hold that version). The
# stories: sign up, log in, a card order turning paid, cancel and refund,
# live updates, paging, token refresh (on a 401 and before expiry), log out;
# an admin's health panel, users, shipping, cash payments, paying again;
# paying again after a lost answer and a re-render (one Idempotency-Key per
# attempt, watched on the wire); the method and card token being typed into
# "pay again" surviving the poll's re-renders; an admin refunding a card
# payment, and recording by hand the refund of one the processor holds no
# charge of (NO_PROCESSOR_CHARGE), customers seeing no refund buttons;
# a cancellation, a payment made again and an admin's "shipped" whose page
# refresh right after is answered 503 (playwright route interception) still
# shown as done, with no error, and drawn by the poll once the API answers;
# an order page that could not be drawn (its GET answered 503, or 500)
# offering "Try again", and drawn by itself after a 503 once the API answers.
#
# Needs the stack up (scripts/stack.sh up) serving the UI (the gateway's
# WEB_ROOT, default "web" relative to where it was started: stack.sh run from
# the repo root), node >= 20 with npm, chromium, and psql (the refund story
# makes a card payment with no processor charge with a temporary trigger on
# svc-payment's database, as test_payment_cancel_dead_letter.sh does: the
# API cannot make one).
#
# Output: the runner's report, then "ui: N passed, M failed[, K skipped]"
# (a setup failure counts as one failure). Screenshots (dashboard at desktop
# and phone width, the order form with errors, a paid order, the dialog
# offering to record a refund made by hand) in build/ui/,
# the TAP report in build/ui/results.tap.
#
# Environment: GATEWAY_URL, ADMIN_EMAIL, ADMIN_PASSWORD, COMANDA_PG_PORT,
# PAYMENT_DB_URL (scripts/stack.sh env);
# CHROMIUM (default /usr/bin/chromium); UI_SCREENSHOT_DIR (default build/ui).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

OUT=${UI_SCREENSHOT_DIR:-$PWD/build/ui}
mkdir -p "$OUT"
export UI_SCREENSHOT_DIR=$OUT
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

setup_failed() {
    printf 'FAIL %s\n' "$1"
    shift
    (($#)) && printf '     %s\n' "$@"
    printf 'ui: 0 passed, 1 failed\n'
    exit 1
}

[[ -n ${GATEWAY_URL:-} ]] || setup_failed "no stack environment (scripts/stack.sh up)"
command -v node >/dev/null || setup_failed "node is not installed (Node.js >= 20 with npm)"
command -v npm >/dev/null || setup_failed "npm is not installed"
[[ -x $CHROMIUM ]] || setup_failed "no chromium at $CHROMIUM (scripts/deps.sh installs Debian's chromium)"
command -v psql >/dev/null || setup_failed "psql is not installed (scripts/deps.sh installs it)"
[[ -n ${COMANDA_PG_PORT:-} && -n ${PAYMENT_DB_URL:-} ]] ||
    setup_failed "no COMANDA_PG_PORT or PAYMENT_DB_URL (scripts/stack.sh env)"

# ---- node dependencies, once per lock file -------------------------------------------

want=$(node -e 'console.log(require("./package-lock.json").packages["node_modules/playwright-core"].version)' 2>/dev/null)
have=$(node -e 'console.log(require("./node_modules/playwright-core/package.json").version)' 2>/dev/null || true)
if [[ -z $want || $have != "$want" ]]; then
    printf 'installing node dependencies (npm ci: playwright-core %s)\n' "${want:-?}"
    npm ci --no-audit --no-fund --loglevel=error >"$OUT/npm-ci.log" 2>&1 ||
        setup_failed "npm ci failed (npm registry reachable?)" "$(tail -n 5 "$OUT/npm-ci.log")"
fi

# ---- the gateway serves the app ----------------------------------------------------------

ct=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' --max-time 5 "$GATEWAY_URL/")
[[ $ct == "200 text/html"* ]] ||
    setup_failed "the gateway does not serve the web UI at $GATEWAY_URL/ (got: $ct)" \
        "its WEB_ROOT (default \"web\") is relative to the directory it was started from"

# ---- the browser tests -----------------------------------------------------------------------

tap=$OUT/results.tap
rc=0
node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    tests/ui/ || rc=$?

n_pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -n1)
n_fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -n1)
n_cancel=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$tap" | tail -n1)
n_skip=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$tap" | tail -n1)
if [[ -z $n_pass || -z $n_fail ]]; then
    printf 'FAIL the test runner gave no summary (exit %s)\n' "$rc"
    printf 'ui: %s passed, %s failed\n' "${n_pass:-0}" "$(( ${n_fail:-0} + 1 ))"
    exit 1
fi
n_fail=$((n_fail + ${n_cancel:-0}))
# A runner that failed without a failing test (a crash) still fails the run.
((rc != 0 && n_fail == 0)) && n_fail=1
printf '\nscreenshots: %s\n' "$(cd "$OUT" && ls -- *.png 2>/dev/null | tr '\n' ' ')"
line="$n_pass passed, $n_fail failed"
((${n_skip:-0} > 0)) && line+=", $n_skip skipped"
printf 'ui: %s\n' "$line"
((n_fail == 0))
