// Write Squall packs in JavaScript: plain functions, JSON in and out.
//
//   import { action, sensor, log } from "./squall.js";
//
//   action("greet", (params, ctx) => {
//     log.info(`greeting ${params.name}`);
//     return { message: `hello, ${params.name}` };
//   });
//
//   sensor("tick", (config, cursor) => {
//     const n = Number(cursor ?? 0) + 1;
//     return { events: [{ trigger: "mypack.tick", payload: { n } }], cursor: String(n) };
//   });
//
// An action gets its parameters as an object and a context
// ({ executionId, pack, attempt }) and returns anything JSON.stringify
// accepts. A sensor gets its config and the last committed cursor (or
// undefined) and returns { events, cursor }. Throw InvalidInput, Failed or
// Timeout to fail with that kind of error; any other exception fails the call
// as `failed` with its message.
//
// The host's imports are `log`, `kv`, `secrets`, `config`, `exec` and `http`;
// each throws Denied unless the operator granted it. `squall pack build`
// binds them to the component's imports; under plain Node (`node --test`)
// they are served by a local stand-in (`local`) so that actions can be
// unit-tested without a host, and `run` gives an action the parameters the
// server would: pack.toml's defaults applied and its JSON Schema checked, by
// `squall pack params` (the server's own code; `squall` is $SQUALL_BIN, else
// found on PATH; Node 20.16 or later).

/** A pack error the host records; `kind` is its WIT variant. */
export class SquallError extends Error {
  constructor(message, kind = "failed") {
    super(message);
    this.kind = kind;
  }
}
export class InvalidInput extends SquallError {
  constructor(message) { super(message, "invalid-input"); }
}
export class Failed extends SquallError {
  constructor(message) { super(message, "failed"); }
}
export class Denied extends SquallError {
  constructor(message) { super(message, "denied"); }
}
export class Timeout extends SquallError {
  constructor(message) { super(message, "timeout"); }
}

/** One trigger instance a sensor emits: the full trigger type and its payload. */
export class Event {
  constructor(trigger, payload) {
    this.trigger = trigger;
    this.payload = payload;
  }
}

const actions = new Map();
const sensors = new Map();
// Under plain Node: the file that registered each action, where run()
// starts looking for pack.toml.
const definedIn = new Map();
// The component's imports, set by the entry module `squall pack build`
// generates; null under plain Node.
let host = null;

/** Called by the generated entry module with the component's imports. */
export function __setHost(imports) { host = imports; }

function parse(text, what) {
  try {
    return text ? JSON.parse(text) : {};
  } catch (e) {
    throw new InvalidInput(`${what}: not JSON: ${e.message}`);
  }
}

function asError(e) {
  if (e instanceof SquallError) return e;
  return new Failed(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
}

// The WIT `error` variant for an exception.
function witError(e) {
  const error = asError(e);
  return { tag: error.kind, val: error.message };
}

// A WIT `error` thrown by an import, as the pack-facing exception.
function hostError(e) {
  const value = e?.payload ?? e;
  const kinds = { "invalid-input": InvalidInput, failed: Failed, denied: Denied, timeout: Timeout };
  const Kind = kinds[value?.tag];
  if (!Kind) return asError(e);
  return new Kind(String(value.val));
}

function call(fn) {
  try {
    return fn();
  } catch (e) {
    throw hostError(e);
  }
}

function runAction(name, paramsText, ctx) {
  const fn = actions.get(name);
  if (!fn) throw new InvalidInput(`no action \`${name}\` in this pack`);
  return JSON.stringify(fn(parse(paramsText, "parameters"), ctx) ?? null);
}

function runPoll(name, configText, cursor) {
  const fn = sensors.get(name);
  if (!fn) throw new InvalidInput(`no sensor \`${name}\` in this pack`);
  const found = fn(parse(configText, "config"), cursor ?? undefined);
  if (!found || !Array.isArray(found.events)) {
    throw new Failed(`sensor \`${name}\` returned no { events, cursor } object`);
  }
  return {
    events: found.events.map((e) => ({ trigger: e.trigger, payload: JSON.stringify(e.payload) })),
    cursor: found.cursor ?? undefined,
  };
}

/**
 * `action("name", fn)` marks `fn(params, ctx)` as the action `name`.
 * `action.run` is the component's `action` export.
 */
export const action = Object.assign(
  (name, fn) => {
    actions.set(name, fn);
    const file = callerFile();
    if (file) definedIn.set(name, file);
    return fn;
  },
  {
    run(name, params, context) {
      try {
        return runAction(name, params, context);
      } catch (e) {
        throw witError(e);
      }
    },
  },
);

/**
 * `sensor("name", fn)` marks `fn(config, cursor)` as the poll sensor `name`.
 * `sensor.poll` and `sensor.onWebhook` are the component's `sensor` export.
 */
export const sensor = Object.assign(
  (name, fn) => { sensors.set(name, fn); return fn; },
  {
    poll(name, config, cursor) {
      try {
        return runPoll(name, config, cursor);
      } catch (e) {
        throw witError(e);
      }
    },
    onWebhook(name) {
      throw witError(new InvalidInput(`no webhook sensor \`${name}\` in this pack`));
    },
  },
);

// Node's built-in module `name`, or null inside a component.
function builtin(name) {
  if (typeof process === "undefined" || !process.versions?.node) return null;
  if (typeof process.getBuiltinModule !== "function") {
    throw new Error("squall.js needs Node 20.16 or later outside a component (process.getBuiltinModule)");
  }
  return process.getBuiltinModule(name);
}

// The file of the first stack frame outside this module, under plain Node.
function callerFile() {
  if (typeof process === "undefined" || !process.versions?.node) return null;
  const files = (new Error().stack ?? "")
    .split("\n")
    .map((line) => /((?:file:\/\/)?\/[^\s()]+?):\d+:\d+\)?$/.exec(line.trim())?.[1])
    .filter(Boolean);
  const other = files.find((file) => file !== files[0]);
  if (!other) return null;
  return other.startsWith("file://") ? decodeURIComponent(new URL(other).pathname) : other;
}

