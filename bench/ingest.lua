-- wrk script for `make bench`: POST pre-signed webhook bodies (one per line of the file given
-- after `--`, "<signature>\t<body>"), count answers by status, print one JSON line at the end.

local signatures, bodies = {}, {}
local n = 0
statuses = {}

function init(args)
  for line in io.lines(args[1]) do
    local signature, body = line:match("^(%S+)\t(.*)$")
    signatures[#signatures + 1] = signature
    bodies[#bodies + 1] = body
  end
end

function request()
  n = n % #bodies + 1
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = signatures[n],
  }, bodies[n])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local totals, counts = {}, {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    counts[#counts + 1] = string.format('"%d": %d', status, count)
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "statuses": {%s}, "socket_errors": %d, '
      .. '"timeouts": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, table.concat(counts, ", "),
    errors.connect + errors.read + errors.write, errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
