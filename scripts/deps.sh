#!/usr/bin/env bash
# Installs what Comanda needs to build, test and run its local stack on
# Debian 12 (run as root): the Debian packages below, then FerretDB (built
# from its Go module into a cache outside the repository), then the deployment
# validators of tests/integration/test_deploy.sh: kubeconform (from its Go
# module) and the Kubernetes JSON schemas it checks against (from the PyPI
# package kubernetes-validate, which ships them; there is no network for
# kubeconform's usual download).
#
#   scripts/deps.sh                 install what is missing (root for packages)
#   scripts/deps.sh --check         exit 0 iff everything is present, else list what is missing
#   scripts/deps.sh --ferretdb-path print where the FerretDB binary lives (used by stack.sh)
#   scripts/deps.sh --kubeconform-path  print where kubeconform lives (used by test_deploy.sh)
#   scripts/deps.sh --k8s-schema-dir    print where the Kubernetes schemas live (same)
#
# On other systems, install the equivalents of:
#   C toolchain (gcc, make), pkg-config, python3 with PyYAML (make gen /
#   check-gen embed docs/openapi.yaml), curl, clang with its
#   sanitizer runtimes, protobuf-c (library + protoc-c), NNG 1.5, libpq,
#   mongo-c-driver (libmongoc + libbson), rabbitmq-c 0.11, libmicrohttpd,
#   json-c, libsodium, PostgreSQL 15 server (+ contrib), RabbitMQ server,
#   wrk, jq, and Go >= 1.24 (to build FerretDB v1.24.2 and kubeconform),
#   docker-compose (only to validate compose.yaml; no engine needed),
#   chromium and Node.js >= 20 with npm (the web UI's browser tests).
#
# Environment:
#   COMANDA_CACHE  cache directory (default ~/.cache/comanda); FerretDB goes to
#                  $COMANDA_CACHE/bin/ferretdb-<version>, kubeconform to
#                  $COMANDA_CACHE/bin/kubeconform-<version>, the schemas to
#                  $COMANDA_CACHE/k8s-schemas/<package>-<version>/
#   GO             the go binary (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

PACKAGES=(
    build-essential pkg-config cmake python3 python3-yaml curl
    libprotobuf-c-dev protobuf-c-compiler libpq-dev
    libmongoc-dev libbson-dev librabbitmq-dev libmicrohttpd-dev
    libjson-c-dev libsodium-dev
    postgresql-15 postgresql-contrib rabbitmq-server
    clang libclang-rt-14-dev wrk jq
    chromium
    docker-compose
)

FERRETDB_MODULE=github.com/FerretDB/FerretDB
FERRETDB_VERSION=v1.24.2
CACHE_DIR=${COMANDA_CACHE:-${HOME:-/root}/.cache/comanda}
FERRETDB_BIN="$CACHE_DIR/bin/ferretdb-$FERRETDB_VERSION"

KUBECONFORM_MODULE=github.com/yannh/kubeconform
KUBECONFORM_VERSION=v0.8.0
KUBECONFORM_BIN="$CACHE_DIR/bin/kubeconform-$KUBECONFORM_VERSION"
# The wheel of kubernetes-validate carries the Kubernetes JSON schemas (one
# directory per Kubernetes minor version); its hash is pinned.
K8S_SCHEMA_PACKAGE=kubernetes-validate
K8S_SCHEMA_PACKAGE_VERSION=1.37.0
K8S_SCHEMA_WHEEL_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
# The Kubernetes versions test_deploy.sh validates against (oldest and newest supported).
K8S_SCHEMA_VERSIONS=(1.30.0 1.37.0)
K8S_SCHEMA_DIR="$CACHE_DIR/k8s-schemas/$K8S_SCHEMA_PACKAGE-$K8S_SCHEMA_PACKAGE_VERSION"

log() { printf 'deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the packages of PACKAGES that dpkg does not report as installed.
missing_packages() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
    done
}

ferretdb_present() { [[ -x $FERRETDB_BIN ]]; }
kubeconform_present() { [[ -x $KUBECONFORM_BIN ]]; }
k8s_schemas_present() { [[ -f $K8S_SCHEMA_DIR/.complete ]]; }

