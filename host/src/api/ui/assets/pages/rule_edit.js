// Creating or editing a rule: its text in StackStorm's rule YAML (or JSON)
// sent as it is, as `squall rule create` sends a file (POST /rules, or PUT
// /rules/{ref}, Content-Type application/yaml or application/json); the
// server checks it. A refusal is shown under the text, at the line it
// names: a syntax error's line, or the line of the field `detail.field`
// names (e.g. `criteria.trigger.body.name.type`), which is selected.

import { api, can } from "../api.js";
import { h, notice } from "../dom.js";

const TEMPLATE = `name: my_rule
pack: default
description: What it does
enabled: true
trigger:
  type: core.webhook
  parameters:
    url: my_hook
criteria:
  trigger.body.name:
    type: equals
    pattern: world
action:
  ref: core.echo
  parameters:
    message: "hello {{ trigger.body.name }}"
`;

const KEY = /^(\s*)(?:"([^"]*)"|'([^']*)'|([^\s#'"{[\-][^:#]*?))\s*:(?:\s+(.*))?$/;
const FLOW_KEY = /(?:^|[{,])\s*(?:"([^"]*)"|'([^']*)'|([^\s:,{}'"]+))\s*:/g;

/**
 * The line (1-based) of `field` (`a.b.c`, keys may hold dots) in a rule's
 * YAML or pretty JSON: the line whose path of keys, by indentation (and
 * the keys of a one-line `{…}` map), is the field, or else the deepest
 * line whose path the field starts with. Null when nothing matches.
 */
export function lineOfField(text, field) {
  const stack = []; // {indent, key}
  let best = null;
  let bestLength = -1;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const found = lines[i].match(KEY);
    if (!found || /^\s*#/.test(lines[i])) continue;
    const indent = found[1].length;
    const key = found[2] ?? found[3] ?? found[4];
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    stack.push({ indent, key });
    const path = stack.map((s) => s.key).join(".");
    const candidates = [path];
    const rest = (found[5] || "").trim();
    if (rest.startsWith("{")) {
      for (const flow of rest.matchAll(FLOW_KEY)) candidates.push(`${path}.${flow[1] ?? flow[2] ?? flow[3]}`);
    }
    for (const candidate of candidates) {
      if (candidate === field) return i + 1;
      if (field.startsWith(`${candidate}.`) && candidate.length > bestLength) {
        best = i + 1;
        bestLength = candidate.length;
      }
    }
  }
  return best;
}

/** Where a refusal points: {line, field}, either may be null. */
export function locate(text, error) {
  const field = error.detail && error.detail.field ? String(error.detail.field) : null;
  const syntax = /at line (\d+)(?: column (\d+))?/.exec(error.message || "");
  if (syntax) return { line: Number(syntax[1]), field };
  return { line: field ? lineOfField(text, field) : null, field };
}

export async function render(main, [ref], { navigate }) {
  const editing = ref !== undefined;
  const allowed = editing ? can("rule_modify") : can("rule_create");
  const title = editing ? `Edit ${ref}` : "New rule";
  document.title = `${title} · Squall`;
  main.append(h("h1", {}, title));
  if (!allowed) {
    main.append(h("p", {}, editing ? "You may not change this rule." : "You may not create rules."));
    return;
  }
  const source = editing ? (await api(`/api/v1/rules/${encodeURIComponent(ref)}`)).source : TEMPLATE;
  const text = h("textarea", {
    id: "rule-source", name: "source", rows: Math.max(16, source.split("\n").length + 2),
    spellcheck: "false", autocapitalize: "off", "aria-describedby": "rule-hint rule-error",
  });
  text.value = source;
  const problem = h("div", { id: "rule-error", class: "field-error", hidden: true });
  const save = h("button", { type: "submit", class: "primary" }, editing ? "Save rule" : "Create rule");
  const form = h("form", { class: "rule-editor" },
    h("div", { class: "field wide-field" },
      h("label", { for: "rule-source" }, "Rule (YAML or JSON)"),
      h("span", { class: "hint", id: "rule-hint" },
        "StackStorm's rule format: name, pack, enabled, trigger (type, parameters), criteria, action (ref, parameters). ",
        "Text starting with { is sent as JSON."),
      text, problem),
    h("div", { class: "controls" }, save,
      h("a", { class: "button", href: editing ? `/ui/rules/${encodeURIComponent(ref)}` : "/ui/rules" }, "Cancel")));
  main.append(form);

  function clear() {
    problem.hidden = true;
    problem.replaceChildren();
    text.removeAttribute("aria-invalid");
  }

  function show(error) {
    const { line, field } = locate(text.value, error);
    const lines = text.value.split("\n");
    const where = [line ? `Line ${line}` : null, field ? `field ${field}` : null].filter(Boolean).join(", ");
    problem.replaceChildren(
      h("p", { class: "error" }, h("strong", {}, where ? `${where}: ` : "Refused: "), error.message),
      line && lines[line - 1] !== undefined
        ? h("pre", { class: "logs error", "data-line": line }, `${String(line).padStart(3)} | ${lines[line - 1]}`)
        : null);
    problem.hidden = false;
    text.setAttribute("aria-invalid", "true");
    text.focus();
    if (line) {
      const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
      text.setSelectionRange(start, start + (lines[line - 1] || "").length);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear();
    notice(null);
    save.disabled = true;
    const json = text.value.trimStart().startsWith("{");
    try {
      const rule = await api(editing ? `/api/v1/rules/${encodeURIComponent(ref)}` : "/api/v1/rules", {
        method: editing ? "PUT" : "POST",
        headers: { "Content-Type": json ? "application/json" : "application/yaml" },
        body: text.value,
      });
      navigate(`/ui/rules/${encodeURIComponent(rule.ref)}`);
    } catch (e) {
      if (e.status === 400 || e.status === 422 || e.status === 409) show(e);
      else notice(e);
    } finally {
      save.disabled = false;
    }
  });
  text.addEventListener("input", () => {
    if (text.hasAttribute("aria-invalid")) text.removeAttribute("aria-invalid");
  });
}
