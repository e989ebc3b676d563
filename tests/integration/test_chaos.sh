#!/usr/bin/env bash
# The saga's chaos test (tests/chaos/chaos.sh) at CI size; run it by hand with
# CHAOS_ORDERS=200 CHAOS_CONCURRENCY=8 for more.
exec "$(dirname "${BASH_SOURCE[0]}")/../chaos/chaos.sh" "$@"