find_go() {
    if [[ -n ${GO:-} ]]; then
        printf '%s\n' "$GO"
    elif command -v go >/dev/null 2>&1; then
        command -v go
    elif [[ -x /usr/local/go/bin/go ]]; then
        printf '%s\n' /usr/local/go/bin/go
    else
        return 1
    fi
}

# Builds FerretDB from its Go module into $FERRETDB_BIN (about 75 s).
#
# A plain `go install .../cmd/ferretdb@v1.24.2` builds a binary that panics at
# start ("Invalid build/version/version.txt file content"): the released module
# lacks the version.txt its release pipeline generates. So: download the
# module, copy it to a scratch directory, write version.txt, build there.
build_ferretdb() {
    local go src work
    go=$(find_go) || die "Go is needed to build FerretDB and was not found (expected /usr/local/go/bin/go; set GO=/path/to/go)"
    log "building FerretDB $FERRETDB_VERSION with $("$go" version) (takes about a minute)"

    export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
    src=$("$go" mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') ||
        die "could not download $FERRETDB_MODULE@$FERRETDB_VERSION"

    work=$(mktemp -d "${TMPDIR:-/tmp}/comanda-ferretdb.XXXXXX")
    # shellcheck disable=SC2064  # expand $work now
    trap "rm -rf '$work'" EXIT
    cp -R "$src" "$work/src"
    chmod -R u+w "$work/src"
    printf '%s\n' "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
    printf '%s\n' comanda-local >"$work/src/build/version/package.txt"

    mkdir -p "$(dirname "$FERRETDB_BIN")"
    (cd "$work/src" && "$go" build -trimpath -o "$work/ferretdb" ./cmd/ferretdb) ||
        die "FerretDB build failed"
    "$work/ferretdb" --version | grep -q "version: $FERRETDB_VERSION" ||
        die "the FerretDB just built does not report version $FERRETDB_VERSION"
    mv -f "$work/ferretdb" "$FERRETDB_BIN"   # atomic: a half-built binary is never "present"
    log "FerretDB installed at $FERRETDB_BIN"
}

# Builds kubeconform from its Go module into $KUBECONFORM_BIN (about 10 s).
build_kubeconform() {
    local go work
    go=$(find_go) || die "Go is needed to build kubeconform and was not found (expected /usr/local/go/bin/go; set GO=/path/to/go)"
    log "building kubeconform $KUBECONFORM_VERSION with $("$go" version)"
    work=$(mktemp -d "${TMPDIR:-/tmp}/comanda-kubeconform.XXXXXX")
    GOBIN="$work" GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" \
        "$go" install "$KUBECONFORM_MODULE/cmd/kubeconform@$KUBECONFORM_VERSION" ||
        { rm -rf "$work"; die "kubeconform build failed"; }
    mkdir -p "$(dirname "$KUBECONFORM_BIN")"
    mv -f "$work/kubeconform" "$KUBECONFORM_BIN"
    rm -rf "$work"
    log "kubeconform installed at $KUBECONFORM_BIN"
}

# Unpacks the strict schemas of K8S_SCHEMA_VERSIONS from the kubernetes-validate
# wheel into $K8S_SCHEMA_DIR/v<version>-local-strict/, in the layout
# kubeconform's -schema-location template expects. The wheel's schemas refer
# to their shared definitions by an https URL (kubernetes.io/api/...), which
# kubeconform would try to download: the refs are rewritten to the
# _definitions.json beside them, and the $id that anchors that URL is dropped.
fetch_k8s_schemas() {
    local work
    python3 -m pip --version >/dev/null 2>&1 ||
        die "pip is needed to fetch $K8S_SCHEMA_PACKAGE (install python3-pip)"
    log "fetching Kubernetes schemas ($K8S_SCHEMA_PACKAGE $K8S_SCHEMA_PACKAGE_VERSION, for ${K8S_SCHEMA_VERSIONS[*]})"
    work=$(mktemp -d "${TMPDIR:-/tmp}/comanda-k8s-schemas.XXXXXX")
    printf '%s==%s --hash=sha256:%s\n' "$K8S_SCHEMA_PACKAGE" "$K8S_SCHEMA_PACKAGE_VERSION" \
        "$K8S_SCHEMA_WHEEL_SHA256" >"$work/requirements.txt"
    python3 -m pip download -q --no-deps --only-binary=:all: --require-hashes \
        -r "$work/requirements.txt" -d "$work/wheel" ||
        { rm -rf "$work"; die "could not download $K8S_SCHEMA_PACKAGE==$K8S_SCHEMA_PACKAGE_VERSION"; }
    python3 - "$work/wheel"/*.whl "$work/schemas" "${K8S_SCHEMA_VERSIONS[@]}" <<'PY' ||
import json, os, sys, zipfile
wheel, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
z = zipfile.ZipFile(wheel)
for v in versions:
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{v}-local-strict/"
    dest = os.path.join(out, f"v{v}-local-strict")
    os.makedirs(dest)
    n = 0
    for name in z.namelist():
        if name.startswith(prefix) and name.endswith(".json") and "/" not in name[len(prefix):]:
            doc = json.loads(z.read(name))
            doc.pop("$id", None)
            text = json.dumps(doc).replace('"/api/_definitions.json#', '"_definitions.json#')
            with open(os.path.join(dest, name[len(prefix):]), "w") as f:
                f.write(text)
            n += 1
    if n < 100 or not os.path.exists(os.path.join(dest, "_definitions.json")):
        sys.exit(f"the wheel has no usable schemas for Kubernetes {v}")
PY
        { rm -rf "$work"; die "could not unpack the Kubernetes schemas"; }
    touch "$work/schemas/.complete"
    mkdir -p "$(dirname "$K8S_SCHEMA_DIR")"
    rm -rf "$K8S_SCHEMA_DIR"
    mv "$work/schemas" "$K8S_SCHEMA_DIR"
    rm -rf "$work"
    log "Kubernetes schemas installed in $K8S_SCHEMA_DIR"
}

main() {
    case ${1:-} in
    --ferretdb-path)
        printf '%s\n' "$FERRETDB_BIN"
        return 0
        ;;
    --kubeconform-path)
        printf '%s\n' "$KUBECONFORM_BIN"
        return 0
        ;;
    --k8s-schema-dir)
        printf '%s\n' "$K8S_SCHEMA_DIR"
        return 0
        ;;
    --check | "") ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        return 0
        ;;
    *) die "unknown argument: $1 (try --help)" ;;
    esac

    local -a missing
    mapfile -t missing < <(missing_packages)

    if [[ ${1:-} == --check ]]; then
        local ok=0
        if ((${#missing[@]})); then
            log "missing Debian packages: ${missing[*]}"
            ok=1
        fi
        if ! ferretdb_present; then
            log "missing FerretDB $FERRETDB_VERSION at $FERRETDB_BIN"
            ok=1
        fi
        if ! kubeconform_present; then
            log "missing kubeconform $KUBECONFORM_VERSION at $KUBECONFORM_BIN"
            ok=1
        fi
        if ! k8s_schemas_present; then
            log "missing Kubernetes schemas in $K8S_SCHEMA_DIR"
            ok=1
        fi
        return "$ok"
    fi

    if ((${#missing[@]})); then
        if ((EUID != 0)); then
            log "these Debian packages are missing; as root run:"
            log "  apt-get update && apt-get install -y ${missing[*]}"
            if ! { ferretdb_present && kubeconform_present && k8s_schemas_present; }; then
                log "and then this script again to build FerretDB and kubeconform and fetch the Kubernetes schemas into $CACHE_DIR"
            fi
            exit 1
        fi
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q "${missing[@]}"
    else
        log "all Debian packages present"
    fi

    if ferretdb_present; then
        log "FerretDB $FERRETDB_VERSION present at $FERRETDB_BIN"
    else
        build_ferretdb
    fi

    if kubeconform_present; then
        log "kubeconform $KUBECONFORM_VERSION present at $KUBECONFORM_BIN"
    else
        build_kubeconform
    fi

    if k8s_schemas_present; then
        log "Kubernetes schemas present in $K8S_SCHEMA_DIR"
    else
        fetch_k8s_schemas
    fi
}

main "$@"
