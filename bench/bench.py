#!/usr/bin/env python3
"""The JSON side of `make bench` (bench/run.sh drives it; standard library only).

    bench.py login URL EMAIL PASSWORD          print "ID TOKEN" of that user
    bench.py seed URL TOKEN USERS ORDERS OUT   create users and cash orders through
                                               the public API; write their ids to OUT
    bench.py saga URL TOKEN COUNT TIMEOUT OUT  order -> paid latency (credit_card, tok_visa)
    bench.py pgbench STDOUT LOGPREFIX OUT      pgbench's output and -l logs -> JSON
    bench.py snap PIDS_DIR OUT                 CPU time and RSS of every process, each
                                               tagged with its stack component
    bench.py cpu SNAP_BEFORE SNAP_AFTER OUT    CPU seconds per component in between
    bench.py rss SNAP OUT                      RSS per component from a snapshot
    bench.py settle PIDS_DIR MAX_S             wait until the stack's CPU use is near zero
    bench.py drain PGPORT EXPECTED MAX_S OUT   wait until svc-payment has EXPECTED payments
    bench.py soak DIR OUT                      the soak's rounds (N.snap.json, N.KEY.json)
                                               -> RSS per program per round, errors
    bench.py report DIR OUT                    the table, ratios, targets -> stdout and OUT

Every scenario's raw result is a JSON file in DIR (see run.sh); `report` reads
them all, so it can be re-run on a finished run's directory.
"""
import glob
import http.client
import json
import math
import os
import sys
import time
import urllib.parse

# ---- HTTP -------------------------------------------------------------------


class Api:
    """A keep-alive JSON client of the gateway."""

    def __init__(self, url, token=None):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.token = token
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.conn.request(method, path, data, h)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"raw": raw[:200].decode(errors="replace")}
        return r.status, doc


def die(msg):
    print("bench: error: " + msg, file=sys.stderr)
    sys.exit(1)


def write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pct(sorted_vals, p):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return None
    rank = max(1, min(len(sorted_vals), math.ceil(p / 100.0 * len(sorted_vals))))
    return sorted_vals[rank - 1]


def order_id(doc):
    o = doc.get("order") or {}
    return o.get("_id") or o.get("id")


# ---- login, seed --------------------------------------------------------------


def cmd_login(url, email, password):
    st, doc = Api(url).call("POST", "/api/auth/login", {"email": email, "password": password})
    if st != 200 or not doc.get("token"):
        die(f"login as {email}: HTTP {st} {doc}")
    print(doc["user"]["id"], doc["token"])


def cmd_seed(url, token, n_users, n_orders, out):
    api = Api(url, token)
    run = "%x" % int(time.time() * 1000)
    users, orders, orders_error = [], [], None
    for i in range(int(n_users)):
        st, doc = api.call("POST", "/api/users",
                           {"name": f"Seed user {i}", "email": f"seed-{run}-{i}@example.com"},
                           {"Idempotency-Key": f"seed-user-{run}-{i}"})
        if st != 201:
            die(f"seed: POST /api/users: HTTP {st} {doc}")
        users.append(doc["user"]["id"])
    for i in range(int(n_orders)):
        st, doc = api.call("POST", "/api/orders",
                           {"items": [{"product": f"Seed item {i}", "quantity": 1 + i % 3, "price": 12.5}],
                            "payment_method": "cash"},
                           {"Idempotency-Key": f"seed-order-{run}-{i}"})
        if st != 201 or not order_id(doc):
            # The order routes may not be served yet: the order scenarios are
            # then reported as not measured, not as a broken run.
            orders_error = f"POST /api/orders answered HTTP {st}: {doc.get('error') or doc}"
            orders = []
            break
        orders.append(order_id(doc))
    if orders:
        st, doc = api.call("GET", "/api/orders/" + urllib.parse.quote(str(orders[0])))
        if st != 200:
            orders_error = f"GET /api/orders/{{id}} answered HTTP {st}: {doc.get('error') or doc}"
            orders = []
    write_json(out, {"users": users, "orders": orders, "orders_error": orders_error})
    print(f"seed: {len(users)} users, {len(orders)} orders" +
          (f" (orders not measured: {orders_error})" if orders_error else ""), file=sys.stderr)


# ---- saga --------------------------------------------------------------------