// pack.toml in the directory of the file that registered the action `name`
// or above, else in the current directory or above.
function findManifest(name) {
  const fs = builtin("node:fs");
  const path = builtin("node:path");
  const starts = [];
  if (definedIn.has(name)) starts.push(path.dirname(definedIn.get(name)));
  starts.push(process.cwd());
  for (const start of starts) {
    for (let here = start; ; here = path.dirname(here)) {
      const candidate = path.join(here, "pack.toml");
      if (fs.existsSync(candidate)) return candidate;
      if (path.dirname(here) === here) break;
    }
  }
  throw new Error(`no pack.toml in ${starts.join(" or ")} or above; pass { manifest } (the pack's directory or its pack.toml)`);
}

/**
 * The parameters the action `name` is given on the server when asked with
 * `params`: pack.toml's defaults applied, then its JSON Schema checked, by
 * `squall pack params` (the server's code). Throws InvalidInput with the
 * server's refusal. `manifest` is the pack's directory or pack.toml
 * [default: found above the file that registered the action].
 */
export function parameters(name, params = {}, { manifest } = {}) {
  const childProcess = builtin("node:child_process");
  if (!childProcess) throw new Failed("parameters() runs under plain Node only");
  const path = manifest ?? findManifest(name);
  const program = process.env.SQUALL_BIN || "squall";
  const done = childProcess.spawnSync(program, ["pack", "params", path, name, JSON.stringify(params)], {
    encoding: "utf8",
  });
  if (done.error) {
    throw new Error(
      `cannot run ${program}: ${done.error.message}; set SQUALL_BIN to the squall binary or put squall on PATH ` +
        "(run applies pack.toml's parameter schema and defaults with `squall pack params`, as the server does)",
    );
  }
  const message = done.stderr.trim();
  if (done.status === 0) return JSON.parse(done.stdout);
  if (done.status === 2) throw new InvalidInput(message.replace(/^error: /, ""));
  throw new Error(`${program} pack params exited ${done.status}: ${message}`);
}

/**
 * Runs the action `name` as the host would: the parameters prepared as the
 * server prepares them (see `parameters`), the output through a JSON round
 * trip.
 */
export function run(name, params = {}, ctx = { executionId: "local", pack: "local", attempt: 1 }, { manifest } = {}) {
  if (!actions.has(name)) throw new InvalidInput(`no action \`${name}\` in this pack`);
  const prepared = parameters(name, params, { manifest });
  return JSON.parse(runAction(name, JSON.stringify(prepared), ctx));
}

/** Polls the sensor `name` as the host would; payloads come back parsed. */
export function poll(name, config = {}, cursor = undefined) {
  const found = runPoll(name, JSON.stringify(config), cursor);
  return { events: found.events.map((e) => ({ ...e, payload: JSON.parse(e.payload) })), cursor: found.cursor };
}

/** The imports under plain Node: what a unit test sets and reads. */
export const local = {
  lines: [],
  kv: new Map(),
  secrets: new Map(),
  config: {},
  reset() {
    this.lines = [];
    this.kv = new Map();
    this.secrets = new Map();
    this.config = {};
  },
};

function line(level, message) {
  if (host) {
    host.log.log(level, String(message));
  } else {
    local.lines.push([level, String(message)]);
    console.error(`[${level}] ${message}`);
  }
}

export const log = {
  trace: (m) => line("trace", m),
  debug: (m) => line("debug", m),
  info: (m) => line("info", m),
  warn: (m) => line("warn", m),
  error: (m) => line("error", m),
};

