#!/usr/bin/env bash
# shellcheck disable=SC2016  # the bash -c snippets take their values as arguments
# Static checks of the deployment files: compose.yaml (+ .env.example),
# Dockerfile (+ .dockerignore) and deploy/k8s. There is no Docker engine and
# no Kubernetes cluster here, so nothing is built into an image or run in a
# container; what IS checked:
#   - compose.yaml parses and resolves (docker-compose 1.29 `config`) with an
#     .env made from .env.example, and is refused without each required secret;
#     its resolved form: eight services, a healthcheck on each, ports published
#     to all interfaces only for the gateway (and the management UI), admin
#     ports on 127.0.0.1, depends_on service_healthy, named volumes, variable
#     names from lib/cfg.def, secrets only where needed, hardening;
#   - the gateway healthcheck command and the services' liveness command,
#     run for real against a gateway built here (in a private network namespace);
#   - the Docker build context (.dockerignore applied, as docker-py computes
#     it) builds with the Dockerfile's make command; the runtime stage installs
#     exactly the Debian packages that provide the libraries the binaries load,
#     the build stage the -dev packages the Makefile uses; no compiler in the
#     runtime stage, a numeric non-root USER;
#   - deploy/k8s against the Kubernetes JSON schemas (kubeconform -strict,
#     offline, for the Kubernetes versions scripts/deps.sh fetched), its
#     kustomize output too, plus structural rules (probes, resources,
#     non-root, HPAs, selectors, secret references, placeholders only: an
#     optional secret, JWT_SECRET_PREVIOUS, may be empty); and that the
#     placeholder Secret, applied as shipped, stops the gateway and svc-user
#     (built above) at start in production.
#
# Needs: docker-compose, Debian's python3 with yaml and docker (dependencies of
# docker-compose), kubeconform and the schemas (scripts/deps.sh installs all),
# the C build dependencies; kubectl (for kustomize) is used when present.
# Needs no running stack.
set -uo pipefail

: "${GATEWAY_URL:=unused}"   # lib.sh: no stack environment needed here
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$IT_REPO" || exit 1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/comanda-deploy.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