def cmd_saga(url, token, count, timeout_s, out):
    """Creates COUNT credit-card orders one after another and times each from
    just before its POST to the first GET that shows status "paid" (polled every
    5 ms on a kept-alive connection, so a figure is up to ~5 ms late)."""
    count, timeout_s = int(count), float(timeout_s)
    api = Api(url, token)
    run = "%x" % int(time.time() * 1000)
    lat, failed, note = [], {}, None
    for i in range(count):
        t0 = time.monotonic()
        st, doc = api.call("POST", "/api/orders",
                           {"items": [{"product": "Saga item", "quantity": 1, "price": 42}],
                            "payment_method": "credit_card", "payment_token": "tok_visa"},
                           {"Idempotency-Key": f"saga-{run}-{i}"})
        oid = order_id(doc)
        if st != 201 or not oid:
            note = f"POST /api/orders answered HTTP {st}: {doc.get('error') or doc}"
            break
        path = "/api/orders/" + urllib.parse.quote(str(oid))
        status = None
        while time.monotonic() - t0 < timeout_s:
            st, doc = api.call("GET", path)
            status = (doc.get("order") or {}).get("status") if st == 200 else f"HTTP {st}"
            if status == "paid":
                break
            if status == "payment_failed":
                break
            time.sleep(0.005)
        if status == "paid":
            lat.append((time.monotonic() - t0) * 1000.0)
        else:
            failed[status or "none"] = failed.get(status or "none", 0) + 1
            if status != "payment_failed":
                # Not paid within the timeout: the saga is not (fully) running;
                # waiting out the rest of the batch would only repeat that.
                note = f"order {oid} was still {status!r} after {timeout_s:g} s"
                break
    lat.sort()
    doc = {"orders": count, "paid": len(lat), "not_paid": failed, "timeout_s": timeout_s,
           "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": lat[-1] if lat else None,
           "note": note}
    doc["measured"] = len(lat) > 0 and note is None
    write_json(out, doc)


# ---- pgbench -----------------------------------------------------------------


def cmd_pgbench(stdout_path, log_prefix, out):
    text = open(stdout_path).read()
    doc = {"tool": "pgbench"}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("tps = "):
            doc["rps"] = float(line.split()[2])
        elif line.startswith("number of transactions actually processed:"):
            doc["requests"] = int(line.split(":")[1].split("/")[0])
        elif line.startswith("number of failed transactions:"):
            doc["failed"] = int(line.split(":")[1].split()[0])
        elif line.startswith("latency average ="):
            doc["mean_ms"] = float(line.split("=")[1].split()[0])
        elif line.startswith("duration:"):
            doc["duration_s"] = float(line.split(":")[1].split()[0])
    lat = []
    for path in glob.glob(log_prefix + ".*"):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]))
        os.unlink(path)  # large; the percentiles are what we keep
    lat.sort()
    if lat:
        doc["p50_ms"] = pct(lat, 50) / 1000.0
        doc["p90_ms"] = pct(lat, 90) / 1000.0
        doc["p99_ms"] = pct(lat, 99) / 1000.0
        doc["max_ms"] = lat[-1] / 1000.0
        doc["logged"] = len(lat)
    doc["non2xx"] = doc.get("failed", 0)
    doc["socket_errors"] = 0
    if "rps" not in doc:
        die(f"pgbench: no tps line in {stdout_path}")
    write_json(out, doc)


# ---- processes: CPU and RSS --------------------------------------------------

# Processes outside the stack that are the load side by name (run.sh also names
# its own shell in BENCH_SHELL_PID: everything it starts counts as "load").
# Everything else is "other": work on this machine from outside the bench.
LOADERS = {"wrk", "rpc_bench", "pgbench"}