export const kv = {
  /** The value under `key`, or undefined. */
  get(key) {
    if (!host) return local.kv.get(key);
    return call(() => host.kv.get(key)) ?? undefined;
  },
  /** Stores `value` (a string) under `key`; `ttlSeconds` optional. */
  set(key, value, ttlSeconds = undefined) {
    if (!host) { local.kv.set(key, String(value)); return; }
    call(() => host.kv.set(key, String(value), ttlSeconds === undefined ? undefined : BigInt(ttlSeconds)));
  },
  delete(key) {
    if (!host) return local.kv.delete(key);
    return call(() => host.kv.delete(key));
  },
  listKeys(prefix = "") {
    if (!host) return [...local.kv.keys()].filter((k) => k.startsWith(prefix)).sort();
    return call(() => host.kv.listKeys(prefix));
  },
};

export const secrets = {
  /** The secret `name`; Denied unless the operator granted it. */
  get(name) {
    if (!host) {
      if (!local.secrets.has(name)) throw new Denied(`secret \`${name}\` was not granted`);
      return local.secrets.get(name);
    }
    return call(() => host.secrets.get(name));
  },
};

export const config = {
  /** The pack's validated configuration object. */
  get() {
    if (!host) return { ...local.config };
    return JSON.parse(call(() => host.config.get()));
  },
};

export const exec = {
  /** Runs a granted host program; returns { status, stdout, stderr }. */
  run(program, args = [], { stdin, timeoutMs } = {}) {
    if (!host) throw new Denied(`program \`${program}\` was not granted`);
    return call(() => host.exec.run({ program, args, stdin, timeoutMs }));
  },
};

function httpError(url, code) {
  const tag = code?.tag ?? String(code);
  if (tag === "HTTP-request-denied") return new Denied(`outbound HTTP for ${url} was not granted to this pack`);
  if (tag.includes("timeout")) return new Timeout(`HTTP request to ${url}: ${tag}`);
  return new Failed(`HTTP request to ${url}: ${tag}`);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const http = {
  /**
   * Sends one request through the host, which lets it out only to a granted
   * host (else Denied). Returns { status, headers, body, text(), json() }.
   */
  request(method, url, { headers = {}, body, timeoutSeconds } = {}) {
    if (!host) throw new Denied(`outbound HTTP for ${url} was not granted (no host here)`);
    const match = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(url);
    if (!match) throw new InvalidInput(`url: expected an http:// or https:// URL, got \`${url}\``);
    const t = host.httpTypes;
    const fields = t.Fields.fromList(Object.entries(headers).map(([k, v]) => [k, encoder.encode(v)]));
    const request = new t.OutgoingRequest(fields);
    const known = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    const upper = method.toUpperCase();
    request.setMethod(known.includes(upper) ? { tag: upper.toLowerCase() } : { tag: "other", val: method });
    request.setScheme({ tag: match[1] === "https" ? "HTTPS" : "HTTP" });
    request.setAuthority(match[2]);
    request.setPathWithQuery(match[3] ?? "/");
    const outgoing = request.body();
    if (body !== undefined) {
      const bytes = typeof body === "string" ? encoder.encode(body) : body;
      const stream = outgoing.write();
      for (let i = 0; i < bytes.length; i += 4096) stream.blockingWriteAndFlush(bytes.subarray(i, i + 4096));
      stream[Symbol.dispose]?.();
    }
    let options;
    if (timeoutSeconds !== undefined) {
      options = new t.RequestOptions();
      const nanos = BigInt(Math.round(timeoutSeconds * 1e9));
      options.setConnectTimeout(nanos);
      options.setFirstByteTimeout(nanos);
      options.setBetweenBytesTimeout(nanos);
    }
    let future;
    try {
      future = host.outgoingHandler.handle(request, options);
    } catch (e) {
      throw httpError(url, e?.payload ?? e);
    }
    t.OutgoingBody.finish(outgoing, undefined);
    future.subscribe().block();
    const answer = future.get();
    if (!answer || answer.tag === "err") throw new Failed(`HTTP request to ${url}: no answer`);
    if (answer.val.tag === "err") throw httpError(url, answer.val.val);
    const response = answer.val.val;
    const names = {};
    for (const [k, v] of response.headers().entries()) {
      const name = k.toLowerCase();
      names[name] = name in names ? `${names[name]}, ${decoder.decode(v)}` : decoder.decode(v);
    }
    const status = response.status();
    const stream = response.consume().stream();
    const chunks = [];
    for (;;) {
      try {
        chunks.push(stream.blockingRead(65536n));
      } catch {
        break; // closed: the body is complete
      }
    }
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) { all.set(c, at); at += c.length; }
    return {
      status,
      headers: names,
      body: all,
      text: () => decoder.decode(all),
      json: () => JSON.parse(decoder.decode(all)),
    };
  },
};
