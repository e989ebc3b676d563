# Comanda's container image: ONE image holding all four programs (gateway,
# svc-user, svc-order, svc-payment) and comanda-probe; compose.yaml and
# deploy/k8s choose the program with the container's command.
#
# Why one image and not one per program: the four programs link the same nine
# libraries and are built by one `make` from the same gen/ contracts, so one
# image costs ~2 MB more than the smallest per-program image would, is built,
# scanned and signed once, and cannot pair a gateway with services of another
# commit (their RPC contracts are compiled in).
#
#   docker build -t comanda:local .
#   docker build --build-arg COMANDA_VERSION=1.2.3 -t comanda:1.2.3 .
#   docker run --rm comanda:local comanda-probe -h       # the programs are on PATH
#
# Stages: `build` (debian:bookworm + compilers + -dev packages, runs make) and
# `runtime` (debian:bookworm-slim + the runtime libraries only, non-root; the
# default target). There is no HEALTHCHECK here: it would differ per program,
# so compose.yaml and the Kubernetes manifests define it.
#
# The image also carries the gateway's static web UI (web/, when the tree has
# one) at WEB_ROOT=/usr/local/share/comanda/web.
#
# Not built or run in this repository's CI (no Docker engine there):
# tests/integration/test_deploy.sh checks this file statically and runs the
# build stage's own `RUN make ...` line on the exact build context
# (.dockerignore applied).

ARG DEBIAN_RELEASE=bookworm

# ---- build --------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE} AS build

# What `make all` needs (scripts/deps.sh lists the full development set; the
# code generators and servers are not needed: gen/ is committed). NNG is built
# from third_party/nng with CMake and linked statically.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config cmake \
        libprotobuf-c-dev libpq-dev libmongoc-dev libbson-dev \
        librabbitmq-dev libmicrohttpd-dev libjson-c-dev libsodium-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# The version every program reports (Health RPC, /status).
ARG COMANDA_VERSION=0.1.0-dev
RUN make -j"$(nproc)" all EXTRA_CFLAGS='-DCOMANDA_VERSION=\"'"${COMANDA_VERSION}"'\"' \
 && mkdir -p /out/bin /out/web \
 && cp build/bin/gateway build/bin/svc-user build/bin/svc-order build/bin/svc-payment \
       build/bin/comanda-probe /out/bin/ \
 && if [ -d web ]; then cp -R web/. /out/web/; fi

# ---- runtime --------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# Exactly the shared libraries the programs load (test_deploy.sh compares this
# list with the binaries' DT_NEEDED entries), plus ca-certificates for TLS to
# managed databases and brokers. No compiler, no shell tools beyond the base.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libprotobuf-c1 libpq5 libmongoc-1.0-0 libbson-1.0-0 \
        librabbitmq4 libmicrohttpd12 libjson-c5 libsodium23 \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid, so Kubernetes can check runAsNonRoot and the
# manifests can name it (runAsUser: 10001).
RUN groupadd --system --gid 10001 comanda \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin comanda

COPY --from=build /out/bin/ /usr/local/bin/
# The gateway's static web UI (web/, served from WEB_ROOT), when the tree has one.
COPY --from=build /out/web/ /usr/local/share/comanda/web/

ARG COMANDA_VERSION=0.1.0-dev
LABEL org.opencontainers.image.title="comanda" \
      org.opencontainers.image.description="Comanda order-management backend: gateway, svc-user, svc-order, svc-payment, comanda-probe" \
      org.opencontainers.image.version="${COMANDA_VERSION}"

ENV COMANDA_ENV=production \
    WEB_ROOT=/usr/local/share/comanda/web
USER 10001:10001
# gateway 5000; admin HTTP 5001-5003; RPC (NNG) 6001-6003
EXPOSE 5000 5001 5002 5003 6001 6002 6003
# Exec form: the program is PID 1 and gets SIGTERM itself (each one stops
# cleanly on it). Override the command to run another program.
CMD ["gateway"]
