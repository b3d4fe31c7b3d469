// One pack: version, publisher, signer, requested and granted
// capabilities, and what it brings: actions, workflows (orquesta actions),
// sensors (GET /sensortypes?pack=) and rules (GET /rules?pack=). A list
// the user may not read says so.

import { api, can } from "../api.js";
import { h } from "../dom.js";
import { granted, requested, signer } from "./packs.js";

/** A section listing `items` (each a node), or why there are none. */
function listSection(title, items, none) {
  return h("section", { "aria-label": title }, h("h2", {}, title),
    items.length ? h("ul", {}, items.map((item) => h("li", {}, item))) : h("p", { class: "muted" }, none));
}

async function optional(permission, path) {
  if (!can(permission)) return null;
  try {
    return await api(path);
  } catch {
    return null;
  }
}

export async function render(main, [name]) {
  const q = encodeURIComponent(name);
  const pack = await api(`/api/v1/packs/${q}`);
  document.title = `${pack.name} · Squall`;
  const [actions, sensors, rules] = await Promise.all([
    optional("action_list", `/api/v1/actions?pack=${q}&include_attributes=ref,runner_type,description`),
    optional("sensor_type_list", `/api/v1/sensortypes?pack=${q}`),
    optional("rule_list", `/api/v1/rules?pack=${q}&include_attributes=ref,enabled,description`),
  ]);
  const row = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  main.append(
    h("h1", {}, pack.name),
    pack.description ? h("p", {}, pack.description) : "",
    h("dl", { class: "facts" },
      row("Version", pack.version || "—"),
      row("Publisher", pack.publisher || "—"),
      row("Signer", signer(pack)),
      row("Requests", requested(pack)),
      row("Granted", granted(pack.grants))));
  const link = (ref) => h("a", { href: `/ui/actions/${encodeURIComponent(ref)}` }, ref);
  const byRef = new Map((actions || []).map((a) => [a.ref, a]));
  const plain = (pack.actions || []).filter((ref) => (byRef.get(ref) || {}).runner_type !== "orquesta");
  const flows = (pack.actions || []).filter((ref) => (byRef.get(ref) || {}).runner_type === "orquesta");
  const described = (ref) => [link(ref), byRef.get(ref) && byRef.get(ref).description ? ` — ${byRef.get(ref).description}` : null];
  main.append(
    listSection("Actions", plain.map(described), "No actions."),
    actions === null
      ? h("section", {}, h("h2", {}, "Workflows"), h("p", { class: "muted" }, "You may not list actions."))
      : listSection("Workflows", flows.map(described), "No workflows."),
    sensors === null
      ? h("section", {}, h("h2", {}, "Sensors"), h("p", { class: "muted" }, "You may not list sensors."))
      : listSection("Sensors", sensors.map((s) => [h("code", {}, s.ref), ` (${s.kind}${s.enabled ? "" : ", not running"})`,
        s.trigger_types && s.trigger_types.length ? ` emits ${s.trigger_types.join(", ")}` : null,
        s.description ? ` — ${s.description}` : null]), "No sensors."),
    rules === null
      ? h("section", {}, h("h2", {}, "Rules"), h("p", { class: "muted" }, "You may not list rules."))
      : listSection("Rules", rules.map((r) => [h("a", { href: `/ui/rules/${encodeURIComponent(r.ref)}` }, r.ref),
        r.enabled ? "" : " (disabled)"]), "No stored rules."));
}