def proc_table():
    procs = {}
    tick = os.sysconf("SC_CLK_TCK")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        rss_kib = hwm = 0
        try:
            with open(f"/proc/{d}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss_kib = int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm = int(line.split()[1])
        except OSError:
            pass
        # utime + stime, and cutime + cstime: the CPU of its children that it
        # has reaped. A component's CPU is the sum of both over its processes,
        # so a process that ends between two snapshots (pgbench's backends, a
        # wrk run) still counts: its time moves into its parent's children time.
        procs[int(d)] = {"pid": int(d), "comm": comm, "ppid": int(rest[1]),
                         "cpu_s": (int(rest[11]) + int(rest[12])) / tick,
                         "ccpu_s": (int(rest[13]) + int(rest[14])) / tick,
                         "rss_kib": rss_kib, "hwm_kib": hwm}
    return procs


def stack_cpu(procs):
    return sum(p["cpu_s"] + p["ccpu_s"] for p in procs.values() if p["component"] not in ("other", "load"))


def tag(procs, pids_dir):
    """Adds each process's component (see cmd_snap) in place."""
    roots = {}
    for path in glob.glob(os.path.join(pids_dir, "*.pid")):
        try:
            pid = int(open(path).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if pid in procs:
            roots[pid] = os.path.basename(path)[:-4]
    shell = os.environ.get("BENCH_SHELL_PID", "")
    if shell.isdigit() and int(shell) in procs:
        roots[int(shell)] = "load"
    for pid, p in procs.items():
        q, comp = pid, None
        for _ in range(64):
            if q in roots:
                comp = roots[q]
                break
            if q not in procs:
                break
            q = procs[q]["ppid"]
        p["component"] = comp or ("load" if p["comm"] in LOADERS else "other")
        p["root"] = pid in roots
    return procs


def cmd_drain(pg_port, expected, max_s, out):
    """Waits until svc-payment holds a payment for every order created so far
    (each order's order.created event has gone through the outbox relay,
    RabbitMQ and svc-payment's consumer): polls count(*) of the payments table
    every 0.5 s until it reaches EXPECTED, stops growing for 15 s, or MAX_S
    passes."""
    import subprocess
    t0 = time.monotonic()
    expected, max_s = int(expected), float(max_s)
    last, last_change, n = -1, t0, 0
    while True:
        r = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "comanda",
                            "-d", "comanda_payments", "-c", "SELECT count(*) FROM payments"],
                           capture_output=True, text=True)
        n = int(r.stdout.strip() or 0) if r.returncode == 0 else last
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        if n >= expected or now - last_change > 15 or now - t0 > max_s:
            break
        time.sleep(0.5)
    secs = (last_change if n < expected else now) - t0
    write_json(out, {"seconds": round(secs, 1), "payments": n, "expected": expected, "max_s": max_s,
                     "complete": n >= expected})
    print(f"{secs:.0f}")


def cmd_settle(pids_dir, max_s):
    """Waits until the stack is back to idle: its processes used less than 20%
    of one CPU over the last second (idle, its polling loops and health probes
    take about 10%), e.g. once the outbox relays and consumers have worked off
    what a POST scenario queued; at most MAX_S seconds. Prints how long it took."""
    t0 = time.monotonic()
    prev = stack_cpu(tag(proc_table(), pids_dir))
    while time.monotonic() - t0 < float(max_s):
        time.sleep(1.0)
        cur = stack_cpu(tag(proc_table(), pids_dir))
        if cur - prev < 0.2:
            break
        prev = cur
    print(f"{time.monotonic() - t0:.0f}")


def cmd_snap(pids_dir, out):
    """Every process, tagged with the component of its nearest ancestor whose
    pid is in PIDS_DIR (so PostgreSQL's backends count as postgres and the
    beam.smp under RabbitMQ's start script as rabbitmq), else "load" (run.sh
    and what it starts), else "other"."""
    procs = tag(proc_table(), pids_dir)
    write_json(out, {"time": time.time(), "procs": {str(k): v for k, v in procs.items()}})


def cmd_cpu(a_path, b_path, out):
    """CPU seconds per component between two snapshots: the change of the sum
    of (own + reaped children's) CPU time over the component's processes."""
    a, b = read_json(a_path), read_json(b_path)
    secs = b["time"] - a["time"]
    use = {}
    for snap, sign in ((b, 1), (a, -1)):
        for p in snap["procs"].values():
            use[p["component"]] = use.get(p["component"], 0.0) + sign * (p["cpu_s"] + p["ccpu_s"])
    write_json(out, {"wall_s": round(secs, 3), "cpus": os.cpu_count(),
                     "cpu_s": {k: round(max(v, 0.0), 2) for k, v in sorted(use.items(), key=lambda x: -x[1])}})


def rss_doc(snap):
    comps = {}
    for p in snap["procs"].values():
        c = p["component"]
        if c in ("other", "load"):
            continue
        e = comps.setdefault(c, {"pid": None, "rss_kib": 0, "hwm_kib": 0, "total_rss_kib": 0, "processes": 0})
        e["total_rss_kib"] += p["rss_kib"]
        e["processes"] += 1
        if p["root"]:
            e["pid"] = p["pid"]
            e["rss_kib"], e["hwm_kib"] = p["rss_kib"], p["hwm_kib"]
    # RabbitMQ's root is its start script; the node is the beam.smp under it.
    for c, e in comps.items():
        if e["processes"] > 1 and c == "rabbitmq":
            big = max((p for p in snap["procs"].values() if p["component"] == c), key=lambda p: p["rss_kib"])
            e["pid"], e["rss_kib"], e["hwm_kib"] = big["pid"], big["rss_kib"], big["hwm_kib"]
    return comps


