-- GET /api/orders/{id} as an admin, cycling through the seeded orders.
-- wrk -s bench/get_order.lua URL -- token=JWT ids=ID,ID,...
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup, done = c.setup, c.done

local next_request
function init(argv)
   c.init(argv)
   next_request = c.get_cycle("/api/orders/")
end

function request()
   return next_request()
end
