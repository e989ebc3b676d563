#!/usr/bin/env bash
# Integration: a service that dies is seen by the gateway at once, and comes
# back without a gateway restart (issue "Foundation", done-when). For each of
# svc-user, svc-order, svc-payment: kill -9; within 2 s /status calls it
# "offline" and /ready answers 503 naming it; start it again; /status calls
# it "online" and /ready answers 200 again, the gateway untouched throughout.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh

: "${GATEWAY_URL:?no stack environment (scripts/stack.sh up)}"
gateway_pid=$(cat "$COMANDA_RUN_DIR/pids/gateway.pid")
trap 'for s in svc-user svc-order svc-payment; do stack start-svc "$s" >/dev/null 2>&1; done' EXIT

# state NAME: the service's word in the gateway's /status.
state() { curl -s --max-time 3 "$GATEWAY_URL/status" | jq -r --arg s "$1" '.services[$s]'; }
is_state() { [[ $(state "$1") == "$2" ]]; }
ready_is() { [[ $(http_status "$GATEWAY_URL/ready") == "$1" ]]; }
ready_names() { curl -s --max-time 3 "$GATEWAY_URL/ready" | grep -q "$1"; }

PROBE=${COMANDA_BIN_DIR:-build/bin}/comanda-probe
check "every service online to begin with" wait_until 10 ready_is 200
# comanda-probe, as compose and Kubernetes use it: 0 serving, 2 no connection
for url in "$USER_RPC_URL" "$ORDER_RPC_URL" "$PAYMENT_RPC_URL"; do
    check "comanda-probe $url: SERVING (exit 0)" "$PROBE" -t 2000 "$url"
done
rc=0
"$PROBE" -t 300 tcp://127.0.0.1:1 >/dev/null 2>&1 || rc=$?
check_eq "comanda-probe of nothing: connect failure (exit 2)" 2 "$rc"
rc=0
"$PROBE" >/dev/null 2>&1 || rc=$?
check_eq "comanda-probe without an address: usage (exit 1)" 1 "$rc"
for pair in svc-user:user-service svc-order:order-service svc-payment:payment-service; do
    prog=${pair%%:*} name=${pair#*:}
    stack kill-svc "$prog" >/dev/null 2>&1
    check "$prog killed: /status says offline within 2 s" wait_until 2 is_state "$name" offline
    check "$prog killed: /ready is 503" ready_is 503
    check "$prog killed: /ready names $name" ready_names "$name"
    stack start-svc "$prog" >/dev/null 2>&1
    check "$prog restarted: /status says online again" wait_until 10 is_state "$name" online
    check "$prog restarted: /ready is 200 again" wait_until 10 ready_is 200
done
check_eq "the gateway was never restarted" "$gateway_pid" "$(cat "$COMANDA_RUN_DIR/pids/gateway.pid")"
check "and is still the same process" kill -0 "$gateway_pid"

finish
