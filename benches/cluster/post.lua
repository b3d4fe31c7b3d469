-- benches/peers/post.lua's request (one JSON body matching the criterion
-- kind == "load"; SQUALL_KEY as the bearer token) and RESULT line, plus a
-- QUANTILES line (999 latency quantiles, 0.1 % apart, in µs) so that
-- run.sh can merge wrk runs against several nodes at the same time.
wrk.method = "POST"
wrk.body = '{"kind":"load","seq":1}'
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("SQUALL_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
  local q = {}
  for i = 1, 999 do
    q[#q + 1] = string.format("%d", latency:percentile(i / 10))
  end
  io.write("QUANTILES " .. table.concat(q, " ") .. "\n")
end
