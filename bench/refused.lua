-- Requests the API must refuse with a 4xx, cycled: a malformed id, a body
-- that is not JSON, an invalid token, an unknown route, a user and an order
-- that fail validation, a user that does not exist. For the soak: the error
-- paths allocate and free too. Every answer is a non-2xx for wrk; the JSON
-- field "unexpected" counts answers outside 400-499 (must be 0).
-- wrk -s bench/refused.lua URL -- token=JWT
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
setup, init = c.setup, c.init

unexpected = 0

local function json_headers(token)
   local h = { ["Accept"] = "application/json", ["Content-Type"] = "application/json" }
   if token then h["Authorization"] = "Bearer " .. token end
   return h
end

local cases = {
   function() return wrk.format("GET", "/api/users/abc", c.headers) end,
   function() return wrk.format("POST", "/api/orders", json_headers(c.args.token), "{bad") end,
   function() return wrk.format("GET", "/api/orders", json_headers("x.y.z")) end,
   function() return wrk.format("GET", "/api/nope", c.headers) end,
   function()
      return wrk.format("POST", "/api/users", json_headers(c.args.token), '{"name":"","email":"not-an-email"}')
   end,
   function() return wrk.format("GET", "/api/users/999999999", c.headers) end,
   function()
      return wrk.format("POST", "/api/orders", json_headers(c.args.token), '{"items":[],"payment_method":"cash"}')
   end,
}

function request()
   c.n = c.n + 1
   return cases[(c.n % #cases) + 1]()
end

function response(status)
   if status < 400 or status > 499 then unexpected = unexpected + 1 end
end

c.extra = function() return string.format(',"unexpected":%d', c.sum("unexpected")) end
done = c.done