def cmd_rss(snap_path, out):
    write_json(out, rss_doc(read_json(snap_path)))


def cmd_soak(d, out):
    """The soak's rounds: DIR holds 0.snap.json (before) and, per round N,
    N.snap.json and each scenario's N.KEY.json. Every answer of the refused
    scenario is a non-2xx by design; there an error is a socket error or an
    answer outside 400-499 ("unexpected")."""
    rounds = 0
    while os.path.exists(os.path.join(d, f"{rounds + 1}.snap.json")):
        rounds += 1
    snaps = [read_json(os.path.join(d, f"{n}.snap.json")) for n in range(rounds + 1)]
    rss = {c: [rss_doc(snap).get(c, {}).get("rss_kib") for snap in snaps] for c in C_PROGRAMS}
    requests = errors = refused = 0
    for path in glob.glob(os.path.join(d, "*.*.json")):
        key = os.path.basename(path).split(".")[1]
        if key == "snap":
            continue
        r = read_json(path)
        requests += r["requests"]
        if key == "refused":
            refused += r["requests"]
            errors += r["socket_errors"] + r.get("unexpected", 0)
        else:
            errors += r["non2xx"] + r["socket_errors"]
    write_json(out, {"rounds": rounds, "seconds": round(snaps[-1]["time"] - snaps[0]["time"], 1),
                     "requests": requests, "refused_requests": refused, "errors": errors, "rss_kib": rss})


# ---- the report --------------------------------------------------------------


def soak_half(soak):
    """The round the soak's second half is measured from (rounds 2 and up)."""
    return max(1, soak["rounds"] // 2)


C_PROGRAMS = ["gateway", "svc-user", "svc-order", "svc-payment"]
RSS_LIMIT_KIB = 20 * 1024

# (key, label) in table order; key names DIR/<key>.json.
SCENARIOS = [
    ("health", "GET /health (gateway, no RPC)"),
    ("get_user", "GET /api/users/{id}"),
    ("rpc_get_user", "RPC GetUser direct (rpc_bench)"),
    ("rpc_echo", "RPC Echo direct (no handler work)"),
    ("nng_echo", "NNG REQ/REP echo (no Comanda code)"),
    ("pgbench", "pgbench -S (PostgreSQL floor)"),
    ("get_order", "GET /api/orders/{id}"),
    ("create_user_admin", "POST /api/users (admin, no password)"),
    ("create_user_signup", "POST /api/users (sign-up, Argon2id)"),
    ("create_order", "POST /api/orders (cash)"),
]


def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}"


def table(headers, rows, align=None):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    align = align or ["<"] + [">"] * (len(headers) - 1)
    line = "  ".join(f"{h:{a}{n}}" for h, a, n in zip(headers, align, w))
    out = [line.rstrip(), "  ".join("-" * n for n in w)]
    for r in rows:
        out.append("  ".join(f"{str(c):{a}{n}}" for c, a, n in zip(r, align, w)).rstrip())
    return "\n".join(out)


def cpu_per_request(sc, cpu, key):
    """Each component's CPU per request of scenario `key`, in µs: None unless
    it ran cleanly (requests, no errors) and its CPU was taken."""
    s, c = sc.get(key, {}), cpu.get(key)
    if not s.get("measured") or not s.get("requests") or s.get("error_total") or not c:
        return None
    return {comp: v * 1e6 / s["requests"] for comp, v in c["cpu_s"].items()}


def rpc_split(sc, cpu):
    """A direct GetUser's server-side CPU per call split into lib/rpc's part
    (the echo server's CPU per Echo call) and the rest (svc-user's and
    PostgreSQL's CPU per GetUser minus that): None unless both ran cleanly."""
    per = {key: cpu_per_request(sc, cpu, key) for key in ("rpc_get_user", "rpc_echo")}
    if None in per.values():
        return None
    runtime = per["rpc_echo"].get("rpc-echo", 0.0)
    svc_user, postgres = per["rpc_get_user"].get("svc-user", 0.0), per["rpc_get_user"].get("postgres", 0.0)
    return {"runtime_us": round(runtime, 1), "svc_user_us": round(svc_user, 1), "postgres_us": round(postgres, 1),
            "handler_and_postgres_us": round(svc_user + postgres - runtime, 1)}