PY=/usr/bin/python3   # Debian's: has yaml and docker (docker-compose depends on them)
KUBECONFORM=$(scripts/deps.sh --kubeconform-path)
SCHEMAS=$(scripts/deps.sh --k8s-schema-dir)
K8S_VERSIONS=()
for d in "$SCHEMAS"/v*-local-strict; do
    [[ -d $d ]] && { d=${d##*/v}; K8S_VERSIONS+=("${d%-local-strict}"); }
done

check "docker-compose is installed (scripts/deps.sh)" command -v docker-compose
check "Debian python3 has yaml and docker-py" "$PY" -c 'import yaml, docker.utils.build'
check "kubeconform is installed (scripts/deps.sh)" test -x "$KUBECONFORM"
check "Kubernetes schemas are installed (scripts/deps.sh)" test "${#K8S_VERSIONS[@]}" -gt 0

# ---- the checks written in Python (one function per check) --------------------
cat >"$TMP/checks.py" <<'PY'
import glob, json, os, re, subprocess, sys
import yaml

def fail(msg):
    print(msg)
    sys.exit(1)

def cfg_names():
    names = re.findall(r'^CFG\((\w+),', open("lib/cfg.def").read(), re.M)
    if len(names) < 20:
        fail("could not read lib/cfg.def")
    return set(names)

PROGRAMS = ["gateway", "svc-user", "svc-order", "svc-payment"]
DATA = ["postgres-users", "postgres-payments", "mongodb", "rabbitmq"]
RPC_PORT = {"svc-user": 6001, "svc-order": 6002, "svc-payment": 6003}
ADMIN_PORT = {"svc-user": 5001, "svc-order": 5002, "svc-payment": 5003}
SECRET_VARS = {"USER_DB_URL", "PAYMENT_DB_URL", "ORDER_MONGO_URL", "AMQP_URL", "JWT_SECRET", "JWT_SECRET_PREVIOUS",
               "ADMIN_PASSWORD"}
OPTIONAL_SECRETS = {"JWT_SECRET_PREVIOUS"}  # empty but for a key rotation
NEEDS = {  # the secrets each program reads (lib/cfg.def), and no others
    "gateway": {"JWT_SECRET", "JWT_SECRET_PREVIOUS"},
    "svc-user": {"USER_DB_URL", "AMQP_URL", "JWT_SECRET", "JWT_SECRET_PREVIOUS", "ADMIN_PASSWORD"},
    "svc-order": {"ORDER_MONGO_URL", "AMQP_URL"},
    "svc-payment": {"PAYMENT_DB_URL", "AMQP_URL"},
}

# ---- compose ------------------------------------------------------------------------

def compose():
    data = yaml.safe_load(open(os.environ["COMPOSE_RESOLVED"]))
    if not data:
        fail("compose.yaml did not resolve (see the docker-compose config check)")
    return data["services"]

def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return env

def ports_of(svc):
    """(host_ip, published, target) of each published port."""
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append((p.get("host_ip") or "", str(p.get("published", "")), str(p["target"])))
            continue
        spec = str(p).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append(("", "", parts[0]))  # random host port, all interfaces
    return out

def compose_services():
    got = set(compose())
    want = set(PROGRAMS + DATA)
    if got != want:
        fail(f"services: {sorted(got)}, expected {sorted(want)}")

def compose_healthchecks():
    bad = []
    for name, svc in compose().items():
        hc = svc.get("healthcheck") or {}
        test = hc.get("test")
        if hc.get("disable") or not test or test in (["NONE"], "NONE"):
            bad.append(f"{name}: no healthcheck")
            continue
        cmd = " ".join(test)
        if name in RPC_PORT and f"comanda-probe -t 2000 tcp://127.0.0.1:{RPC_PORT[name]}" not in cmd:
            bad.append(f"{name}: not comanda-probe on its RPC port: {cmd}")
        want = {"gateway": "/dev/tcp/127.0.0.1/5000", "postgres-users": "pg_isready",
                "postgres-payments": "pg_isready", "mongodb": "mongosh",
                "rabbitmq": "rabbitmq-diagnostics -q ping"}.get(name)
        if want and want not in cmd:
            bad.append(f"{name}: healthcheck does not use {want}: {cmd}")
    if bad:
        fail("\n".join(bad))

def compose_ports():
    bad = []
    public_ok = {("gateway", "5000"), ("rabbitmq", "15672")}
    for name, svc in compose().items():
        for host_ip, published, target in ports_of(svc):
            if host_ip in ("", "0.0.0.0", "::", "[::]"):
                if (name, target) not in public_ok:
                    bad.append(f"{name}: container port {target} published on all interfaces")
            elif host_ip != "127.0.0.1":
                bad.append(f"{name}: port {target} published on {host_ip}")
        if name in DATA and name != "rabbitmq" and svc.get("ports"):
            bad.append(f"{name}: a database publishes ports")
    svcs = compose()
    if ("", "5000", "5000") not in ports_of(svcs["gateway"]):
        bad.append(f"gateway: 5000 not published on all interfaces: {ports_of(svcs['gateway'])}")
    for name, port in ADMIN_PORT.items():
        if ("127.0.0.1", str(port), str(port)) not in ports_of(svcs[name]):
            bad.append(f"{name}: admin port {port} not published on 127.0.0.1:{port}")
    if bad:
        fail("\n".join(bad))

def compose_depends_on():
    svcs = compose()
    want = {
        "gateway": {"svc-user", "svc-order", "svc-payment"},
        "svc-user": {"postgres-users", "rabbitmq"},
        "svc-order": {"mongodb", "rabbitmq"},
        "svc-payment": {"postgres-payments", "rabbitmq"},
    }
    bad = []
    for name, deps in want.items():
        got = svcs[name].get("depends_on") or {}
        if not isinstance(got, dict):
            bad.append(f"{name}: depends_on has no conditions")
            continue
        if set(got) != deps:
            bad.append(f"{name}: depends_on {sorted(got)}, expected {sorted(deps)}")
        bad += [f"{name}: {d} is not condition: service_healthy"
                for d, c in got.items() if (c or {}).get("condition") != "service_healthy"]
    if bad:
        fail("\n".join(bad))

def compose_env():
    names, svcs, bad = cfg_names(), compose(), []
    for name in PROGRAMS:
        env = env_of(svcs[name])
        unknown = set(env) - names
        if unknown:
            bad.append(f"{name}: not in lib/cfg.def: {sorted(unknown)}")
        if env.get("COMANDA_ENV") != "production":
            bad.append(f"{name}: COMANDA_ENV is not production")
        secrets = set(env) & SECRET_VARS
        if secrets != NEEDS[name]:
            bad.append(f"{name}: secrets {sorted(secrets)}, expected {sorted(NEEDS[name])}")
        bad += [f"{name}: {k} is empty" for k in NEEDS[name] - OPTIONAL_SECRETS if not str(env.get(k, "")).strip()]
        if name in RPC_PORT:
            prefix = {"svc-user": "USER", "svc-order": "ORDER", "svc-payment": "PAYMENT"}[name]
            if env.get(f"{prefix}_RPC_LISTEN") != f"tcp://0.0.0.0:{RPC_PORT[name]}":
                bad.append(f"{name}: {prefix}_RPC_LISTEN is {env.get(prefix + '_RPC_LISTEN')}")
            if env.get("ADMIN_BIND") != "0.0.0.0":
                bad.append(f"{name}: ADMIN_BIND is not 0.0.0.0 (the published admin port would not answer)")
        for var, host, port in [("USER_RPC_URL", "svc-user", 6001), ("ORDER_RPC_URL", "svc-order", 6002),
                                ("PAYMENT_RPC_URL", "svc-payment", 6003)]:
            if var in env and env[var] != f"tcp://{host}:{port}":
                bad.append(f"{name}: {var} is {env[var]}")
    if bad:
        fail("\n".join(bad))

def compose_volumes():
    data = yaml.safe_load(open(os.environ["COMPOSE_RESOLVED"])) or {}
    named, svcs, bad = set(data.get("volumes") or {}), compose(), []
    want = {"postgres-users": "/var/lib/postgresql/data", "postgres-payments": "/var/lib/postgresql/data",
            "mongodb": "/data/db", "rabbitmq": "/var/lib/rabbitmq"}
    for name, path in want.items():
        vols = [str(v) if not isinstance(v, dict) else f"{v.get('source')}:{v.get('target')}"
                for v in svcs[name].get("volumes") or []]
        hit = [v for v in vols if v.split(":")[1:2] == [path]]
        if not hit or hit[0].split(":")[0] not in named:
            bad.append(f"{name}: {path} is not on a named volume ({vols})")
    if bad:
        fail("\n".join(bad))

def compose_hardening():
    svcs, bad = compose(), []
    for name in PROGRAMS:
        s = svcs[name]
        if s.get("read_only") is not True:
            bad.append(f"{name}: read_only is not true")
        if "ALL" not in (s.get("cap_drop") or []):
            bad.append(f"{name}: cap_drop lacks ALL")
        if not any("no-new-privileges" in o for o in s.get("security_opt") or []):
            bad.append(f"{name}: no no-new-privileges")
        if (s.get("command") or [None])[0] != name:
            bad.append(f"{name}: command is {s.get('command')}")
        if s.get("image") != svcs["gateway"].get("image"):
            bad.append(f"{name}: not the same image as the gateway")
    if bad:
        fail("\n".join(bad))

def compose_healthcheck_cmd():
    """Prints the gateway's healthcheck command as the container would run it."""
    test = compose()["gateway"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"], test
    print(test[3].replace("$$", "$"))

def env_example_complete():
    text = "\n".join(l for l in open("compose.yaml").read().splitlines() if not l.lstrip().startswith("#"))
    required = set(re.findall(r'\$\{(\w+):\?', text))
    listed = set(re.findall(r'^(\w+)=', open(".env.example").read(), re.M))
    missing = required - listed
    if missing:
        fail(f".env.example lacks {sorted(missing)}")
    print(" ".join(sorted(required)))

# ---- Dockerfile -----------------------------------------------------------------------

def stages():
    """{stage name: [instruction lines]} with continuations joined."""
    text = re.sub(r"\\\n", " ", open("Dockerfile").read())
    out, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            cur = m.group(2) or m.group(1)
            out[cur] = [line]
        elif cur:
            out[cur].append(line)
    return out

def apt_packages(lines):
    pkgs = set()
    for line in lines:
        for m in re.finditer(r"apt-get install (.*?)(?:&&|$)", line):
            pkgs |= {t for t in m.group(1).split() if not t.startswith("-")}
    return pkgs

def dockerfile_packages():
    print(json.dumps({k: sorted(apt_packages(v)) for k, v in stages().items()}))

def dockerfile_runtime():
    st, bad = stages(), []
    if list(st)[-1:] != ["runtime"] or "build" not in st:
        fail(f"stages {list(st)}: expected build ... runtime (runtime last, the default target)")
    rt = st["runtime"]
    arg = re.search(r"^ARG DEBIAN_RELEASE=(\S+)", open("Dockerfile").read(), re.M)
    base = rt[0].split()[1].replace("${DEBIAN_RELEASE}", arg.group(1) if arg else "?")
    if base != "debian:bookworm-slim":
        bad.append(f"runtime base is {base}")
    pkgs = apt_packages(rt)
    compilers = {p for p in pkgs if p.endswith("-dev") or p in
                 {"build-essential", "gcc", "g++", "clang", "make", "cmake", "cpp", "pkg-config", "binutils"}}
    if compilers:
        bad.append(f"runtime installs build tools: {sorted(compilers)}")
    users = [l.split()[1] for l in rt if l.upper().startswith("USER ")]
    if not users or not re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]):
        bad.append(f"runtime USER is {users[-1:] or 'unset'}: want a numeric non-root uid")
    copies = [l for l in rt if l.upper().startswith("COPY")]
    if copies != ["COPY --from=build /out/bin/ /usr/local/bin/",
                  "COPY --from=build /out/web/ /usr/local/share/comanda/web/"]:
        bad.append(f"runtime copies {copies}: want only the binaries and the web UI from the build stage")
    cmd = [l for l in rt if l.upper().startswith("CMD")]
    if not cmd or not cmd[-1][3:].strip().startswith("["):
        bad.append("CMD is not in exec form")
    outs = re.search(r"cp (build/bin/\S+(?:\s+build/bin/\S+)*)\s+/out/bin/", " ".join(st["build"]))
    shipped = {p.split("/")[-1] for p in outs.group(1).split()} if outs else set()
    if shipped != set(PROGRAMS) | {"comanda-probe"}:
        bad.append(f"the image ships {sorted(shipped)}")
    if bad:
        fail("\n".join(bad))
    print(users[-1].split(":")[0])

def dockerfile_build_cmd():
    """The build stage's RUN that runs make, with /out moved to $OUT_DIR."""
    runs = [l for l in stages()["build"] if l.startswith("RUN ") and re.search(r"(?<![\w-])make ", l)]
    if len(runs) != 1:
        fail(f"expected one RUN with make in the build stage, found {len(runs)}")
    print(re.sub(r"(?<![\w/])/out\b", os.environ["OUT_DIR"], runs[0][4:]))

def context_files():
    """The files docker would send as the build context (docker-py's rules)."""
    from docker.utils.build import exclude_paths
    pats = [l.strip() for l in open(".dockerignore") if l.strip() and not l.lstrip().startswith("#")]
    for p in sorted(exclude_paths(".", pats, dockerfile="Dockerfile")):
        if os.path.isfile(p):
            print(p)

# ---- Kubernetes -----------------------------------------------------------------------

def k8s_docs(root="deploy/k8s"):
    docs = []
    for f in sorted(glob.glob(f"{root}/**/*.yaml", recursive=True)):
        if os.path.basename(f) == "kustomization.yaml":
            continue
        for d in yaml.safe_load_all(open(f)):
            if d:
                d["_file"] = f
                docs.append(d)
    return docs

def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}

