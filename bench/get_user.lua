-- GET /api/users/{id} as an admin, cycling through the seeded users.
-- wrk -s bench/get_user.lua URL -- token=JWT ids=2,3,4
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup, init, done = c.setup, c.init, c.done

function request()
   return wrk.format("GET", "/api/users/" .. c.next_id(), c.headers)
end
