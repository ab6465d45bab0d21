-- wrk script: random page requests against ltxpaged or nginx.
--   wrk ... -s bench/pages.lua URL -- MODE DB NPAGES [BATCH] [PAGE_SIZE]
-- MODE page : GET /DB/pages/N, N uniform in 1..NPAGES (same path on nginx,
--             which serves one static file per page)
-- MODE batch: GET /DB/pages?n=A-B, B = A+BATCH-1 (ltxpaged batch route)
-- MODE range: GET /DB/file with Range: bytes= covering pages A..B (nginx on
--             the database file, or ltxpaged's virtual file)
-- MODE pagetxid: GET /DB/pages/N?txid=TXID (immutable URLs, for an HTTP
--             cache tier in front of ltxpaged); TXID is the 6th argument
-- done() prints one line "WRKJSON {...}" for bench/bench.py.
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local mode, db, npages, batch, psize, txid

function init(args)
  mode = args[1] or "page"
  db = args[2] or "bench.db"
  npages = tonumber(args[3] or "1000")
  batch = tonumber(args[4] or "32")
  psize = tonumber(args[5] or "4096")
  txid = args[6] or ""
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
  if mode == "page" then
    return wrk.format("GET", "/" .. db .. "/pages/" .. math.random(1, npages))
  elseif mode == "pagetxid" then
    return wrk.format("GET", "/" .. db .. "/pages/" .. math.random(1, npages) .. "?txid=" .. txid)
  elseif mode == "batch" then
    local a = math.random(1, npages - batch + 1)
    return wrk.format("GET", "/" .. db .. "/pages?n=" .. a .. "-" .. (a + batch - 1))
  else
    local a = math.random(0, npages - batch)
    local r = "bytes=" .. (a * psize) .. "-" .. ((a + batch) * psize - 1)
    return wrk.format("GET", "/" .. db .. "/file", { Range = r })
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_status":%d,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
