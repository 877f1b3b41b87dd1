-- bench/wrk.lua: the one wrk script of bench/run.sh.  What it sends is
-- set by the environment, so every run shares the same summary line:
--
--   SJ_METHOD      GET (default) or POST
--   SJ_BODY        request body (POST), sent with SJ_CTYPE
--   SJ_CTYPE       Content-Type of the body (default application/json)
--   SJ_HEADER      one extra request header, "Name: value"
--   SJ_TOKENS      a file of bearer tokens, one a line: thread k of
--                  SJ_THREADS takes lines k, k + SJ_THREADS, ... and each
--                  request sends the thread's next one (Authorization),
--                  so requests of one token are as far apart as can be
--   SJ_DELAY_MS    mean pause before each request, in ms (0: none); the
--                  pause is drawn uniformly from [0.5, 1.5] x the mean so
--                  the connections do not fire in step
--   SJ_STOP_AFTER  each thread stops after this many responses and
--                  creates the file SJ_MARK<thread number>; run.sh then
--                  ends wrk with SIGINT (wrk itself runs for -d)
--
-- done() prints one line for run.sh to parse (times in ms):
--   SJRESULT requests=N seconds=S rps=R p50=.. p90=.. p95=.. p99=.. max=..
--            status_errors=N socket_errors=N

local method = os.getenv("SJ_METHOD") or "GET"
local body = os.getenv("SJ_BODY")
local delay_ms = tonumber(os.getenv("SJ_DELAY_MS") or "0") or 0
local stop_after = tonumber(os.getenv("SJ_STOP_AFTER") or "0") or 0
local mark = os.getenv("SJ_MARK")

wrk.method = method
if body ~= nil and body ~= "" then
	wrk.body = body
	wrk.headers["Content-Type"] = os.getenv("SJ_CTYPE") or "application/json"
end

local header = os.getenv("SJ_HEADER")
if header ~= nil then
	local name, value = header:match("^([^:]+):%s*(.*)$")
	if name ~= nil then
		wrk.headers[name] = value
	end
end

local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("sj_id", threads)
end

local tokens_file = os.getenv("SJ_TOKENS")
local tokens = {}

function init(args)
	local id = wrk.thread:get("sj_id") or 1
	local n = tonumber(os.getenv("SJ_THREADS") or "1") or 1
	math.randomseed(os.time() + id * 7919)
	if tokens_file ~= nil then
		local i = 0
		for line in io.lines(tokens_file) do
			if i % n == id - 1 and line ~= "" then
				tokens[#tokens + 1] = line
			end
			i = i + 1
		end
		if #tokens == 0 then
			error("SJ_TOKENS: no token for thread " .. id .. " of " .. n)
		end
	end
end

if tokens_file ~= nil then
	local at = 0
	function request()
		at = at % #tokens + 1
		wrk.headers["Authorization"] = "Bearer " .. tokens[at]
		return wrk.format()
	end
end

if delay_ms > 0 then
	function delay()
		return math.floor(delay_ms * (0.5 + math.random()))
	end
end

if stop_after > 0 then
	local seen = 0
	function response(status, headers, resp_body)
		seen = seen + 1
		if seen == stop_after then
			if mark ~= nil then
				local f = io.open(mark .. wrk.thread:get("sj_id"), "w")
				if f ~= nil then
					f:close()
				end
			end
			wrk.thread:stop()
		end
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	local ms = function(p)
		return latency:percentile(p) / 1000.0
	end
	local secs = summary.duration / 1e6
	io.write(string.format(
		"SJRESULT requests=%d seconds=%.3f rps=%.1f p50=%.3f p90=%.3f " ..
		"p95=%.3f p99=%.3f max=%.3f status_errors=%d socket_errors=%d\n",
		summary.requests, secs, summary.requests / secs, ms(50), ms(90),
		ms(95), ms(99), latency.max / 1000.0, e.status,
		e.connect + e.read + e.write + e.timeout))
end
