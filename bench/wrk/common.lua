-- Shared by every scenario script.

-- Requests built once from the lines of the file named by `file_variable` and sent in turn.
-- Successive runs continue where the previous one stopped (BENCH_START, set by the harness),
-- so a run does not start over at the first user.
function rotating(file_variable, pattern, build)
  local prepared = {}
  local i = tonumber(os.getenv("BENCH_START") or "0")

  function init(args)
    for line in io.lines(os.getenv(file_variable)) do
      prepared[#prepared + 1] = build(line:match(pattern))
    end
    i = i % #prepared
  end

  function request()
    i = i % #prepared + 1
    return prepared[i]
  end
end

-- One machine-readable line at the end of a run. Latencies are microseconds; `status` counts
-- responses >= 400 (wrk's own definition).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,' ..
    '"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
