-- POST /api/orders as an admin (for itself), payment_method cash (no charge,
-- so the payment saga does not run), a unique Idempotency-Key per request.
-- wrk -s bench/create_order.lua URL -- token=JWT run=RUNID
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup, init, done = c.setup, c.init, c.done

local body = '{"items":[{"product":"Bench widget","quantity":2,"price":19.99},' ..
             '{"product":"Bench gadget","quantity":1,"price":5}],"payment_method":"cash"}'

function request()
   return wrk.format("POST", "/api/orders", c.post_headers("bench-order-" .. c.unique()), body)
end
