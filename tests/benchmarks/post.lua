-- wrk script: each thread loads its own file of pre-signed, distinct bodies and
-- pre-formats every request once, so the client's per-request cost is a table lookup.
-- Usage: wrk ... -s post.lua URL -- <directory> <phase>
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  reqs = {}
  local path = args[1] .. "/" .. args[2] .. "-t" .. id .. ".txt"
  for line in io.lines(path) do
    local tab = string.find(line, "\t", 1, true)
    local sig = string.sub(line, 1, tab - 1)
    local body = string.sub(line, tab + 1)
    reqs[#reqs + 1] = wrk.format("POST", "/webhooks/sendcloud",
      {["Content-Type"] = "application/json", ["Sendcloud-Signature"] = sig}, body)
  end
  n = #reqs
  i = 0
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect_err":%d,"read_err":%d,"write_err":%d,"status_err":%d,"timeout_err":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
