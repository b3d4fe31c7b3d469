// Uptime checks: the action `check` and the poll sensor `watch`.

import { action, sensor, log, kv, http, Event, InvalidInput, Failed, Timeout } from "./squall.js";

// "up" or "down", and the status (0 when nothing answered).
function probe(url, timeoutSeconds) {
  try {
    const { status } = http.request("GET", url, { timeoutSeconds });
    return [status >= 200 && status < 400 ? "up" : "down", status];
  } catch (e) {
    if (!(e instanceof Failed || e instanceof Timeout)) throw e;
    log.warn(`${url}: ${e.message}`);
    return ["down", 0];
  }
}

action("check", (params) => {
  const { url } = params;
  const [state, status] = probe(url, params.timeout_seconds);
  // Not granted, http and kv throw Denied; letting it propagate fails the
  // execution as `denied`.
  const before = kv.get(`state:${url}`);
  kv.set(`state:${url}`, state);
  log.info(`${url}: ${state} (${status})`);
  return { url, status, up: state === "up", changed: before !== undefined && before !== state };
});

sensor("watch", (config, cursor) => {
  if (!config.url) throw new InvalidInput("config: `url` is required");
  const [state] = probe(config.url, config.timeout_seconds ?? 10);
  const events = [];
  if (cursor !== undefined && cursor !== state) {
    events.push(new Event("uptime_js.changed", { url: config.url, up: state === "up" }));
  }
  return { events, cursor: state };
});
