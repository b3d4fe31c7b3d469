// The home page: executions newest first, top-level by default (a
// workflow's tasks are on its own page), filtered by action, status, rule,
// user and time (the filters live in the URL, so a filtered list is a link),
// 50 a page ("Older" and "Newer" move the offset in the URL), and live: the
// event stream inserts new executions on the first page and updates
// statuses on any.

import { api, apiPage } from "../api.js";
import { h, notice, seconds, statusBadge, time } from "../dom.js";
import { onExecution } from "../live.js";

const STATUSES = [
  "requested", "scheduled", "running", "succeeded", "failed", "timeout",
  "canceled", "abandoned", "paused", "pending",
];
const PAGE = 50;

/** Who or what started it: a user, a rule, or a workflow. */
export function startedBy(e) {
  if (e.parent) return h("a", { href: `/ui/executions/${e.parent}` }, "workflow");
  if (e.rule) return `rule ${e.rule}`;
  if (e.context && e.context.user) return e.context.user;
  return h("span", { class: "muted" }, "—");
}

const WORKFLOW_RUNNERS = ["orquesta"];

/** A row; a workflow's has a toggle for its tasks (`toggle(e, button)`),
 * a task's is marked as its workflow's child. */
function row(e, { toggle, expanded = false } = {}) {
  const child = Boolean(e.parent);
  const link = h("a", { href: `/ui/executions/${e.id}` }, e.action.ref);
  let first;
  if (child) {
    const task = e.workflow_task ? `${e.workflow_task.task}: ` : "";
    first = h("td", { class: "task" }, h("span", { "aria-hidden": "true" }, "↳ "), task, link);
  } else if (toggle && WORKFLOW_RUNNERS.includes(e.runner && e.runner.name)) {
    const button = h("button", { type: "button", class: "toggle", "aria-expanded": String(expanded),
      "aria-label": `Tasks of ${e.action.ref}` }, expanded ? "▾" : "▸");
    button.addEventListener("click", () => toggle(e, button));
    first = h("td", {}, button, " ", link);
  } else {
    first = h("td", {}, link);
  }
  return h(
    "tr",
    { "data-id": e.id, "data-status": e.status, "data-parent": e.parent || null, class: child ? "child" : null },
    first,
    h("td", {}, statusBadge(e.status)),
    h("td", {}, time(e.start_timestamp)),
    h("td", { class: "wide" }, seconds(e.elapsed_seconds)),
    h("td", { class: "wide" }, startedBy(e)),
    h("td", { class: "wide" }, h("code", {}, e.id.slice(-12))),
  );
}

/** Where the list starts: the `offset` in the URL. */
function offsetOf(query) {
  return Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
}

/** The `since` filter in the URL (the browser's local time) as epoch ms. */
function sinceOf(query) {
  return query.get("since") ? new Date(query.get("since")).getTime() : null;
}

/** The first page of the list the URL asks for, and the action names for
 * the filter: what the user waits for, so the router asks for it while
 * it asks who the user is. */
export function prefetch() {
  const query = new URLSearchParams(location.search);
  const offset = offsetOf(query);
  const sinceMs = sinceOf(query);
  // The filters in the URL, as the API takes them (`since` sent as UTC).
  const params = new URLSearchParams({ parent: "null", limit: String(PAGE) });
  if (offset > 0) params.set("offset", String(offset));
  if (query.get("action")) params.set("action", query.get("action"));
  if (query.get("status")) params.set("status", query.get("status"));
  if (query.get("rule")) params.set("rule_ref", query.get("rule"));
  if (query.get("user")) params.set("user", query.get("user"));
  if (sinceMs !== null && !Number.isNaN(sinceMs)) params.set("since", new Date(sinceMs).toISOString());
  return Promise.all([
    apiPage(`/api/v1/executions?${params}`),
    api("/api/v1/actions?include_attributes=ref").catch(() => []),
  ]);
}

