#!/usr/bin/env bash
# Integration: every service's admin port (/health, /status, /metrics, 404);
# the event series in /metrics of a fresh svc-order and svc-payment, every
# one there at start-up (failures at 0); a database outage: PostgreSQL
# killed -> svc-user /health answers 503 naming "database" within 2 s, from
# its cache (at once), and its probe program and Kubernetes probes see
# NOT_SERVING (liveness passes, readiness fails); PostgreSQL back -> every
# service healthy again; and CPU pinning (USER_CPUS, GATEWAY_CPUS):
# every thread of the restarted program on the CPU asked for, requests
# served, a bad list or a CPU the machine lacks refused at start (exit 2);
# the gateway reaching svc-user through a host name, looked up or not.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RFC3339='test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")'
declare -A PORT=([user-service]=$USER_ADMIN_PORT [order-service]=$ORDER_ADMIN_PORT
    [payment-service]=$PAYMENT_ADMIN_PORT)
declare -A COUNTERS=(
    [user-service]='(.total_users | type == "number" and . >= 0 and floor == .)'
    [order-service]='(.total_orders | type == "number" and . >= 0 and floor == .)'
    [payment-service]='(.total_payments | type == "number" and . >= 0 and floor == .) and (.total_amount | type == "number" and . >= 0)'
)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_status URL CODE LIMIT_MS: polls every 50 ms until URL answers CODE;
# leaves the last answer in HTTP_STATUS/HTTP_BODY and the time taken in
# WAITED_MS; fails when LIMIT_MS passes first.
wait_status() {
    local start
    start=$(now_ms)
    while :; do
        http GET "$1"
        WAITED_MS=$(($(now_ms) - start))
        [[ $HTTP_STATUS == "$2" ]] && return 0
        ((WAITED_MS > $3)) && return 1
        sleep 0.05
    done
}

# ---- the admin ports while everything is up -------------------------------------

for svc in user-service order-service payment-service; do
    base=http://127.0.0.1:${PORT[$svc]}
    # The probes may still be on their first round right after `up`.
    wait_status "$base/health" 200 5000
    check_eq "$svc /health is 200" 200 "$HTTP_STATUS"
    check_json "$svc /health body" "$HTTP_BODY" \
        ".status == \"healthy\" and .service == \"$svc\" and (.timestamp | $RFC3339) and (has(\"down\") | not)"
    http GET "$base/status"
    check_eq "$svc /status is 200" 200 "$HTTP_STATUS"
    check_json "$svc /status has the seed shape" "$HTTP_BODY" \
        ".service == \"$svc\" and .status == \"operational\" and (.timestamp | $RFC3339) and ${COUNTERS[$svc]}"
    http GET "$base/metrics"
    check_eq "$svc /metrics is 200" 200 "$HTTP_STATUS"
    check_match "$svc /metrics: database up" 'comanda_dependency_up\{dependency="database"\} 1' "$HTTP_BODY"
    check_match "$svc /metrics: broker up" 'comanda_dependency_up\{dependency="broker"\} 1' "$HTTP_BODY"
    http GET "$base/nope"
    check_eq "$svc unknown path is 404" 404 "$HTTP_STATUS"
    check_json "$svc 404 is the JSON error envelope" "$HTTP_BODY" '.success == false and .code == "NOT_FOUND"'
    http POST "$base/health"
    check_eq "$svc POST /health is 405" 405 "$HTTP_STATUS"
done

# ---- the event series, exported from start-up ----------------------------------
# Each series of the event pipeline that an operator alerts on is in /metrics
# from the start, at 0, for every label known in advance (docs/OPERATIONS.md):
# a series that appears only with its first event makes rate() and increase()
# miss that event, and an alert on a series that is not there never fires.
# Checked on a fresh process of each service that publishes and consumes,
# scraped as soon as it is healthy; the two gauges are computed at each
# scrape.
declare -A CONSUMES=([order-service]="payment.completed payment.failed payment.refunded"
    [payment-service]="order.created order.cancelled")
declare -A PUBLISHES=([order-service]="order.created order.cancelled"
    [payment-service]="payment.completed payment.failed payment.refunded")
for svc in order-service payment-service; do
    prog=svc-${svc%-service}
    stack stop-svc "$prog" >/dev/null 2>&1
    stack start-svc "$prog" >/dev/null 2>&1
    # the gauges need their dependencies seen up: the probes' first round
    wait_status "http://127.0.0.1:${PORT[$svc]}/health" 200 5000
    metrics=$(curl -s --max-time 5 "http://127.0.0.1:${PORT[$svc]}/metrics")
    missing=()
    series=(comanda_events_publish_failures_total comanda_outbox_backlog comanda_dead_letters)
    for t in ${PUBLISHES[$svc]}; do series+=("comanda_events_published_total{type=\"$t\"}"); done
    for t in ${CONSUMES[$svc]}; do
        for o in ack retry reject wait; do
            series+=("comanda_events_consumed_total{type=\"$t\",outcome=\"$o\"}")
        done
    done
    for m in "${series[@]}"; do
        awk -v m="$m" '$1 == m { found = 1 } END { exit !found }' <<<"$metrics" || missing+=("$m")
    done
    check_eq "$svc /metrics at start-up: all ${#series[@]} event series (failures, published and consumed by type, backlog, dead letters)" \
        "" "${missing[*]}"
    check_match "$svc /metrics at start-up: no publish failure" \
        '^comanda_events_publish_failures_total 0$' "$(grep '^comanda_events_publish_failures_total ' <<<"$metrics")"