def k8s_rules():
    docs, bad = k8s_docs(), []
    names = cfg_names()
    deps = by_kind(docs, "Deployment")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    svcs = by_kind(docs, "Service")
    cms = by_kind(docs, "ConfigMap")
    secrets = by_kind(docs, "Secret")
    uid = int(os.environ["IMAGE_UID"])
    if set(deps) != set(PROGRAMS):
        bad.append(f"Deployments {sorted(deps)}, expected {PROGRAMS}")
    conf = cms["comanda-config"]["data"]
    bad += [f"ConfigMap key {k} is not in lib/cfg.def" for k in conf if k not in names]
    for name, d in deps.items():
        pod = d["spec"]["template"]["spec"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != uid:
            bad.append(f"{name}: pod securityContext must set runAsNonRoot and runAsUser {uid} (the image's USER)")
        if not set(d["spec"]["selector"]["matchLabels"].items()) <= set(labels.items()):
            bad.append(f"{name}: selector does not match the pod labels")
        if "replicas" in d["spec"]:
            bad.append(f"{name}: sets replicas, which its HPA owns")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            if c.get("command") != [name]:
                bad.append(f"{where}: command {c.get('command')}")
            for p in ("startupProbe", "readinessProbe", "livenessProbe"):
                if p not in c:
                    bad.append(f"{where}: no {p}")
            res = c.get("resources") or {}
            for k in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(k) or {}):
                    bad.append(f"{where}: resources.{k} needs cpu and memory")
            csc = c.get("securityContext") or {}
            if csc.get("allowPrivilegeEscalation") is not False or csc.get("readOnlyRootFilesystem") is not True \
                    or "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                bad.append(f"{where}: securityContext must drop ALL, forbid privilege escalation, read-only root")
            envs = {e["name"] for e in c.get("env") or []}
            bad += [f"{where}: env {e} is not in lib/cfg.def" for e in envs - names]
            used = {e["valueFrom"]["secretKeyRef"]["key"] for e in c.get("env") or []
                    if "secretKeyRef" in (e.get("valueFrom") or {})}
            if used != NEEDS[name]:
                bad.append(f"{where}: secrets {sorted(used)}, expected {sorted(NEEDS[name])}")
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["key"] not in (secrets.get(ref["name"], {}).get("stringData") or {}):
                    bad.append(f"{where}: secret {ref['name']}/{ref['key']} is not defined")
            for ef in c.get("envFrom") or []:
                if "configMapRef" in ef and ef["configMapRef"]["name"] not in cms:
                    bad.append(f"{where}: ConfigMap {ef['configMapRef']['name']} is not defined")
            ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
            if name in RPC_PORT:
                probe = ["comanda-probe", "-t", "2000", f"tcp://127.0.0.1:{RPC_PORT[name]}"]
                for p in ("startupProbe", "readinessProbe"):
                    if (c.get(p) or {}).get("exec", {}).get("command") != probe:
                        bad.append(f"{where}: {p} is not {' '.join(probe)}")
                live = " ".join((c.get("livenessProbe") or {}).get("exec", {}).get("command", []))
                if f"comanda-probe -t 4000 tcp://127.0.0.1:{RPC_PORT[name]}" not in live:
                    bad.append(f"{where}: livenessProbe does not run comanda-probe on {RPC_PORT[name]}")
                prefix = {"svc-user": "USER", "svc-order": "ORDER", "svc-payment": "PAYMENT"}[name]
                if conf.get(f"{prefix}_RPC_LISTEN") != f"tcp://0.0.0.0:{RPC_PORT[name]}" \
                        or ports.get("rpc") != RPC_PORT[name] or ports.get("admin") != ADMIN_PORT[name]:
                    bad.append(f"{where}: RPC/admin ports disagree with the ConfigMap or the defaults")
                # Callers dial the headless Service, which resolves to every
                # ready pod, and look it up again (RPC_RESOLVE_MS > 0).
                if conf.get(f"{prefix}_RPC_URL") != f"tcp://{name}-pods:{RPC_PORT[name]}":
                    bad.append(f"{prefix}_RPC_URL is {conf.get(prefix + '_RPC_URL')}, "
                               f"not tcp://{name}-pods:{RPC_PORT[name]}")
                if int(conf.get("RPC_RESOLVE_MS", "5000")) <= 0:
                    bad.append("RPC_RESOLVE_MS is 0: callers would never see new pods")
                hs = svcs.get(f"{name}-pods")
                if not hs or hs["spec"].get("clusterIP") != "None":
                    bad.append(f"{name}: no headless Service {name}-pods")
                elif not set(hs["spec"]["selector"].items()) <= set(labels.items()) \
                        or [(p["port"], p["targetPort"]) for p in hs["spec"]["ports"]] != [(RPC_PORT[name], "rpc")]:
                    bad.append(f"{name}-pods: does not select {name}'s pods on its rpc port alone")
            else:
                want = {"startupProbe": "/ready", "readinessProbe": "/health", "livenessProbe": "/health"}
                for p, path in want.items():
                    if (c.get(p) or {}).get("httpGet", {}).get("path") != path:
                        bad.append(f"{where}: {p} is not httpGet {path}")
        h = hpas.get(name)
        if not h or h["spec"]["scaleTargetRef"] != {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}:
            bad.append(f"{name}: no HorizontalPodAutoscaler targets it")
        elif h["spec"].get("minReplicas", 1) < 2:
            bad.append(f"{name}: HPA minReplicas < 2 (no redundancy)")
        s = svcs.get(name)
        if not s or not set(s["spec"]["selector"].items()) <= set(labels.items()):
            bad.append(f"{name}: no Service selecting its pods")
        else:
            cports = {p["name"] for c in pod["containers"] for p in c.get("ports") or []}
            bad += [f"{name}: Service targetPort {p['targetPort']} is not a container port"
                    for p in s["spec"]["ports"] if p["targetPort"] not in cports]
    for d in docs:
        if d["kind"] == "Secret":
            for k, v in (d.get("stringData") or {}).items():
                if "CHANGE-ME" not in str(v) and not (k in OPTIONAL_SECRETS and v == ""):
                    bad.append(f"{d['_file']}: Secret {d['metadata']['name']}/{k} is not a placeholder")
            if d.get("data"):
                bad.append(f"{d['_file']}: Secret {d['metadata']['name']} has base64 data (placeholders only)")
        if d["kind"] in ("Deployment", "StatefulSet"):
            if d["metadata"].get("namespace") != "comanda":
                bad.append(f"{d['_file']}: {d['metadata']['name']} is not in namespace comanda")
            if (d["spec"]["template"]["spec"].get("securityContext") or {}).get("runAsNonRoot") is not True:
                bad.append(f"{d['_file']}: {d['metadata']['name']} does not set runAsNonRoot")
    if bad:
        fail("\n".join(bad))

