// `node --test`: the logic without a host. Outside a component HTTP is
// denied, which the tests rely on.

import { test } from "node:test";
import assert from "node:assert/strict";
import { run, poll, Denied, InvalidInput } from "./squall.js";
import "./index.js";

test("a check needs http", () => {
  assert.throws(() => run("check", { url: "http://127.0.0.1/", timeout_seconds: 1 }), Denied);
});

test("the watch needs a url", () => {
  assert.throws(() => poll("watch", {}), InvalidInput);
});
