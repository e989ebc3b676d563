-- GET /api/users/{id} as an admin, cycling through the seeded users.
-- wrk -s bench/get_user.lua URL -- token=JWT ids=2,3,4
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup, done = c.setup, c.done

local next_request
function init(argv)
   c.init(argv)
   next_request = c.get_cycle("/api/users/")
end

function request()
   return next_request()
end