def k8s_probe_verdicts():
    """Each service's startup, readiness and liveness probe run as the kubelet
    runs an exec probe (the argv, no shell of ours), with the comanda-probe
    found first on PATH exiting with each status 0..4 in turn (PROBE_RC).
    Prints "<service> <probe>: <the statuses it passed on>", one line each."""
    deps = by_kind(k8s_docs(), "Deployment")
    for name in sorted(RPC_PORT):
        c = deps[name]["spec"]["template"]["spec"]["containers"][0]
        for p in ("startupProbe", "readinessProbe", "livenessProbe"):
            argv = (c.get(p) or {}).get("exec", {}).get("command")
            if not argv:
                print(f"{name} {p}: no exec command")
                continue
            passed = [str(rc) for rc in range(5)
                      if subprocess.run(argv, env=dict(os.environ, PROBE_RC=str(rc)), timeout=10,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0]
            print(f"{name} {p}: {' '.join(passed) or 'none'}")

def kustomization_files():
    bad = []
    for k in glob.glob("deploy/k8s/**/kustomization.yaml", recursive=True):
        base = os.path.dirname(k)
        for r in yaml.safe_load(open(k)).get("resources") or []:
            if not os.path.exists(os.path.join(base, r)):
                bad.append(f"{k}: {r} does not exist")
        listed = {os.path.normpath(os.path.join(base, r)) for r in yaml.safe_load(open(k)).get("resources") or []}
        for f in glob.glob(f"{base}/*.yaml"):
            if os.path.basename(f) != "kustomization.yaml" and os.path.normpath(f) not in listed:
                bad.append(f"{k} does not list {f}")
    if bad:
        fail("\n".join(bad))

globals()[sys.argv[1]]()
PY
pycheck() { "$PY" "$TMP/checks.py" "$@"; }

# ---- compose ------------------------------------------------------------------------

# docker-compose with nothing from this shell's environment (whose values would
# win over the env file) and never the developer's own .env.
dc() { env -i PATH="$PATH" HOME="$TMP" docker-compose --env-file "$1" -f compose.yaml "${@:2}"; }

REQUIRED=$(pycheck env_example_complete 2>&1)
check ".env.example lists every variable compose.yaml requires" pycheck env_example_complete

# An .env as a user would write it: every empty value of .env.example filled.
while IFS= read -r line; do
    if [[ $line =~ ^([A-Z0-9_]+)=$ ]]; then
        printf '%s=%s\n' "${BASH_REMATCH[1]}" "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    else
        printf '%s\n' "$line"
    fi
done <.env.example >"$TMP/env"

check "compose.yaml is valid (docker-compose config -q)" dc "$TMP/env" config -q
dc "$TMP/env" config >"$TMP/compose.resolved.yaml" 2>"$TMP/compose.err"
export COMPOSE_RESOLVED=$TMP/compose.resolved.yaml

refused=0 not_refused=()
# (a compose.yaml with no ${VAR:?} left would pass "0 of 0": a failure too)
[[ -n $REQUIRED ]] || not_refused+=("(compose.yaml requires no variable)")
for var in $REQUIRED; do
    sed "s/^$var=.*/$var=/" "$TMP/env" >"$TMP/env.missing"
    if dc "$TMP/env.missing" config -q >"$TMP/out" 2>&1 || ! grep -q "$var" "$TMP/out"; then
        not_refused+=("$var")
    else
        refused=$((refused + 1))
    fi
done
check_eq "compose refuses to start without each required secret ($refused of $(wc -w <<<"$REQUIRED"))" \
    "" "${not_refused[*]}"

check "compose: the eight services" pycheck compose_services
check "compose: every service has a healthcheck (comanda-probe on the RPC port, pg_isready, mongosh, rabbitmq-diagnostics)" \
    pycheck compose_healthchecks
check "compose: only gateway 5000 (and the management UI) on all interfaces; admin ports on 127.0.0.1" pycheck compose_ports
check "compose: depends_on with condition service_healthy" pycheck compose_depends_on
check "compose: variables from lib/cfg.def, production, each program only its own secrets" pycheck compose_env
check "compose: data on named volumes" pycheck compose_volumes
check "compose: programs read-only, no capabilities, no-new-privileges, one image" pycheck compose_hardening

# ---- Dockerfile and build context --------------------------------------------------------

IMAGE_UID=$(pycheck dockerfile_runtime 2>&1)
check "Dockerfile: runtime on bookworm-slim, no build tools, numeric non-root USER, only the binaries" \
    pycheck dockerfile_runtime
export IMAGE_UID

# The build context exactly as docker would send it, built with the
# Dockerfile's command (the host is Debian 12 = the build stage's bookworm).
CTX=$TMP/context
mkdir -p "$CTX"
pycheck context_files >"$TMP/context.txt" 2>&1
check ".dockerignore keeps secrets, .git and build output out of the context" \
    bash -c '! grep -qE "^(\.env$|\.git/|build/|\.run/)" "$1" && grep -qx Makefile "$1"' _ "$TMP/context.txt"
tar -cf - -T "$TMP/context.txt" | tar -xf - -C "$CTX"
# The build stage's own RUN line, run by sh -c as docker would (its /out
# moved into the scratch directory), with a version passed as the ARG would be.
export OUT_DIR=$TMP/image-bin
BUILD_CMD=$(pycheck dockerfile_build_cmd 2>&1)
VERSION=0.0.0-deploy-test
check "the build context builds with the Dockerfile's RUN make ... line" \
    bash -c 'cd "$1" && COMANDA_VERSION=$2 sh -c "$3" >build.log 2>&1 || { tail -20 build.log; exit 1; }' \
    _ "$CTX" "$VERSION" "$BUILD_CMD"
check "the binaries report the version the build passed" \
    bash -c 'strings "$1" | grep -qx "$2"' _ "$OUT_DIR/bin/gateway" "$VERSION"

if [[ -d $CTX/web ]]; then
    check "the image gets the web UI (web/ -> WEB_ROOT)" \
        bash -c 'diff -r "$1" "$2" && grep -q "WEB_ROOT=/usr/local/share/comanda/web" Dockerfile' _ "$CTX/web" "$OUT_DIR/web"
fi

# Runtime packages = the Debian packages owning the libraries the binaries load.
needed_packages() {
    local lib path
    for b in "$OUT_DIR"/bin/*; do objdump -p "$b" | awk '/NEEDED/ {print $2}'; done | sort -u |
        while read -r lib; do
            path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
            [[ -n $path ]] || { echo "UNRESOLVED:$lib"; continue; }
            dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1
        done | grep -vx -e libc6 -e libgcc-s1 | sort -u
}
dockerfile_stage_packages() {
    pycheck dockerfile_packages | "$PY" -c 'import json,sys; print("\n".join(json.load(sys.stdin)[sys.argv[1]]))' "$1"
}
if [[ -x $OUT_DIR/bin/gateway ]]; then
    needed_packages >"$TMP/needed.txt"
    dockerfile_stage_packages runtime | grep -vx ca-certificates | sort -u >"$TMP/runtime.txt"
    check "Dockerfile: runtime packages = the packages of the libraries the binaries load" \
        diff -u "$TMP/needed.txt" "$TMP/runtime.txt"
else
    fail "Dockerfile: runtime packages = the packages of the libraries the binaries load" "(the build failed)"
fi

# Build packages: every pkg-config module of the Makefile comes from a package
# the build stage installs, and CMake, which builds NNG from third_party/nng.
build_dev_packages() {
    local pkgs m pc
    pkgs=$(sed -n 's/^PKGS *:= *//p' Makefile)
    for m in $pkgs; do
        pc="$(pkg-config --variable=pcfiledir "$m")/$m.pc"
        dpkg -S "$(readlink -f "$pc")" | head -1 | cut -d: -f1
    done
    grep -q '^\s*$(Q)cmake -S $(NNG_SRC)' Makefile && echo cmake
}
build_dev_packages 2>&1 | sort -u >"$TMP/build-needed.txt"
dockerfile_stage_packages build | sort -u >"$TMP/build-stage.txt"
check "Dockerfile: the build stage installs every -dev package the Makefile uses" \
    bash -c 'missing=$(comm -23 "$1" "$2"); [[ -z $missing ]] || { echo "missing: $missing"; exit 1; }' \
    _ "$TMP/build-needed.txt" "$TMP/build-stage.txt"

# The health commands, run for real in a private network namespace (its own
# loopback, so port 5000 is free): the gateway's compose healthcheck against
# a gateway built above, and the services' Kubernetes liveness rule.
HC=$(pycheck compose_healthcheck_cmd 2>&1)
LIVE=$("$PY" -c '
import yaml, sys
d = [x for x in yaml.safe_load_all(open("deploy/k8s/svc-user.yaml")) if x["kind"] == "Deployment"][0]
print(d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["exec"]["command"][2])' 2>&1)
if unshare -n true 2>/dev/null && command -v ip >/dev/null && [[ -x $OUT_DIR/bin/gateway ]]; then
    cat >"$TMP/health.sh" <<'EOF'
ip link set lo up
export PATH="$BIN:$PATH"
results=()
bash -c "$HC" && results+=(up-before-start) || results+=(down-before-start)
GATEWAY_BIND=127.0.0.1 GATEWAY_PORT=5000 COMANDA_ENV=development LOG_LEVEL=error \
    USER_RPC_URL=tcp://127.0.0.1:6001 ORDER_RPC_URL=tcp://127.0.0.1:6002 PAYMENT_RPC_URL=tcp://127.0.0.1:6003 \
    gateway & pid=$!
for _ in $(seq 50); do bash -c "$HC" 2>/dev/null && break; sleep 0.1; done
bash -c "$HC" && results+=(up-while-running) || results+=(down-while-running)
sh -c "$LIVE" && results+=(live-without-service) || results+=(dead-without-service)
kill "$pid"; wait "$pid"
echo "${results[*]}"
EOF
    out=$(BIN=$OUT_DIR/bin HC=$HC LIVE=$LIVE unshare -n bash "$TMP/health.sh" 2>&1 | tail -1)
    check_eq "gateway healthcheck command: fails with no gateway, passes with one; liveness fails with no service" \
        "down-before-start up-while-running dead-without-service" "$out"
else
    skip "health commands run for real" "no network namespace (unshare -n, ip) or no build"
fi

# ---- Kubernetes ------------------------------------------------------------------------

kubeconform_run() {
    local version=$1
    shift
    "$KUBECONFORM" -strict -summary -kubernetes-version "$version" \
        -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        -ignore-filename-pattern 'kustomization\.yaml$' "$@"
}
for v in "${K8S_VERSIONS[@]}"; do
    check "deploy/k8s is valid for Kubernetes $v (kubeconform -strict, local schemas)" kubeconform_run "$v" deploy/k8s
done

# The validator really validates: a typo, a wrong type and an unknown kind fail.
cat >"$TMP/broken.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  replica: 2
  selector: {matchLabels: {app: broken}}
  template:
    metadata: {labels: {app: broken}}
    spec:
      containers: [{name: broken, image: broken, ports: [{containerPort: "http"}]}]
---
apiVersion: comanda.example/v1
kind: NoSuchKind
metadata: {name: broken}
EOF
kubeconform_run "${K8S_VERSIONS[0]:-1.30.0}" "$TMP/broken.yaml" >"$TMP/broken.out" 2>&1
check "kubeconform rejects a broken manifest (unknown field, wrong type, unknown kind)" \
    bash -c 'grep -q "Invalid: 1, Errors: 1" "$1" && grep -q "replica" "$1" && grep -q "containerPort" "$1"' _ "$TMP/broken.out"

check "deploy/k8s follows the rules (probes, resources, non-root, HPAs, selectors, secrets, lib/cfg.def names)" \
    pycheck k8s_rules

# What each service's probes make of each exit status of comanda-probe
# (tools/probe.c: 0 SERVING, 1 usage, 2 no connection, 3 the Health RPC
# failed, 4 NOT_SERVING): startup and readiness pass on SERVING only; liveness
# also on NOT_SERVING, so a database outage makes pods unready without
# restarting them all (deploy/k8s/README.md, docs/SCALING.md). A stand-in
# comanda-probe gives each status, which a real one gives only with a
# service in that state: test_services.sh checks the real NOT_SERVING (exit 4)
# against svc-user's liveness command during its PostgreSQL outage.
mkdir -p "$TMP/probe-bin"
printf '#!/bin/sh\nexit "$PROBE_RC"\n' >"$TMP/probe-bin/comanda-probe"
chmod +x "$TMP/probe-bin/comanda-probe"
verdicts_want=""
for svc in svc-order svc-payment svc-user; do
    verdicts_want+="$svc startupProbe: 0"$'\n'"$svc readinessProbe: 0"$'\n'"$svc livenessProbe: 0 4"$'\n'
done
check_eq "k8s service probes: startup and readiness pass on exit 0 only, liveness on 0 and 4 (NOT_SERVING)" \
    "${verdicts_want%$'\n'}" "$(PATH="$TMP/probe-bin:$PATH" pycheck k8s_probe_verdicts 2>&1)"
check "the kustomizations list every manifest and only existing ones" pycheck kustomization_files

# The placeholder Secret, applied as shipped (kubectl apply -k deploy/k8s
# lists it), must not run: its JWT key (36 bytes, long enough) and admin
# password are public. Each program gets the ConfigMap and the Secret values
# it is given in its Deployment, with ports of this machine; it must stop
# at start (exit 2) naming the placeholder, before connecting anywhere.
placeholder_env() { # placeholder_env PROGRAM [KEY=VALUE to replace a Secret value]
    "$PY" - "$@" <<'PYEOF'
import sys, yaml
docs = [d for f in ("configmap.yaml", "secret.yaml", sys.argv[1] + ".yaml")
        for d in yaml.safe_load_all(open("deploy/k8s/" + f)) if d]
conf = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
secret.update(kv.split("=", 1) for kv in sys.argv[2:])
pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
env = dict(conf)
for e in pod["containers"][0].get("env") or []:
    env[e["name"]] = secret[e["valueFrom"]["secretKeyRef"]["key"]]
sys.stdout.write("".join(f"{k}={v}\0" for k, v in env.items()))
PYEOF
}
placeholder_run() { # placeholder_run PROGRAM [KEY=VALUE]: "exit <rc>" and its error lines
    local -a vars ports
    local rc
    mapfile -d '' vars < <(placeholder_env "$@")
    ((${#vars[@]})) || { echo "no environment"; return; }
    read -r -a ports <<<"$(free_ports 3)"
    env -i PATH="$PATH" "${vars[@]}" GATEWAY_BIND=127.0.0.1 GATEWAY_PORT="${ports[0]}" ADMIN_BIND=127.0.0.1 \
        USER_ADMIN_PORT="${ports[1]}" USER_RPC_LISTEN="tcp://127.0.0.1:${ports[2]}" \
        timeout 10 "$OUT_DIR/bin/$1" >"$TMP/placeholder.log" 2>&1
    rc=$?
    echo "exit $rc $(grep '"level":"error"' "$TMP/placeholder.log" | head -n 2)"
}
if [[ -x $OUT_DIR/bin/gateway && -x $OUT_DIR/bin/svc-user ]]; then
    check_match "secret.yaml as shipped stops the gateway (exit 2, JWT_SECRET a placeholder)" \
        '^exit 2 .*JWT_SECRET still holds a placeholder' "$(placeholder_run gateway)"
    check_match "secret.yaml as shipped stops svc-user (exit 2, JWT_SECRET a placeholder)" \
        '^exit 2 .*JWT_SECRET still holds a placeholder' "$(placeholder_run svc-user)"
    check_match "... and with a real JWT_SECRET, still stops svc-user (exit 2, ADMIN_PASSWORD a placeholder)" \
        '^exit 2 .*ADMIN_PASSWORD still holds a placeholder' \
        "$(placeholder_run svc-user JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')")"
    check_match "... and a placeholder JWT_SECRET_PREVIOUS stops the gateway too (exit 2)" \
        '^exit 2 .*JWT_SECRET_PREVIOUS still holds a placeholder' \
        "$(placeholder_run gateway JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
            JWT_SECRET_PREVIOUS=CHANGE-ME-to-32-or-more-random-bytes)"
else
    skip "secret.yaml's placeholders stop the programs" "the build failed"
fi

if command -v kubectl >/dev/null 2>&1; then
    for k in deploy/k8s deploy/k8s/dev-databases; do
        check "kustomize build of $k is valid (kubectl kustomize | kubeconform)" \
            bash -c 'set -o pipefail; kubectl kustomize "$1" >"$2" && "$3" -strict -summary -kubernetes-version "$4" -schema-location "$5" "$2"' \
            _ "$k" "$TMP/kustomized.yaml" "$KUBECONFORM" "${K8S_VERSIONS[-1]}" \
            "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    done
else
    skip "kustomize build of deploy/k8s" "kubectl not installed"
fi

finish
