// One rule: whether it is in force, its trigger, criteria and action, its
// definition as written (the YAML or JSON it was created from), and the
// trigger instances it matched (GET /ruleenforcements?rule_ref=REF): the
// execution each started, or why none. Enable, disable, edit and delete as
// the user may.

import { api, can } from "../api.js";
import { h, jsonBlock, notice, time } from "../dom.js";
import { ruleState, toggleButton } from "./rules.js";

function facts(rule) {
  const row = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  return h("dl", { class: "facts" },
    row("State", ruleState(rule)),
    rule.description ? row("Description", rule.description) : null,
    row("Trigger", h("code", {}, (rule.trigger && rule.trigger.type) || "—")),
    row("Action", rule.action && rule.action.ref
      ? h("a", { href: `/ui/actions/${encodeURIComponent(rule.action.ref)}` }, rule.action.ref) : "—"),
    row("Pack", rule.pack ? h("a", { href: `/ui/packs/${encodeURIComponent(rule.pack)}` }, rule.pack) : "—"),
    row("Created", time(rule.created_at)),
    row("Updated", time(rule.updated_at)),
    row("Its executions", h("a", { href: `/ui/executions?rule=${encodeURIComponent(rule.ref)}` }, "the executions it started")));
}

/** A titled block of text as written, with a copy button. */
function textBlock(title, text) {
  const block = jsonBlock(title, null);
  block.querySelector("pre").textContent = text;
  return block;
}

async function enforcements(ref) {
  const section = h("section", {}, h("h2", {}, "Trigger instances it matched"));
  if (!can("rule_enforcement_list")) {
    section.append(h("p", { class: "muted" }, "You may not list rule enforcements."));
    return section;
  }
  const list = await api(`/api/v1/ruleenforcements?rule_ref=${encodeURIComponent(ref)}&limit=50`);
  if (!list.length) {
    section.append(h("p", { class: "muted" }, "None yet: no trigger instance has matched it."));
    return section;
  }
  section.append(h("table", { id: "enforcements" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, "Trigger instance"),
      h("th", { scope: "col" }, "Outcome"))),
    h("tbody", {}, list.map((e) => h("tr", { "data-status": e.status },
      h("td", {}, time(e.enforced_at)),
      h("td", {}, h("code", {}, e.trigger_instance_id)),
      h("td", {}, e.execution_id
        ? h("a", { href: `/ui/executions/${e.execution_id}` }, "its execution")
        : h("span", { class: "error" }, e.failure_reason || e.status)))))));
  if (list.length === 50) section.append(h("p", { class: "muted" }, "The newest 50."));
  return section;
}

export async function render(main, [ref], { navigate }) {
  const rule = await api(`/api/v1/rules/${encodeURIComponent(ref)}`);
  document.title = `${rule.ref} · Squall`;
  const header = h("h1", {}, rule.ref);
  const controls = h("div", { class: "controls", role: "group", "aria-label": "Controls" });
  const details = h("div");
  const show = (now) => {
    details.replaceChildren(facts(now));
    const buttons = [toggleButton(now, show)];
    if (can("rule_modify")) buttons.push(h("a", { class: "button", href: `/ui/rules/${encodeURIComponent(now.ref)}/edit` }, "Edit"));
    if (can("rule_delete")) buttons.push(deleteButton(now));
    controls.replaceChildren(...buttons.filter(Boolean));
    controls.hidden = !controls.children.length;
  };
  const deleteButton = (now) => {
    const button = h("button", { type: "button", class: "danger" }, "Delete");
    button.addEventListener("click", () => {
      const sure = h("button", { type: "button", class: "danger" }, `Delete ${now.ref} for good`);
      const keep = h("button", { type: "button" }, "Keep it");
      sure.addEventListener("click", async () => {
        try {
          notice(null);
          await api(`/api/v1/rules/${encodeURIComponent(now.ref)}`, { method: "DELETE" });
          navigate("/ui/rules");
        } catch (e) {
          notice(e);
        }
      });
      keep.addEventListener("click", () => show(now));
      controls.replaceChildren(sure, keep);
      keep.focus();
    });
    return button;
  };
  show(rule);
  const parts = [header, controls, details];
  if (rule.error) parts.push(h("section", {}, h("h2", {}, "Error"), h("pre", { class: "logs error" }, rule.error)));
  if (rule.warnings && rule.warnings.length) {
    parts.push(h("section", {}, h("h2", {}, "Warnings"), h("ul", {}, rule.warnings.map((w) => h("li", {}, w)))));
  }
  parts.push(textBlock("Definition", rule.source));
  if (Object.keys(rule.criteria || {}).length) parts.push(jsonBlock("Criteria", rule.criteria));
  main.append(...parts);
  main.append(await enforcements(rule.ref));
}
