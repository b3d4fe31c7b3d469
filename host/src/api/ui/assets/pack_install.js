// Installing a pack from a bundle file, as `squall pack install FILE`
// does: the bundle's manifest (its `squall:manifest` custom section, TOML)
// is read here to show what the pack requests, the user ticks what to
// grant, and the bundle goes to POST /packs?grants=… as application/wasm;
// the server checks the signature against its trusted keys before it
// compiles anything, and never grants beyond what is sent. What it then
// holds (GET /packs/NAME: requested and granted) is shown from the server.

import { api, can } from "./api.js";
import { h, notice } from "./dom.js";

const MANIFEST = "squall:manifest";

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length) throw new Error("the file ends inside a section");
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) return [value, at];
    if (shift > 35) throw new Error("a malformed section length");
  }
}

/** The text of the manifest section of a WebAssembly bundle. */
export function manifestText(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || magic.some((b, i) => bytes[i] !== b)) throw new Error("not a WebAssembly file");
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size;
    [size, at] = leb(bytes, at);
    const end = at + size;
    if (end > bytes.length) throw new Error("a section runs past the end of the file");
    if (id === 0) {
      const [length, from] = leb(bytes, at);
      const name = new TextDecoder().decode(bytes.subarray(from, from + length));
      if (name === MANIFEST) return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(from + length, end));
    }
    at = end;
  }
  throw new Error(`no ${MANIFEST} section: a bare component, not a pack bundle (make one with squall pack build)`);
}

/** TOML's tokens, enough for the manifest's top-level strings and its
 * [capabilities] table: strings, words, = [ ] , and line ends. */
function tokens(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "\n") {
      out.push({ kind: "nl" });
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'") {
      let value = "";
      i++;
      while (i < text.length && text[i] !== c) {
        if (c === '"' && text[i] === "\\") {
          const next = text[i + 1];
          value += { n: "\n", t: "\t", '"': '"', "\\": "\\" }[next] ?? next;
          i += 2;
        } else {
          value += text[i++];
        }
      }
      i++;
      out.push({ kind: "string", value });
    } else if ("=[],{}".includes(c)) {
      out.push({ kind: c });
      i++;
    } else {
      let word = "";
      while (i < text.length && !/[\s=[\],{}#]/.test(text[i])) word += text[i++];
      out.push({ kind: "word", value: word });
    }
  }
  return out;
}

/**
 * What a manifest says of itself: {name, version, requested}, requested in
 * the server's spelling (`http=…`, `secret=…`, `kv`, `exec=…`), as
 * `GET /packs` answers it.
 */
export function readManifest(text) {
  const list = tokens(text);
  const top = {};
  const caps = {};
  let table = "";
  let i = 0;
  const value = () => {
    const t = list[i++];
    if (!t) return undefined;
    if (t.kind === "string") return t.value;
    if (t.kind === "word") return t.value === "true" ? true : t.value === "false" ? false : t.value;
    if (t.kind === "[") {
      const items = [];
      while (i < list.length && list[i].kind !== "]") {
        if (list[i].kind === "," || list[i].kind === "nl") i++;
        else items.push(value());
      }
      i++;
      return items;
    }
    return undefined;
  };
  while (i < list.length) {
    const t = list[i];
    if (t.kind === "nl") {
      i++;
    } else if (t.kind === "[") {
      let name = "";
      i++;
      while (i < list.length && list[i].kind !== "]") name += list[i++].value ?? "";
      table = name;
      while (i < list.length && list[i].kind !== "nl") i++;
    } else if ((t.kind === "word" || t.kind === "string") && list[i + 1] && list[i + 1].kind === "=") {
      i += 2;
      const v = value();
      if (table === "") top[t.value] = v;
      else if (table === "capabilities") caps[t.value] = v;
      while (i < list.length && list[i].kind !== "nl") i++;
    } else {
      while (i < list.length && list[i].kind !== "nl") i++;
    }
  }
  const strings = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === "string") : []);
  const requested = [
    ...strings(caps.outbound_hosts).map((host) => `http=${host}`),
    ...strings(caps.secrets).map((secret) => `secret=${secret}`),
    ...(caps.kv === true ? ["kv"] : []),
    ...strings(caps.exec).map((path) => `exec=${path}`),
  ];
  return { name: String(top.name || ""), version: String(top.version || ""), requested };
}

/**
 * The review of what a bundle requests, into `review`: a checkbox per
 * requested capability (ticked ones are granted) and the Install button.
 * `pack` is {name, version, requested, signer?}. Both install forms use it.
 */
function showReview(review, pack) {
  const mayGrant = can("capability_grant");
  const boxes = pack.requested.map((capability, n) => {
    const id = `${review.id}-grant-${n}`;
    return h("div", { class: "field check" },
      h("input", { id, type: "checkbox", value: capability, disabled: !mayGrant }),
      h("label", { for: id }, h("code", {}, capability)));
  });
  review.replaceChildren(
    h("h3", {}, `Review: ${pack.name} ${pack.version}`),
    pack.signer ? h("p", {}, "Signed by ", h("strong", {}, pack.signer), ", a key this server trusts.") : null,
    pack.requested.length
      ? h("fieldset", {}, h("legend", {}, "It requests; grant what you tick"), boxes,
        mayGrant ? null : h("p", { class: "muted" }, "You may not grant capabilities: it would be installed with none."))
      : h("p", {}, "It requests no capabilities."),
    h("button", { type: "submit", class: "primary", "data-step": "install" }, `Install ${pack.name} ${pack.version}`));
}