# The chain of GET /api/users/{id} as floors measured in the same run: HTTP
# (the gateway answering with no RPC), an RPC round trip, one indexed read.
CEILINGS = [("ceiling_nng", "health + NNG echo + pgbench -S", ("health", "nng_echo", "pgbench")),
            ("ceiling_lib_rpc", "health + RPC Echo + pgbench -S", ("health", "rpc_echo", "pgbench"))]


def ceiling(sc, cpu, keys):
    """The req/s of a chain whose parts cost no more CPU than the floors
    `keys` do: the machine's CPU time divided by the sum of their CPU per
    request, every process counted (load generators too: wrk and pgbench
    stand for the gateway's and svc-user's client sides), the machine's other
    work not. An upper bound for a CPU-bound chain of those parts, since each
    floor does its part and nothing else; None unless each ran cleanly."""
    parts = [cpu_per_request(sc, cpu, k) for k in keys]
    if None in parts:
        return None
    total_us = sum(v for p in parts for comp, v in p.items() if comp != "other")
    cpus = cpu[keys[-1]]["cpus"]
    return {"rps": round(cpus * 1e6 / total_us, 1), "cpu_us_per_request": round(total_us, 1)}


# Each process of a gateway GetUser against the floors' processes that do its
# part alone: (component, [(floor scenario, its component), ...]).
BEYOND = [("gateway", [("health", "gateway"), ("nng_echo", "load")]),
          ("svc-user", [("nng_echo", "nng-echo"), ("pgbench", "load")]),
          ("postgres", [("pgbench", "postgres")]),
          ("load", [("health", "load")])]


def beyond_floors(sc, cpu):
    """CPU per gateway GetUser that each process spends beyond the floors of
    its parts (gateway: the HTTP floor's gateway and NNG's client; svc-user:
    NNG's server and pgbench's client; postgres: pgbench's; wrk: the HTTP
    floor's wrk), in µs: what our code and its threads add. None unless all
    of those scenarios ran cleanly."""
    got = cpu_per_request(sc, cpu, "get_user")
    floors = {k: cpu_per_request(sc, cpu, k) for k in ("health", "nng_echo", "pgbench")}
    if got is None or None in floors.values():
        return None
    out = {}
    for comp, parts in BEYOND:
        floor = sum(floors[k].get(c, 0.0) for k, c in parts)
        out[comp] = {"get_user_us": round(got.get(comp, 0.0), 1), "floor_us": round(floor, 1),
                     "beyond_us": round(got.get(comp, 0.0) - floor, 1)}
    return out


