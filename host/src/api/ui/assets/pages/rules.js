// Rules: ref, whether in force, trigger and action; enable or disable one
// in place, and create one, as the user may (POST /rules/{ref}/enable or
// /disable; the editor is rule_edit.js).

import { api, can } from "../api.js";
import { h, notice } from "../dom.js";

/** Whether a rule is in force, as a badge: enabled, disabled, or broken
 * (the stored rule no longer loads; `error` says why). */
export function ruleState(rule) {
  const [state, look] = rule.error ? ["broken", "failed"] : rule.enabled ? ["enabled", "succeeded"] : ["disabled", "canceled"];
  return h("span", { class: `status status-${look}`, "data-state": state, title: rule.error || null }, state);
}

/** Enables or disables `rule` (POST …/enable or …/disable); resolves to
 * the rule as it now is. */
export function setEnabled(rule, enabled) {
  const verb = enabled ? "enable" : "disable";
  return api(`/api/v1/rules/${encodeURIComponent(rule.ref)}/${verb}`, { method: "POST" });
}

/** The Enable or Disable button of `rule`, if the user may change it;
 * `changed(rule)` gets the rule as the server answers it. */
export function toggleButton(rule, changed) {
  if (!can("rule_modify") || rule.error) return null;
  const label = rule.enabled ? "Disable" : "Enable";
  const button = h("button", { type: "button", "aria-label": `${label} ${rule.ref}` }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      notice(null);
      changed(await setEnabled(rule, !rule.enabled));
    } catch (e) {
      notice(new Error(`${label} ${rule.ref}: ${e.message}`));
      button.disabled = false;
    }
  });
  return button;
}

export async function render(main) {
  const rules = await api("/api/v1/rules");
  const packs = [...new Set(rules.map((r) => r.pack).filter(Boolean))].sort();
  const pack = h("select", { id: "rule-pack" }, h("option", { value: "" }, "all"), packs.map((p) => h("option", { value: p }, p)));
  const body = h("tbody", { id: "rules" });
  const empty = h("p", { class: "muted", hidden: true }, "No rules.");

  const row = (rule) => {
    const tr = h("tr", { "data-ref": rule.ref },
      h("td", {}, h("a", { href: `/ui/rules/${encodeURIComponent(rule.ref)}` }, rule.ref)),
      h("td", {}, ruleState(rule)),
      h("td", { class: "wide" }, rule.trigger && rule.trigger.type ? h("code", {}, rule.trigger.type) : "—"),
      h("td", {}, rule.action && rule.action.ref
        ? h("a", { href: `/ui/actions/${encodeURIComponent(rule.action.ref)}` }, rule.action.ref) : "—"),
      h("td", { class: "wide" }, rule.description || ""),
      h("td", {}, toggleButton(rule, (now) => {
        rules[rules.indexOf(rule)] = now;
        tr.replaceWith(row(now));
      })));
    return tr;
  };
  const draw = () => {
    const shown = rules.filter((r) => !pack.value || r.pack === pack.value);
    body.replaceChildren(...shown.map(row));
    empty.hidden = shown.length > 0;
  };
  pack.addEventListener("change", draw);

  main.append(
    h("div", { class: "heading-row" }, h("h1", {}, "Rules"),
      can("rule_create") ? h("a", { class: "button", href: "/ui/rules/new" }, "New rule") : null),
    h("div", { class: "filters", role: "search" },
      h("div", { class: "field" }, h("label", { for: "rule-pack" }, "Pack"), pack)),
    h("table", {}, h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Rule"), h("th", { scope: "col" }, "State"),
      h("th", { scope: "col", class: "wide" }, "Trigger"), h("th", { scope: "col" }, "Action"),
      h("th", { scope: "col", class: "wide" }, "Description"), h("th", { scope: "col" }, h("span", { class: "skip" }, "Controls")))),
    body),
    empty);
  draw();
}
