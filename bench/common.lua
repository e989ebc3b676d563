-- Shared by bench/*.lua (loaded with dofile by each scenario script).
--
-- Arguments after wrk's `--` are NAME=VALUE pairs: token=JWT, ids=a,b,c
-- (path ids to cycle through), run=RUNID (makes keys and e-mails unique
-- across runs). The environment variable BENCH_OUT names the JSON file that
-- done() writes: requests, req/s, latency percentiles (ms), wrk's error
-- counts. "non2xx" is wrk's status error count, i.e. responses with a status
-- of 400 or more (the API answers neither 1xx nor 3xx on these routes).
local M = {}

M.args = {}
M.ids = {}
M.tid = 0        -- this thread's number (1..threads), set by setup()
M.n = 0          -- requests made by this thread

local threads = {}
local thread_count = 0

-- Called by wrk in the main state, once per thread, before init().
function M.setup(thread)
   thread_count = thread_count + 1
   thread:set("tid", thread_count)
   table.insert(threads, thread)
end

-- Called by wrk in each thread's state.
function M.init(argv)
   for _, a in ipairs(argv) do
      local k, v = a:match("^([%w_]+)=(.*)$")
      if k then M.args[k] = v end
   end
   for id in (M.args.ids or ""):gmatch("[^,]+") do table.insert(M.ids, id) end
   M.tid = tonumber(wrk.thread:get("tid")) or 0
   M.run = M.args.run or "run"
   M.headers = { ["Accept"] = "application/json" }
   if M.args.token and M.args.token ~= "" then
      M.headers["Authorization"] = "Bearer " .. M.args.token
   end
end

-- A request function that cycles through GET PREFIX..id over the ids
-- (threads start at different offsets), each request formatted once here
-- rather than by wrk.format on every call. The load generator shares the
-- stack's two CPUs, and formatting a request with its ~200-byte token in
-- Lua took a quarter of wrk's CPU: 8.8-11.0 against 6.8-7.4 µs per
-- GET /api/users/{id} (time(1) over 5 s runs, 2026-11-28). Same bytes sent.
function M.get_cycle(prefix)
   local reqs = {}
   for i, id in ipairs(M.ids) do reqs[i] = wrk.format("GET", prefix .. id, M.headers) end
   return function()
      M.n = M.n + 1
      return reqs[((M.tid + M.n) % #reqs) + 1]
   end
end

-- A string unique to this request in this run: "RUN-TID-N".
function M.unique()
   M.n = M.n + 1
   return string.format("%s-%d-%d", M.run, M.tid, M.n)
end

-- Headers for a request with a JSON body and a fresh Idempotency-Key.
function M.post_headers(key)
   local h = {}
   for k, v in pairs(M.headers) do h[k] = v end
   h["Content-Type"] = "application/json"
   h["Idempotency-Key"] = key
   return h
end

local function ms(us) return us / 1000.0 end

-- The sum over every thread of a global NAME each thread's state keeps
-- (call in the main state, e.g. from done()).
function M.sum(name)
   local n = 0
   for _, t in ipairs(threads) do n = n + (tonumber(t:get(name)) or 0) end
   return n
end

-- A scenario may set M.extra to a function returning more JSON fields
-- (',"name":value...'), added to what done() writes.
M.extra = nil

-- Called by wrk in the main state at the end.
function M.done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   local out = string.format(
      '{"tool":"wrk","requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
      '"mean_ms":%.3f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
      '"non2xx":%d,"socket_errors":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      summary.requests, secs, summary.requests / secs, summary.bytes,
      ms(latency.mean), ms(latency:percentile(50)), ms(latency:percentile(90)),
      ms(latency:percentile(99)), ms(latency.max),
      e.status, e.connect + e.read + e.write + e.timeout,
      e.connect, e.read, e.write, e.status, e.timeout)
   if M.extra then out = out:gsub("}\n$", M.extra() .. "}\n") end
   local path = os.getenv("BENCH_OUT")
   if path and path ~= "" then
      local f = assert(io.open(path, "w"))
      f:write(out)
      f:close()
   else
      io.write(out)
   end
end

return M
