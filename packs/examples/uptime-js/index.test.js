// `node --test`, with squall on PATH (or SQUALL_BIN): the logic without a
// host. Outside a component HTTP is denied, which the tests rely on; the
// parameters are prepared from pack.toml as the server prepares them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { run, poll, parameters, Denied, InvalidInput } from "./squall.js";
import "./index.js";

test("a check needs http", () => {
  assert.throws(() => run("check", { url: "http://127.0.0.1/", timeout_seconds: 1 }), Denied);
});

test("the timeout defaults to ten seconds", () => {
  assert.deepEqual(parameters("check", { url: "http://127.0.0.1/" }), {
    url: "http://127.0.0.1/",
    timeout_seconds: 10,
  });
});

test("a check needs a url and a positive timeout", () => {
  assert.throws(() => run("check", { timeout_seconds: 1 }), (e) => e instanceof InvalidInput && /url/.test(e.message));
  assert.throws(
    () => run("check", { url: "http://127.0.0.1/", timeout_seconds: 0 }),
    (e) => e instanceof InvalidInput && /parameter `timeout_seconds`/.test(e.message),
  );
});

test("the watch needs a url", () => {
  assert.throws(() => poll("watch", {}), InvalidInput);
});
