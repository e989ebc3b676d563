-- GET /health: the gateway answering a route that makes no RPC.
-- wrk -s bench/health.lua URL   (no arguments; the request is static)
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup = c.setup
done = c.done
wrk.method = "GET"
wrk.path = "/health"
wrk.headers["Accept"] = "application/json"
