-- POST /api/users with a unique e-mail and Idempotency-Key per request.
--   mode=admin  (with token=JWT): an admin creates a user without a password,
--               the database write path without password hashing;
--   mode=signup (no token): an anonymous sign-up with a password, which
--               svc-user hashes with Argon2id (t=2, m=19 MiB).
-- wrk -s bench/create_user.lua URL -- mode=admin token=JWT run=RUNID
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup, done = c.setup, c.done

local signup = false

function init(argv)
   c.init(argv)
   signup = c.args.mode == "signup"
end

function request()
   local u = c.unique()
   local body
   if signup then
      body = string.format('{"name":"Bench %s","email":"bench-%s@example.com","password":"bench-password-1"}', u, u)
   else
      body = string.format('{"name":"Bench %s","email":"bench-%s@example.com"}', u, u)
   end
   return wrk.format("POST", "/api/users", c.post_headers("bench-user-" .. u), body)
end