export async function render(main, _params, { early } = {}) {
  const query = new URLSearchParams(location.search);
  const offset = offsetOf(query);
  const sinceMs = sinceOf(query);
  const first = early || prefetch();
  const actions = h("datalist", { id: "action-refs" });
  const action = h("input", { id: "filter-action", name: "action", list: "action-refs", value: query.get("action") || "", placeholder: "pack.action" });
  const status = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: query.get("status") === s }, s)),
  );
  const rule = h("input", { id: "filter-rule", name: "rule", value: query.get("rule") || "", placeholder: "pack.rule" });
  const user = h("input", { id: "filter-user", name: "user", value: query.get("user") || "" });
  const since = h("input", { id: "filter-since", name: "since", type: "datetime-local", value: query.get("since") || "" });
  const filters = h(
    "form",
    { class: "filters", role: "search" },
    h("div", { class: "field" }, h("label", { for: "filter-action" }, "Action"), action, actions),
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), status),
    h("div", { class: "field" }, h("label", { for: "filter-rule" }, "Rule"), rule),
    h("div", { class: "field" }, h("label", { for: "filter-user" }, "User"), user),
    h("div", { class: "field" }, h("label", { for: "filter-since" }, "Since"), since),
    h("button", { type: "submit" }, "Filter"),
  );
  const body = h("tbody", { id: "executions" });
  const table = h(
    "table",
    { "aria-describedby": "executions-live" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Action"), h("th", { scope: "col" }, "Status"),
      h("th", { scope: "col" }, "Started"), h("th", { scope: "col", class: "wide" }, "Elapsed"),
      h("th", { scope: "col", class: "wide" }, "Started by"), h("th", { scope: "col", class: "wide" }, "Id"))),
    body,
  );
  const empty = h("p", { class: "muted", hidden: true }, "No executions match.");
  const pages = h("nav", { class: "controls", "aria-label": "Pages of executions" });
  main.append(
    h("h1", {}, "Executions"),
    filters,
    h("p", { id: "executions-live", class: "muted" }, "Top-level executions, newest first; ▸ shows a workflow's tasks. New ones and changes appear as they happen."),
    table,
    empty,
    pages,
  );
  /** This list (its filters) from `at`. */
  const pageLink = (at) => {
    const next = new URLSearchParams(query);
    next.delete("offset");
    if (at > 0) next.set("offset", String(at));
    return `/ui/executions${next.toString() ? `?${next}` : ""}`;
  };

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (action.value.trim()) next.set("action", action.value.trim());
    if (status.value) next.set("status", status.value);
    if (rule.value.trim()) next.set("rule", rule.value.trim());
    if (user.value.trim()) next.set("user", user.value.trim());
    if (since.value) next.set("since", since.value);
    const url = `/ui/executions${next.toString() ? `?${next}` : ""}`;
    history.pushState(null, "", url);
    window.dispatchEvent(new PopStateEvent("popstate"));
  });

  const wanted = (e) =>
    !e.parent &&
    (!query.get("action") || e.action.ref === query.get("action")) &&
    (!query.get("status") || e.status === query.get("status")) &&
    (!query.get("rule") || e.rule === query.get("rule")) &&
    (!query.get("user") || (e.context && e.context.user) === query.get("user")) &&
    (sinceMs === null || new Date(e.start_timestamp).getTime() >= sinceMs);

  const rows = new Map();
  const expanded = new Set(); // workflows whose tasks are shown
  const rowFor = (e) => (e.parent ? row(e) : row(e, { toggle, expanded: expanded.has(e.id) }));

  /** Where a task's row goes: after its workflow's row and its earlier tasks. */
  function placeChild(tr, parent) {
    let at = rows.get(parent);
    while (at.nextElementSibling && at.nextElementSibling.dataset.parent === parent
      && at.nextElementSibling.dataset.id < tr.dataset.id) {
      at = at.nextElementSibling;
    }
    at.after(tr);
  }

  async function toggle(e, button) {
    if (expanded.has(e.id)) {
      expanded.delete(e.id);
      for (const tr of body.querySelectorAll(`tr[data-parent="${e.id}"]`)) {
        rows.delete(tr.dataset.id);
        tr.remove();
      }
      button.setAttribute("aria-expanded", "false");
      button.textContent = "▸";
      return;
    }
    expanded.add(e.id);
    button.setAttribute("aria-expanded", "true");
    button.textContent = "▾";
    try {
      const children = await api(`/api/v1/executions?parent=${e.id}&limit=-1`);
      for (const c of children.reverse()) {
        if (rows.has(c.id) || !expanded.has(e.id)) continue;
        const tr = row(c);
        rows.set(c.id, tr);
        placeChild(tr, e.id);
      }
    } catch (err) {
      notice(err);
    }
  }
  // Subscribe before reading, so nothing between the two is missed.
  const pending = [];
  let loaded = false;
  const apply = (e) => {
    if (!loaded) {
      pending.push(e);
      return;
    }
    const old = rows.get(e.id);
    if (e.parent) {
      // A task: shown only under its expanded workflow.
      if (!expanded.has(e.parent) || !rows.has(e.parent)) return;
      const fresh = row(e);
      if (old) old.replaceWith(fresh);
      else {
        fresh.classList.add("fresh");
        placeChild(fresh, e.parent);
      }
      rows.set(e.id, fresh);
      return;
    }
    if (old) {
      if (!wanted(e)) {
        for (const tr of body.querySelectorAll(`tr[data-parent="${e.id}"]`)) {
          rows.delete(tr.dataset.id);
          tr.remove();
        }
        expanded.delete(e.id);
        old.remove();
        rows.delete(e.id);
        return;
      }
      const fresh = rowFor(e);
      old.replaceWith(fresh);
      rows.set(e.id, fresh);
      return;
    }
    // A new one belongs on the first page.
    if (!wanted(e) || offset > 0) return;
    const fresh = rowFor(e);
    fresh.classList.add("fresh");
    // Ids are UUIDv7: their order is the order of creation.
    const after = [...body.children].find((tr) => !tr.dataset.parent && tr.dataset.id < e.id);
    body.insertBefore(fresh, after || null);
    rows.set(e.id, fresh);
    empty.hidden = true;
  };
  const unsubscribe = onExecution((e) => apply(e));

  try {
    const [{ items: list, next }, refs] = await first;
    for (const e of list) {
      const tr = rowFor(e);
      body.append(tr);
      rows.set(e.id, tr);
    }
    actions.append(...refs.map((a) => h("option", { value: a.ref })));
    empty.hidden = list.length > 0;
    pages.replaceChildren(
      offset > 0 ? h("a", { class: "button", href: pageLink(Math.max(0, offset - PAGE)) }, "Newer") : "",
      next !== null ? h("a", { class: "button", href: pageLink(next) }, "Older") : "");
    pages.hidden = !pages.children.length;
  } catch (e) {
    notice(e);
  }
  loaded = true;
  for (const e of pending.splice(0)) apply(e);
  return unsubscribe;
}
