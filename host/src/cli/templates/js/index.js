// The __NAME__ pack: the action `hello` and the poll sensor `ticker`.

import { action, sensor, log } from "./squall.js";

export function greeting(name) {
  return `hello, ${name}`;
}

// The host has already checked `params` against the schema in pack.toml
// (and filled in the default name).
action("hello", (params, ctx) => {
  log.info(`greeting ${params.name}`);
  return { message: greeting(params.name) };
});

// One tick per poll, numbered from the cursor the host kept.
sensor("ticker", (config, cursor) => {
  const n = Number(cursor ?? 0) + 1;
  return { events: [{ trigger: "__NAME__.tick", payload: { n } }], cursor: String(n) };
});
