// The one way the UI talks to Squall: the public API, with the signed-in
// user's token or API key. Errors come back as ApiError with the server's
// message; a 401 (expired or revoked) signs the user out.

const KEY = "squall.credential";

// Should early.js arrive after this module runs, it must not ask for
// anything: the app asks for itself.
if (!window.squallEarly) window.squallEarly = () => null;

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/** The stored credential: {kind: "token" | "key", secret, id?}, or null. */
export function credential() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

function store(value) {
  sessionStorage.setItem(KEY, JSON.stringify(value));
  me = null;
}

function authHeaders() {
  const c = credential();
  if (!c) return {};
  return c.kind === "token" ? { "X-Auth-Token": c.secret } : { "St2-Api-Key": c.secret };
}

/** Calls the API; resolves to the parsed JSON (or text), throws ApiError.
 * A body is sent as JSON, unless `headers` give its Content-Type: then it
 * is sent as it is (a rule's YAML text). */
export async function api(path, options = {}) {
  return (await call(path, options)).data;
}

/** Reads one page of a list: resolves to `{items, next, total}`, `next`
 * the offset of the next page (the API's `x-next-offset`), null on the
 * last; `total` how many match (`x-total-count`), null when not known. */
export async function apiPage(path) {
  const { data, response } = await call(path, {});
  const header = (name) => {
    const value = response.headers.get(name);
    return value === null ? null : Number(value);
  };
  return { items: data, next: header("x-next-offset"), total: header("x-total-count") };
}

async function call(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...authHeaders(), ...headers } };
  if (body !== undefined) {
    const raw = "Content-Type" in headers;
    if (!raw) init.headers["Content-Type"] = "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  // A plain GET the page shell already asked for (early.js) is taken
  // from there: the same request, sent sooner.
  const early =
    method === "GET" && body === undefined && Object.keys(headers).length === 0
      ? window.squallEarly(path, credential()?.secret)
      : null;
  let response;
  try {
    response = await (early || fetch(path, init));
  } catch (e) {
    throw new ApiError(0, `The server did not answer: ${e.message}`);
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const message = (data && data.error) || `${method} ${path}: HTTP ${response.status}`;
    if (response.status === 401 && credential()) {
      forget();
      window.dispatchEvent(new CustomEvent("squall:signed-out", { detail: message }));
    }
    throw new ApiError(response.status, message, data && data.detail);
  }
  return { data, response };
}

function base64(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Signs in with a user name and password: a token from /auth/v1/tokens. */
export async function signInWithPassword(username, password) {
  const token = await api("/auth/v1/tokens", {
    method: "POST",
    headers: { Authorization: `Basic ${base64(`${username}:${password}`)}` },
  });
  store({ kind: "token", secret: token.token, id: token.id });
  return whoAmI();
}

/** Signs in with an API key: kept only if the server accepts it. */
export async function signInWithKey(key) {
  store({ kind: "key", secret: key });
  try {
    return await whoAmI();
  } catch (e) {
    forget();
    throw e;
  }
}

function forget() {
  sessionStorage.removeItem(KEY);
  me = null;
}

/** Signs out: a token is revoked on the server, then forgotten here. */
export async function signOut() {
  const c = credential();
  if (c && c.kind === "token" && c.id) {
    await api(`/auth/v1/tokens/${encodeURIComponent(c.id)}`, { method: "DELETE" }).catch(() => {});
  }
  forget();
}

let me = null;

/** Who the user is (GET /api/v1/user), asked once per sign-in. */
export async function whoAmI() {
  if (!me) me = await api("/api/v1/user");
  return me;
}

/**
 * Whether the user holds `permission` on some resource (the server's
 * `rbac.permissions`): what the UI offers. The server still decides each
 * request; a refusal is shown as an error.
 */
export function can(permission) {
  return Boolean(me && me.rbac && (me.rbac.permissions || []).includes(permission));
}

/** The event stream's address with the credential in the query
 * (EventSource cannot send headers; the server takes these names). */
export function streamUrl(events) {
  const c = credential();
  const query = new URLSearchParams({ events: events.join(",") });
  if (c) query.set(c.kind === "token" ? "x-auth-token" : "st2-api-key", c.secret);
  return `/stream/v1/stream?${query}`;
}
