-- wrk script for bench/bench.py: sends the requests of a request file, each exactly
-- once, then stops.
--
--   wrk -t T -c C -d 3600s --timeout 60s -s bench/requests.lua URL -- FILE TOTAL T
--
-- FILE holds one request per line: KIND \t METHOD \t PATH \t BODY, where KIND says
-- what the answer must be: "ok" (EnOS code 0), "fail" (an EnOS envelope with a non-zero
-- code) or "raw" (HTTP 200 that is not an EnOS envelope, e.g. a PEM or a CRL).
-- Request number i (0 <= i < TOTAL) is line (i mod #lines) + 1: with TOTAL equal to the
-- number of lines every line is sent once; a larger TOTAL cycles through the file.
-- Thread t of T gets the contiguous slice of request numbers [t*TOTAL/T, (t+1)*TOTAL/T).
-- Once a thread has sent its slice its connections wait (delay()) and, when the last
-- answer is in, the thread stops and writes WRK_THREAD_DONE to stderr; the driver then
-- interrupts wrk (which otherwise sleeps for -d) so that done() prints the result line:
--   WRK_RESULT {"sent": {...}, "answers": {...}, "latency_us": {...}, ...}

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
local lines = {}
local formatted = {}
local kinds = {}
local first, last, nxt = 0, 0, 0
local expected = 0
sent_ok, sent_fail, sent_raw = 0, 0, 0
got_code0, got_code_other, got_raw, got_http_error = 0, 0, 0, 0
local headers_post = {
   ["Content-Type"] = "application/json",
   ["apim-accesstoken"] = "bench-token",
}
local headers_get = { ["apim-accesstoken"] = "bench-token" }

local function split_tabs(line)
   local parts = {}
   local start = 1
   for _ = 1, 3 do
      local i = string.find(line, "\t", start, true)
      if not i then break end
      table.insert(parts, string.sub(line, start, i - 1))
      start = i + 1
   end
   table.insert(parts, string.sub(line, start))
   return parts
end

function init(args)
   local file, total, nthreads = args[1], tonumber(args[2]), tonumber(args[3])
   if not (file and total and nthreads) then
      error("usage: -- FILE TOTAL THREADS")
   end
   for line in io.lines(file) do
      if #line > 0 then
         table.insert(lines, line)
      end
   end
   if #lines == 0 then error("no requests in " .. file) end
   first = math.floor(tid * total / nthreads)
   last = math.floor((tid + 1) * total / nthreads)
   nxt = first
   expected = last - first
end

-- wrk calls delay() before every request it sends (a script with delay() makes every
-- connection wait for it), so delay() hands out the slots: `granted` slots are promised
-- to connections whose request() is still to come. request() is also called once by
-- wrk itself, on thread 0 before the run, to look at the request; that call has no slot
-- and is never sent, so it must not use up a request.
local granted = 0

function delay()
   if nxt + granted >= last then
      -- Nothing left to send on this thread: park the connection; the thread stops
      -- when its last answer arrives.
      return 3600000
   end
   granted = granted + 1
   return 0
end

function request()
   if granted == 0 then
      -- wrk's look at the request before the run (never sent).
      return wrk.format("GET", "/__admin/health")
   end
   granted = granted - 1
   local n = (nxt % #lines) + 1
   nxt = nxt + 1
   local req = formatted[n]
   local kind = kinds[n]
   if not req then
      local parts = split_tabs(lines[n])
      local method, path, body = parts[2], parts[3], parts[4]
      if body == "" then body = nil end
      if method == "GET" then
         req = wrk.format(method, path, headers_get, body)
      else
         req = wrk.format(method, path, headers_post, body)
      end
      kind = parts[1]
      formatted[n], kinds[n] = req, kind
   end
   if kind == "ok" then
      sent_ok = sent_ok + 1
   elseif kind == "fail" then
      sent_fail = sent_fail + 1
   else
      sent_raw = sent_raw + 1
   end
   return req
end

function response(status, headers, body)
   if status ~= 200 then
      got_http_error = got_http_error + 1
   elseif string.sub(body, 1, 10) == '{"code":0,' then
      got_code0 = got_code0 + 1
   elseif string.sub(body, 1, 8) == '{"code":' then
      got_code_other = got_code_other + 1
   else
      got_raw = got_raw + 1
   end
   local answered = got_http_error + got_code0 + got_code_other + got_raw
   if answered >= expected then
      io.stderr:write("WRK_THREAD_DONE\n")
      io.stderr:flush()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local keys = { "sent_ok", "sent_fail", "sent_raw", "got_code0", "got_code_other",
                  "got_raw", "got_http_error" }
   local totals = {}
   for _, k in ipairs(keys) do totals[k] = 0 end
   for _, t in ipairs(threads) do
      for _, k in ipairs(keys) do
         totals[k] = totals[k] + (tonumber(t:get(k)) or 0)
      end
   end
   local parts = {}
   for _, k in ipairs(keys) do
      table.insert(parts, string.format('"%s": %d', k, totals[k]))
   end
   local lat = {}
   for _, p in ipairs({ 50, 90, 99, 99.9 }) do
      table.insert(lat, string.format('"p%s": %d', tostring(p), latency:percentile(p)))
   end
   table.insert(lat, string.format('"mean": %.1f', latency.mean))
   table.insert(lat, string.format('"max": %d', latency.max))
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {%s, "latency_us": {%s}, "wrk_requests": %d, "wrk_duration_us": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      table.concat(parts, ", "), table.concat(lat, ", "), summary.requests, summary.duration,
      e.connect, e.read, e.write, e.status, e.timeout))
end
