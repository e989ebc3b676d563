-- GET /api/orders/{id} as an admin, cycling through the seeded orders.
-- wrk -s bench/get_order.lua URL -- token=JWT ids=ID,ID,...
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup, init, done = c.setup, c.init, c.done

function request()
   return wrk.format("GET", "/api/orders/" .. c.next_id(), c.headers)
end
