// Unit tests: `node --test`. Outside a component the host imports are
// served by `local`, and `run` prepares the parameters as the server does
// (pack.toml's defaults and schema, by `squall pack params`: squall on
// PATH, or SQUALL_BIN).

import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { run, poll, local, InvalidInput } from "./squall.js";
import "./index.js";

beforeEach(() => local.reset());

test("hello greets by name and logs", () => {
  assert.deepEqual(run("hello", { name: "ops" }), { message: "hello, ops" });
  assert.deepEqual(local.lines, [["info", "greeting ops"]]);
});

test("the name defaults to world, as on the server", () => {
  assert.deepEqual(run("hello", {}), { message: "hello, world" });
});

test("parameters the schema refuses never reach the action", () => {
  assert.throws(() => run("hello", { name: 42 }), (e) => e instanceof InvalidInput && /parameter `name`/.test(e.message));
  assert.deepEqual(local.lines, []);
});

test("ticks count on from the cursor", () => {
  const found = poll("ticker", {}, "41");
  assert.equal(found.cursor, "42");
  assert.deepEqual(found.events.map((e) => e.payload), [{ n: 42 }]);
});