/** The capabilities ticked in a review. */
function ticked(review) {
  return [...review.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
}

/** Says in `review` what the server installed (`done`, an install's
 * answer) and holds now, with the grants sent. */
async function showInstalled(review, done, grants) {
  const now = await api(`/api/v1/packs/${encodeURIComponent(done.name)}`);
  const verb = done.previous ? `Upgraded ${done.name} from ${done.previous} to ${done.version}` : `Installed ${done.name} ${done.version}`;
  review.replaceChildren(h("p", { role: "status" },
    `${verb}, signed by ${done.signer || "nobody (unsigned)"}; it requests ${now.requested.join(", ") || "nothing"}; granted `,
    h("span", { "data-granted": "" }, grants.join(", ") || "nothing"), "."));
}

/** The install form: choose a bundle, review what it requests, grant,
 * install. `installed(name)` is called once the server has it. */
export function installForm(installed) {
  const file = h("input", { id: "bundle-file", type: "file", accept: ".wasm,application/wasm" });
  const review = h("div", { id: "bundle-review", "aria-live": "polite" });
  const form = h("form", { "aria-labelledby": "install-heading" },
    h("h2", { id: "install-heading" }, "Install a pack"),
    h("p", {}, "Choose a signed bundle (",
      h("code", {}, "squall pack build"), "; from a registry, ",
      h("code", {}, "squall pack install NAME@VERSION"),
      " fetches it). The server checks its signature against its trusted keys before compiling anything."),
    h("div", { class: "field" }, h("label", { for: "bundle-file" }, "Bundle (.wasm)"), file),
    review);
  let bundle = null;
  file.addEventListener("change", async () => {
    review.replaceChildren();
    bundle = null;
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    let manifest;
    try {
      const bytes = await chosen.arrayBuffer();
      manifest = readManifest(manifestText(bytes));
      bundle = { bytes, name: chosen.name, manifest };
    } catch (e) {
      review.append(h("p", { class: "error" }, `${chosen.name}: ${e.message}`));
      return;
    }
    showReview(review, manifest);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!bundle) return;
    const grants = ticked(review);
    const query = new URLSearchParams({ grants: grants.join(","), origin: `web UI upload ${bundle.name}` });
    const button = review.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      notice(null);
      const done = await api(`/api/v1/packs?${query}`, {
        method: "POST", headers: { "Content-Type": "application/wasm" }, body: bundle.bytes,
      });
      await showInstalled(review, done, grants);
      form.reset();
      bundle = null;
      installed(done.name);
    } catch (e) {
      notice(new Error(`Install ${bundle.manifest.name}: ${e.message}`));
      button.disabled = false;
    }
  });
  return form;
}

/**
 * Installing from one of the registries the server pulls from
 * (`squall serve --registry`, `GET /registries`): the server pulls the
 * pack and checks its signature (POST /packs/pull with `review`), the
 * user reviews what it requests and ticks what to grant, and the server
 * installs exactly the bundle reviewed (pinned by its digest).
 */
export function registryForm(installed, registries) {
  const ref = h("input", { id: "pull-ref", type: "text", required: true, autocomplete: "off", placeholder: "name@version", spellcheck: "false" });
  const registry = registries.length > 1
    ? h("select", { id: "pull-registry" }, registries.map((r) => h("option", { value: r }, r)))
    : null;
  const review = h("div", { id: "pull-review", "aria-live": "polite" });
  const form = h("form", { "aria-labelledby": "pull-heading" },
    h("h2", { id: "pull-heading" }, "Install from a registry"),
    h("p", {}, `The server pulls the pack from ${registries.join(", ")} and checks its signature against its trusted keys; nothing is installed before you review what it requests.`),
    h("div", { class: "field" }, h("label", { for: "pull-ref" }, "Pack"), ref),
    registry ? h("div", { class: "field" }, h("label", { for: "pull-registry" }, "Registry"), registry) : null,
    h("button", { type: "submit", "data-step": "review" }, "Review"),
    review);
  let reviewed = null;
  const forget = () => {
    reviewed = null;
    review.replaceChildren();
  };
  ref.addEventListener("input", forget);
  if (registry) registry.addEventListener("change", forget);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const step = event.submitter && event.submitter.dataset.step;
    const button = event.submitter;
    if (button) button.disabled = true;
    try {
      notice(null);
      if (step === "install" && reviewed) {
        const grants = ticked(review);
        const done = await api("/api/v1/packs/pull", {
          method: "POST", body: { ref: reviewed.origin, grants, review: false },
        });
        await showInstalled(review, done, grants);
        form.reset();
        reviewed = null;
        installed(done.name);
        return;
      }
      const body = { ref: ref.value.trim(), review: true };
      if (registry) body.registry = registry.value;
      reviewed = await api("/api/v1/packs/pull", { method: "POST", body });
      showReview(review, reviewed);
    } catch (e) {
      notice(new Error(`${step === "install" ? "Install" : "Review"} ${ref.value.trim()}: ${e.message}`));
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}