done

# ---- PostgreSQL down, then back -------------------------------------------------

user=http://127.0.0.1:${PORT[user-service]}
trap 'stack start-svc postgres >/dev/null 2>&1' EXIT
stack kill-svc postgres >/dev/null 2>&1
if wait_status "$user/health" 503 2000; then
    pass "svc-user /health 503 within 2 s of PostgreSQL dying (${WAITED_MS} ms)"
else
    fail "svc-user /health 503 within 2 s of PostgreSQL dying" "still HTTP $HTTP_STATUS after ${WAITED_MS} ms"
fi
check_json "svc-user /health names the database" "$HTTP_BODY" \
    '.status == "unhealthy" and .service == "user-service" and (.down | index("database") != null)'
start=$(now_ms)
http GET "$user/health"
elapsed=$(($(now_ms) - start))
check_match "svc-user /health answers from its cache while down (${elapsed} ms)" '^[0-9]{1,3}$' "$((elapsed < 200 ? elapsed : 1000))"
http GET "$user/status"
check_eq "svc-user /status is 503 while down" 503 "$HTTP_STATUS"
check_json "svc-user /status says degraded" "$HTTP_BODY" \
    '.status == "degraded" and (.down | index("database") != null) and (has("total_users") | not)'
# comanda-probe, the services' Kubernetes probe, says NOT_SERVING (exit 4)
# and what is down; the liveness command of deploy/k8s/svc-user.yaml passes on
# it (a database outage must not restart every replica), its readiness
# command does not (deploy/k8s/README.md). Both are run as the kubelet runs
# them, with the stack's address for the pod's.
probe_rc=0
probe_out=$("$COMANDA_BIN_DIR/comanda-probe" -t 2000 "$USER_RPC_URL" 2>&1) || probe_rc=$?
check_eq "svc-user down: comanda-probe exits 4 (NOT_SERVING)" 4 "$probe_rc"
check "svc-user down: comanda-probe names the database" grep -q database <<<"$probe_out"
# k8s_probe_rc livenessProbe|readinessProbe: the exit status of svc-user's
# probe command ("none" when the manifest has none)
k8s_probe_rc() {
    local -a argv
    mapfile -d '' argv < <(/usr/bin/python3 - "$IT_REPO/deploy/k8s/svc-user.yaml" "$1" "$USER_RPC_URL" <<'PY'
import sys, yaml
d = next(x for x in yaml.safe_load_all(open(sys.argv[1])) if x and x["kind"] == "Deployment")
argv = d["spec"]["template"]["spec"]["containers"][0].get(sys.argv[2], {}).get("exec", {}).get("command", [])
sys.stdout.write("".join(a.replace("tcp://127.0.0.1:6001", sys.argv[3]) + "\0" for a in argv))
PY
    )
    ((${#argv[@]})) || { echo none; return; }
    PATH="$COMANDA_BIN_DIR:$PATH" "${argv[@]}" >/dev/null 2>&1
    echo $?
}
check_eq "svc-user down: its k8s livenessProbe passes (no restart for a database outage)" 0 "$(k8s_probe_rc livenessProbe)"
check_match "svc-user down: its k8s readinessProbe fails (out of the Service)" '^[1-9][0-9]*$' "$(k8s_probe_rc readinessProbe)"

stack start-svc postgres >/dev/null 2>&1
trap - EXIT
if wait_status "$user/health" 200 5000; then
    pass "svc-user /health 200 again after PostgreSQL restarts (${WAITED_MS} ms)"
else
    fail "svc-user /health 200 again after PostgreSQL restarts" "HTTP $HTTP_STATUS after ${WAITED_MS} ms: $HTTP_BODY"
fi
http GET "$user/status"
check_json "svc-user /status operational again" "$HTTP_BODY" ".status == \"operational\" and ${COUNTERS[user-service]}"
# svc-order's FerretDB lives on the same PostgreSQL: it comes back too.
for svc in order-service payment-service; do
    if wait_status "http://127.0.0.1:${PORT[$svc]}/health" 200 15000; then
        pass "$svc healthy again after PostgreSQL restarts (${WAITED_MS} ms)"
    else
        fail "$svc healthy again after PostgreSQL restarts" "HTTP $HTTP_STATUS: $HTTP_BODY"
    fi
done

# ---- CPU pinning ------------------------------------------------------------------

# thread_cpus PID: each thread's allowed CPUs, one line per distinct list
# ("0 x17": 17 threads on CPU 0).
thread_cpus() {
    local t
    for t in /proc/"$1"/task/*/status; do
        sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$t"
    done | sort | uniq -c | awk '{printf "%s x%s\n", $2, $1}'
}
all_cpus=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)
cpu=${all_cpus%%[-,]*}   # the first CPU this machine lets us use
# the stack's environment (lib.sh loads it) names both, the programs' absolute
: "${COMANDA_RUN_DIR:?no stack environment (scripts/stack.sh up)}" "${COMANDA_BIN_DIR:?no stack environment}"
trap 'stack stop-svc svc-user >/dev/null 2>&1; stack start-svc svc-user >/dev/null 2>&1
      stack stop-svc gateway >/dev/null 2>&1; stack start-svc gateway >/dev/null 2>&1' EXIT

for prog in svc-user gateway; do
    var=USER_CPUS
    [[ $prog == gateway ]] && var=GATEWAY_CPUS
    stack stop-svc "$prog" >/dev/null 2>&1
    (export "$var=$cpu"; stack start-svc "$prog" >/dev/null 2>&1)
    pid=$(cat "$COMANDA_RUN_DIR/pids/$prog.pid" 2>/dev/null)
    threads=$(thread_cpus "$pid")
    check_match "$var=$cpu: every thread of $prog on CPU $cpu ($(tr '\n' ' ' <<<"$threads" | sed 's/ $//'))" \
        "^$cpu x[0-9]+\$" "$threads"
    check "$var=$cpu: $prog logs what it was pinned to" \
        grep -qF "pinned to CPUs $cpu ($var)" "$COMANDA_RUN_DIR/logs/$prog.log"
    if wait_status "$GATEWAY_URL/ready" 200 10000; then
        pass "$var=$cpu: the API is ready with $prog pinned"
    else
        fail "$var=$cpu: the API is ready with $prog pinned" "HTTP $HTTP_STATUS: $HTTP_BODY"
    fi
    stack stop-svc "$prog" >/dev/null 2>&1
    stack start-svc "$prog" >/dev/null 2>&1
    pid=$(cat "$COMANDA_RUN_DIR/pids/$prog.pid" 2>/dev/null)
    check_eq "$prog started without $var runs on every CPU again" "$all_cpus x" "$(thread_cpus "$pid" | sed 's/[0-9]*$//' | sort -u)"

    # refused before the program opens anything: it would otherwise find its
    # ports taken by the copy that is running
    for bad in "0-x|is not a CPU range" "1023|cannot run there"; do
        out=$(env "$var=${bad%%|*}" timeout 10 "$COMANDA_BIN_DIR/$prog" 2>&1)
        rc=$?
        check_eq "$var=${bad%%|*}: $prog exits with status 2" 2 "$rc"
        check "$var=${bad%%|*}: $prog says why (${bad#*|})" grep -qF -- "${bad#*|}" <<<"$out"
    done
done
trap - EXIT
if wait_status "$GATEWAY_URL/ready" 200 10000; then
    pass "the API is ready again after the pinning checks"
else
    fail "the API is ready again after the pinning checks" "HTTP $HTTP_STATUS: $HTTP_BODY"
fi

# ---- RPC URLs by host name (RPC_RESOLVE_MS) -------------------------------------
# A second gateway, on a port of its own, reaches svc-user through a name
# instead of 127.0.0.1: looked up (every address dialled as a replica of its
# own), or with RPC_RESOLVE_MS=0 dialled as it is. Several addresses and
# their changes are in the unit tests (tests/unit/lib/test_rpc.c), where the
# lookup can be steered.
user_port=${USER_RPC_URL##*:}
gw2_port=$(free_ports 1)
gw2_log=$COMANDA_RUN_DIR/logs/gateway-by-name.log
gw2_pid=
trap '[[ -n $gw2_pid ]] && kill "$gw2_pid" 2>/dev/null' EXIT
for resolve in 200 0; do
    name="USER_RPC_URL=tcp://localhost:$user_port, RPC_RESOLVE_MS=$resolve"
    GATEWAY_PORT=$gw2_port USER_RPC_URL="tcp://localhost:$user_port" RPC_RESOLVE_MS=$resolve \
        "$COMANDA_BIN_DIR/gateway" 2>"$gw2_log" &
    gw2_pid=$!
    if wait_status "http://127.0.0.1:$gw2_port/ready" 200 10000; then
        pass "$name: a gateway reaches svc-user through the name"
    else
        fail "$name: a gateway reaches svc-user through the name" "HTTP $HTTP_STATUS: $HTTP_BODY"
    fi
    kill "$gw2_pid" 2>/dev/null
    wait "$gw2_pid" 2>/dev/null
    gw2_pid=
    if ((resolve > 0)); then
        check "$name: the gateway logs the name's addresses, each dialled" \
            grep -qF "rpc: localhost:$user_port resolves to 1 address (1 new, 0 gone); dialling each" "$gw2_log"
    else
        check_not "$name: the name is not looked up (nothing logged of it)" grep -qF "rpc: localhost:" "$gw2_log"
    fi
done
trap - EXIT

finish
