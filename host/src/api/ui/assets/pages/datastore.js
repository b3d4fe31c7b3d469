// The datastore (GET /keys?scope=): keys by scope, newest value; a
// secret's value never reaches the browser (the API answers `********`,
// shown here as "secret"). Set (PUT /keys/{name}, with a secret checkbox)
// and delete (DELETE /keys/{name}?scope=) as the user may.

import { api, can } from "../api.js";
import { h, notice, time } from "../dom.js";

export async function render(main, _params, { navigate }) {
  const query = new URLSearchParams(location.search);
  const scope = query.get("scope") || "all";
  const packs = can("pack_list") ? await api("/api/v1/packs").catch(() => []) : [];
  const scopes = ["system", ...packs.map((p) => `pack:${p.name}`)];
  if (scope !== "all" && !scopes.includes(scope)) scopes.push(scope);
  const keys = await api(`/api/v1/keys?scope=${encodeURIComponent(scope)}`);

  const pick = h("select", { id: "key-scope", name: "scope" },
    ["all", ...scopes].map((s) => h("option", { value: s, selected: s === scope }, s === "all" ? "every scope" : s)));
  pick.addEventListener("change", () => navigate(pick.value === "all" ? "/ui/datastore" : `/ui/datastore?scope=${encodeURIComponent(pick.value)}`));

  const mayDelete = can("key_value_pair_delete");
  const body = h("tbody", { id: "keys" });
  const row = (key) => {
    const tr = h("tr", { "data-key": key.id },
      h("td", {}, h("code", {}, key.name)),
      h("td", {}, key.scope),
      h("td", {}, key.secret ? h("span", { class: "muted", "data-secret": "true" }, "secret (never shown)") : h("code", { class: "value" }, key.value)),
      h("td", { class: "wide" }, time(key.expires_at)),
      h("td"));
    if (mayDelete) tr.lastChild.append(deleteButton(key, tr));
    return tr;
  };
  const deleteButton = (key, tr) => {
    const button = h("button", { type: "button", class: "danger", "aria-label": `Delete ${key.id}` }, "Delete");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        notice(null);
        await api(`/api/v1/keys/${encodeURIComponent(key.name)}?scope=${encodeURIComponent(key.scope)}`, { method: "DELETE" });
        tr.remove();
        empty.hidden = body.children.length > 0;
        status.textContent = `Deleted ${key.id}.`;
      } catch (e) {
        notice(new Error(`Delete ${key.id}: ${e.message}`));
        button.disabled = false;
      }
    });
    return button;
  };
  body.append(...keys.map(row));
  const empty = h("p", { class: "muted", hidden: keys.length > 0 }, "No keys in this scope.");
  const status = h("p", { role: "status", class: "muted" });

  main.append(
    h("h1", {}, "Datastore"),
    h("div", { class: "filters" }, h("div", { class: "field" }, h("label", { for: "key-scope" }, "Scope"), pick)),
    h("table", {}, h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Scope"), h("th", { scope: "col" }, "Value"),
      h("th", { scope: "col", class: "wide" }, "Expires"), h("th", { scope: "col" }, h("span", { class: "skip" }, "Controls")))),
    body),
    empty, status);

  if (!can("key_value_pair_set")) return;
  const name = h("input", { id: "key-name", name: "name", required: true, autocomplete: "off" });
  const value = h("input", { id: "key-value", name: "value", autocomplete: "off" });
  const secret = h("input", { id: "key-secret", name: "secret", type: "checkbox" });
  const where = h("select", { id: "key-set-scope", name: "scope" },
    scopes.map((s) => h("option", { value: s, selected: s === (scope === "all" ? "system" : scope) }, s)));
  const ttl = h("input", { id: "key-ttl", name: "ttl", type: "number", min: "1", step: "1", inputmode: "numeric" });
  secret.addEventListener("change", () => (value.type = secret.checked ? "password" : "text"));
  const form = h("form", { "aria-labelledby": "set-heading" },
    h("h2", { id: "set-heading" }, "Set a key"),
    h("div", { class: "field" }, h("label", { for: "key-name" }, "Name"), name),
    h("div", { class: "field" }, h("label", { for: "key-value" }, "Value"), value),
    h("div", { class: "field check" }, secret, h("label", { for: "key-secret" }, "Secret"),
      h("span", { class: "hint" }, "encrypted at rest and never shown again")),
    h("div", { class: "field" }, h("label", { for: "key-set-scope" }, "Scope of the new key"), where),
    h("div", { class: "field" }, h("label", { for: "key-ttl" }, "Expires after (seconds, optional)"), ttl),
    h("button", { type: "submit", class: "primary" }, "Set"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const named = name.value;
    const sent = { value: value.value, secret: secret.checked, scope: where.value };
    if (ttl.value) sent.ttl = Number(ttl.value);
    try {
      notice(null);
      const key = await api(`/api/v1/keys/${encodeURIComponent(named)}`, { method: "PUT", body: sent });
      // The typed value leaves the page: only the server keeps it.
      form.reset();
      value.type = "text";
      if (scope === "all" || scope === key.scope) {
        const existing = [...body.children].find((tr) => tr.dataset.key === key.id);
        if (existing) existing.replaceWith(row(key));
        else body.append(row(key));
        empty.hidden = true;
      }
      status.textContent = `Set ${key.id}${key.secret ? " (secret)" : ""}.`;
    } catch (e) {
      notice(new Error(`Set ${named}: ${e.message}`));
    }
  });
  main.append(form);
}
