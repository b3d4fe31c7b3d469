-- The POST wrk sends to both servers: one JSON body that matches the
-- criterion (kind == "load"). SQUALL_KEY, when set, goes in as the bearer
-- token. No request()/response() hooks: wrk builds the request once.
wrk.method = "POST"
wrk.body = '{"kind":"load","seq":1}'
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("SQUALL_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

-- One machine-readable line after wrk's own report.
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