def cmd_report(d, out):
    meta = read_json(os.path.join(d, "meta.json")) or {}
    res = {"meta": meta, "scenarios": {}, "ratios": {}, "rss": {}, "saga": None, "targets": [], "cpu": {}}
    lines = []
    p = lines.append
    p(f"Comanda benchmark  {meta.get('date', '')}  commit {meta.get('commit', '?')}")
    p(f"machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}), load generator on the same machine; "
      f"loadavg at start {meta.get('loadavg', '?')}")
    p(f"load: wrk -t{meta.get('threads')} -c{meta.get('connections')} -d{meta.get('duration')}s per scenario; "
      f"rpc_bench and pgbench at the same concurrency and duration")
    p(f"stack: {meta.get('stack', '')}")
    p("")

    rows = []
    for key, label in SCENARIOS:
        r = read_json(os.path.join(d, key + ".json"))
        skipped = read_json(os.path.join(d, key + ".skipped.json"))
        cpu = read_json(os.path.join(d, key + ".cpu.json"))
        if cpu:
            res["cpu"][key] = cpu
        if r is None:
            why = (skipped or {}).get("reason", "not run")
            res["scenarios"][key] = {"label": label, "measured": False, "reason": why}
            rows.append([label, "-", "-", "-", "-", "not measured: " + why])
            continue
        errs = (r.get("non2xx") or 0) + (r.get("socket_errors") or 0) + (r.get("errors") if isinstance(r.get("errors"), int) else 0)
        r = dict(r, label=label, measured=True, error_total=errs)
        res["scenarios"][key] = r
        rows.append([label, fmt(r.get("rps"), 0), fmt(r.get("p50_ms")), fmt(r.get("p99_ms")),
                     fmt(errs), ""])
    p("Throughput and latency")
    p(table(["scenario", "req/s", "p50 ms", "p99 ms", "non-2xx/errors", ""], rows, ["<", ">", ">", ">", ">", "<"]))
    p("  (non-2xx: wrk's responses with status >= 400 plus socket errors; for rpc_bench, calls not OK;"
      " for pgbench, failed transactions)")
    p("")

    sc = res["scenarios"]

    def rps(k):
        return sc.get(k, {}).get("rps") if sc.get(k, {}).get("measured") else None

    gw, rpc, pg, echo, nng = rps("get_user"), rps("rpc_get_user"), rps("pgbench"), rps("rpc_echo"), rps("nng_echo")
    if gw and rpc:
        res["ratios"]["gateway_get_user_over_rpc"] = round(gw / rpc, 3)
    if rpc and echo:
        res["ratios"]["rpc_get_user_over_rpc_echo"] = round(rpc / echo, 3)
    if rpc and pg:
        res["ratios"]["rpc_get_user_over_pgbench"] = round(rpc / pg, 3)
    if gw and pg:
        res["ratios"]["gateway_get_user_over_pgbench"] = round(gw / pg, 3)
    if echo and nng:
        res["ratios"]["rpc_echo_over_nng_echo"] = round(echo / nng, 3)
    p("Ratios")
    for k, label in [("gateway_get_user_over_rpc", "gateway GetUser / direct RPC GetUser"),
                     ("rpc_get_user_over_pgbench", "direct RPC GetUser / pgbench -S"),
                     ("gateway_get_user_over_pgbench", "gateway GetUser / pgbench -S"),
                     ("rpc_get_user_over_rpc_echo", "direct RPC GetUser / RPC Echo"),
                     ("rpc_echo_over_nng_echo", "RPC Echo / NNG echo (lib/rpc's cost)")]:
        v = res["ratios"].get(k)
        p(f"  {label:40s} {fmt(v, 3) if v is not None else 'n/a'}")
    split = rpc_split(sc, res["cpu"])
    if split:
        res["rpc_get_user_split"] = split
        p(f"  a direct GetUser by server CPU per call: RPC runtime {split['runtime_us']:,.0f} us (the echo server's),"
          f" handler and PostgreSQL {split['handler_and_postgres_us']:,.0f} us"
          f" (svc-user {split['svc_user_us']:,.0f} + postgres {split['postgres_us']:,.0f} - runtime)")
    p("")
    res["ceilings"] = {}
    for key, label, keys in CEILINGS:
        c = ceiling(sc, res["cpu"], keys)
        if c is None:
            continue
        if pg:
            c["over_pgbench"] = round(c["rps"] / pg, 3)
        if gw:
            c["gateway_get_user_over_ceiling"] = round(gw / c["rps"], 3)
        res["ceilings"][key] = dict(c, parts=list(keys))
        if len(res["ceilings"]) == 1:
            p("Ceiling of GET /api/users/{id} on this machine: the floors' CPU per request added up (every process,"
              " load generators included; docs/PERFORMANCE.md, \"The ceiling\")")
        share = f" = {c['over_pgbench'] * 100:.1f}% of pgbench -S" if pg else ""
        reached = f"; the gateway reached {c['gateway_get_user_over_ceiling'] * 100:.1f}% of it" if gw else ""
        p(f"  {label:32s} {c['cpu_us_per_request']:,.0f} us -> {c['rps']:,.0f} req/s{share}{reached}")
    beyond = beyond_floors(sc, res["cpu"])
    if beyond:
        res["get_user_beyond_floors"] = beyond
        p("  a gateway GetUser beyond those floors, CPU us per request (its own - its parts' floors):")
        p("    " + ", ".join(f"{'wrk' if c == 'load' else c} {b['get_user_us']:,.0f} - {b['floor_us']:,.0f}"
                            f" = {b['beyond_us']:+,.0f}" for c, b in beyond.items()))
    if res["ceilings"]:
        p("")

    rss = read_json(os.path.join(d, "rss.json")) or {}
    res["rss"] = rss
    rows = []
    for c in C_PROGRAMS + sorted(k for k in rss if k not in C_PROGRAMS):
        e = rss.get(c)
        if not e:
            continue
        extra = f"{e['processes']} processes, {e['total_rss_kib'] / 1024:.1f} MiB in all" if e["processes"] > 1 else ""
        rows.append([c, e.get("pid") or "-", f"{e['rss_kib'] / 1024:.1f}", f"{e['hwm_kib'] / 1024:.1f}", extra])
    p("Memory after the run (VmRSS, VmHWM = peak RSS; from /proc/<pid>/status)")
    p(table(["process", "pid", "RSS MiB", "peak MiB", ""], rows, ["<", ">", ">", ">", "<"]))
    p("")

    soak = read_json(os.path.join(d, "soak.json"))
    res["soak"] = soak
    if soak and soak["rounds"] >= 1:
        p(f"Soak: {soak['rounds']} rounds in {soak['seconds'] / 60:.1f} min, {soak['requests']:,} requests"
          f" ({soak['refused_requests']:,} of them meant to be refused), {soak['errors']:,} errors")
        half = soak_half(soak)
        rows = []
        for c in C_PROGRAMS:
            v = soak["rss_kib"].get(c) or []
            if len(v) > half and None not in v:
                rows.append([c, f"{v[0] / 1024:.1f}", f"{v[1] / 1024:.1f}", f"{v[half] / 1024:.1f}",
                             f"{max(v) / 1024:.1f}", f"{v[-1] / 1024:.1f}", f"{(v[-1] - v[half]) / 1024:+.1f}"])
        p(table(["RSS MiB", "before", "round 1", f"round {half}", "max", "last", f"last - round {half}"], rows))
        p("  (a program's memory may grow while it warms up; over the second half it must not)")
        p("")

    drain = read_json(os.path.join(d, "drain.json"))
    co = sc.get("create_order", {})
    if drain and co.get("measured"):
        res["drain"] = dict(drain, cpu=read_json(os.path.join(d, "drain.cpu.json")))
        used = (res["drain"]["cpu"] or {}).get("cpu_s", {})
        top = ", ".join(f"{k} {v:.1f} s" for k, v in used.items() if k not in ("other", "load") and v >= 0.1)
        rate = co["requests"] / (co["duration_s"] + drain["seconds"])
        if drain.get("complete"):
            p(f"Event pipeline: the {co['requests']:,} cash orders of POST /api/orders all had their payment "
              f"{drain['seconds']:.0f} s after the run ended (CPU meanwhile: {top or 'none'}): the saga's first "
              f"step handled ~{rate:,.0f} orders/s against an intake of {co['rps']:,.0f}/s")
        else:
            p(f"Event pipeline: only {drain['payments']:,} of {drain['expected']:,} orders had their payment "
              f"{drain['seconds']:.0f} s after POST /api/orders ended (gave up; CPU meanwhile: {top or 'none'})")
        p("")

    saga = read_json(os.path.join(d, "saga.json"))
    res["saga"] = saga
    if saga and saga.get("measured"):
        p(f"Saga: POST /api/orders (credit_card) -> status paid, {saga['paid']} orders one at a time on an idle stack: "
          f"p50 {saga['p50_ms']:.1f} ms, p99 {saga['p99_ms']:.1f} ms, max {saga['max_ms']:.1f} ms"
          + (f"; not paid: {saga['not_paid']}" if saga.get("not_paid") else ""))
    elif saga:
        p("saga: not measured (orders did not reach paid)" + (f" — {saga.get('note')}" if saga.get("note") else ""))
    else:
        p("saga: not measured (not run)")
    p("")

    # ---- targets
    T = res["targets"]

    def target(name, value, goal, ok, unit=""):
        T.append({"target": name, "value": value, "goal": goal, "status": ok})

    measured = [k for k, v in sc.items() if v.get("measured")]
    total_err = sum(sc[k]["error_total"] for k in measured)
    target("zero errors (all measured scenarios)", f"{total_err} errors", "0", "PASS" if total_err == 0 else "MISS")
    g = sc.get("get_user", {})

    def flawed(*keys):
        """Figures from a scenario with errors compare error answers, not work:
        such a target is missed, with the reason."""
        n = sum(sc.get(k, {}).get("error_total", 0) for k in keys)
        return f" ({n:,} errors: not comparable)" if n else ""

    if gw and pg:
        r, bad = gw / pg, flawed("get_user", "pgbench")
        top = res["ceilings"].get("ceiling_nng", {}).get("over_pgbench")
        top = f"; ceiling {top * 100:.1f}%" if top else ""
        target("GET /api/users/{id} throughput vs pgbench -S",
               f"{r * 100:.1f}% ({gw:,.0f} / {pg:,.0f} req/s{top}){bad}",
               ">= 50%", "PASS" if r >= 0.5 and not bad else "MISS")
    else:
        target("GET /api/users/{id} throughput vs pgbench -S", "n/a", ">= 50%", "NOT MEASURED")
    if g.get("measured"):
        bad = flawed("get_user")
        target("GET /api/users/{id} p99", f"{g['p99_ms']:.2f} ms{bad}", "< 5 ms",
               "PASS" if g["p99_ms"] < 5 and not bad else "MISS")
    else:
        target("GET /api/users/{id} p99", "n/a", "< 5 ms", "NOT MEASURED")
    if gw and rpc:
        cost, bad = 1 - gw / rpc, flawed("get_user", "rpc_get_user")
        target("gateway + RPC hop cost vs direct RPC (1 - gateway/direct req/s)", f"{cost * 100:.1f}%{bad}",
               "<= 30%", "PASS" if cost <= 0.30 and not bad else "MISS")
    else:
        target("gateway + RPC hop cost vs direct RPC", "n/a", "<= 30%", "NOT MEASURED")
    for c in C_PROGRAMS:
        e = rss.get(c)
        if e:
            target(f"{c} RSS after the run", f"{e['rss_kib'] / 1024:.1f} MiB", "< 20 MiB",
                   "PASS" if e["rss_kib"] < RSS_LIMIT_KIB else "MISS")
        else:
            target(f"{c} RSS after the run", "n/a", "< 20 MiB", "NOT MEASURED")
    if soak and soak["rounds"] >= 2:
        target("zero errors over the soak", f"{soak['errors']:,} errors", "0", "PASS" if soak["errors"] == 0 else "MISS")
        half = soak_half(soak)
        for c in C_PROGRAMS:
            v = soak["rss_kib"].get(c) or []
            if len(v) > half and v[half] is not None and v[-1] is not None:
                grew = (v[-1] - v[half]) / 1024
                target(f"{c} RSS growth over the soak's second half", f"{grew:+.1f} MiB", "<= 1 MiB",
                       "PASS" if grew <= 1 else "MISS")
    p("Targets (2 cores, load generator on the same machine)")
    p(table(["target", "value", "goal", ""], [[t["target"], t["value"], t["goal"], t["status"]] for t in T],
            ["<", ">", "<", "<"]))
    p("")

    # ---- CPU per request, per component
    rows, noisy = [], []
    comps = ["gateway", "svc-user", "svc-order", "svc-payment", "postgres", "ferretdb", "rabbitmq"]
    # Components a scenario adds for itself (rpc_echo's server, "rpc-echo").
    comps += sorted({c for cpu in res["cpu"].values() for c in cpu["cpu_s"]} - set(comps) - {"load", "other"})
    for key, label in SCENARIOS:
        cpu, s = res["cpu"].get(key), sc.get(key, {})
        if not cpu or not s.get("measured") or not s.get("requests"):
            continue
        n = s["requests"]
        used = cpu["cpu_s"]
        row = [key] + [fmt(used.get(c, 0) * 1e6 / n, 0) for c in comps]
        busy = sum(used.values()) / (cpu["wall_s"] * cpu["cpus"]) * 100
        other = used.get("other", 0) / (cpu["wall_s"] * cpu["cpus"]) * 100
        row += [fmt(used.get("load", 0) * 1e6 / n, 0), f"{busy:.0f}%", f"{other:.0f}%"]
        rows.append(row)
        if other > 10:
            noisy.append(f"{key} ({other:.0f}%)")
    if rows:
        p("CPU per request in microseconds, by process (/proc/<pid>/stat around each scenario). busy: the"
          " machine's CPU in use; other: used by processes outside the bench (noise)")
        p(table(["scenario"] + comps + ["load gen", "busy", "other"], rows))
        if noisy:
            p("WARNING: other work on this machine took more than 10% of its CPU during: " + ", ".join(noisy)
              + "; those figures are low by about that much")
        p("")
    p(f"results: {out}")
    text = "\n".join(lines)
    print(text)
    res["text"] = text
    write_json(out, res)


def main(argv):
    cmds = {"login": (cmd_login, 3), "seed": (cmd_seed, 5), "saga": (cmd_saga, 5), "pgbench": (cmd_pgbench, 3),
            "snap": (cmd_snap, 2), "settle": (cmd_settle, 2), "drain": (cmd_drain, 4), "soak": (cmd_soak, 2), "cpu": (cmd_cpu, 3), "rss": (cmd_rss, 2), "report": (cmd_report, 2)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[argv[1]][0](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
