// Unit tests: `node --test`. Outside a component the host imports are
// served by `local`.

import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { run, poll, local } from "./squall.js";
import "./index.js";

beforeEach(() => local.reset());

test("hello greets by name and logs", () => {
  assert.deepEqual(run("hello", { name: "ops" }), { message: "hello, ops" });
  assert.deepEqual(local.lines, [["info", "greeting ops"]]);
});

test("ticks count on from the cursor", () => {
  const found = poll("ticker", {}, "41");
  assert.equal(found.cursor, "42");
  assert.deepEqual(found.events.map((e) => e.payload), [{ n: 42 }]);
});
