#!/usr/bin/env bash
# Installs what Comanda needs to build, test and run its local stack on
# Debian 12 (run as root): the Debian packages below, then FerretDB (built
# from its Go module into a cache outside the repository).
#
#   scripts/deps.sh                 install what is missing (root for packages)
#   scripts/deps.sh --check         exit 0 iff everything is present, else list what is missing
#   scripts/deps.sh --ferretdb-path print where the FerretDB binary lives (used by stack.sh)
#
# On other systems, install the equivalents of:
#   C toolchain (gcc, make), pkg-config, python3, curl, clang with its
#   sanitizer runtimes, protobuf-c (library + protoc-c), NNG 1.5, libpq,
#   mongo-c-driver (libmongoc + libbson), rabbitmq-c 0.11, libmicrohttpd,
#   json-c, libsodium, PostgreSQL 15 server (+ contrib), RabbitMQ server,
#   wrk, jq, and Go >= 1.24 (to build FerretDB v1.24.2).
#
# Environment:
#   COMANDA_CACHE  cache directory (default ~/.cache/comanda); FerretDB goes to
#                  $COMANDA_CACHE/bin/ferretdb-<version>
#   GO             the go binary (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

PACKAGES=(
    build-essential pkg-config python3 curl
    libprotobuf-c-dev protobuf-c-compiler libnng-dev libpq-dev
    libmongoc-dev libbson-dev librabbitmq-dev libmicrohttpd-dev
    libjson-c-dev libsodium-dev
    postgresql-15 postgresql-contrib rabbitmq-server
    clang libclang-rt-14-dev wrk jq
)

FERRETDB_MODULE=github.com/FerretDB/FerretDB
FERRETDB_VERSION=v1.24.2
CACHE_DIR=${COMANDA_CACHE:-${HOME:-/root}/.cache/comanda}
FERRETDB_BIN="$CACHE_DIR/bin/ferretdb-$FERRETDB_VERSION"

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

main() {
    case ${1:-} in
    --ferretdb-path)
        printf '%s\n' "$FERRETDB_BIN"
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
        return "$ok"
    fi

    if ((${#missing[@]})); then
        if ((EUID != 0)); then
            log "these Debian packages are missing; as root run:"
            log "  apt-get update && apt-get install -y ${missing[*]}"
            ferretdb_present || log "and then this script again to build FerretDB into $FERRETDB_BIN"
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
}

main "$@"
