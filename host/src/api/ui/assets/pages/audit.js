// The audit log, newest first: GET /audit pages oldest first by `after`
// (the sequence number) and filters by action only, so the page reads the
// log to its end (1,000 events a request) and shows it newest first, 50
// at a time (`offset` in the URL); the actor filter (a part of its name)
// is applied here. The filters live in the URL: a filtered log is a link.

import { api, can } from "../api.js";
import { h, time } from "../dom.js";

const PAGE = 50;
const BATCH = 1000;
const MOST = 100; // requests: 100,000 events at most

async function readAll(action) {
  const events = [];
  let after = 0;
  for (let i = 0; i < MOST; i++) {
    const query = new URLSearchParams({ after: String(after), limit: String(BATCH) });
    if (action) query.set("action", action);
    const batch = await api(`/api/v1/audit?${query}`);
    events.push(...batch);
    if (batch.length < BATCH) return { events, partial: false };
    after = batch[batch.length - 1].seq;
  }
  return { events, partial: true };
}

export async function render(main, _params, { navigate }) {
  main.append(h("h1", {}, "Audit"));
  if (!can("audit_view")) {
    main.append(h("p", {}, "You may not view the audit log."));
    return;
  }
  const query = new URLSearchParams(location.search);
  const wanted = { action: query.get("action") || "", actor: query.get("actor") || "" };
  const offset = Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
  const { events, partial } = await readAll(wanted.action);
  const actor = wanted.actor.toLowerCase();
  const matching = events.filter((e) => !actor || e.actor.toLowerCase().includes(actor)).reverse();
  const shown = matching.slice(offset, offset + PAGE);

  const actionInput = h("input", { id: "audit-action", name: "action", list: "audit-actions", value: wanted.action, placeholder: "rule.create" });
  const known = h("datalist", { id: "audit-actions" }, [...new Set(events.map((e) => e.action))].sort().map((a) => h("option", { value: a })));
  const actorInput = h("input", { id: "audit-actor", name: "actor", value: wanted.actor, placeholder: "admin" });
  const filters = h("form", { class: "filters", role: "search" },
    h("div", { class: "field" }, h("label", { for: "audit-action" }, "Action"), actionInput, known),
    h("div", { class: "field" }, h("label", { for: "audit-actor" }, "Actor"), actorInput),
    h("button", { type: "submit" }, "Filter"));
  const link = (at) => {
    const next = new URLSearchParams();
    if (wanted.action) next.set("action", wanted.action);
    if (wanted.actor) next.set("actor", wanted.actor);
    if (at > 0) next.set("offset", String(at));
    const text = next.toString();
    return text ? `/ui/audit?${text}` : "/ui/audit";
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    wanted.action = actionInput.value.trim();
    wanted.actor = actorInput.value.trim();
    navigate(link(0));
  });

  const table = h("table", { id: "audit" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, "Actor"), h("th", { scope: "col" }, "Action"),
      h("th", { scope: "col" }, "Subject"), h("th", { scope: "col", class: "wide" }, "Detail"))),
    h("tbody", {}, shown.map((e) => h("tr", { "data-seq": e.seq, "data-action": e.action },
      h("td", {}, time(e.at)),
      h("td", {}, e.actor),
      h("td", {}, h("code", {}, e.action)),
      h("td", {}, e.subject),
      h("td", { class: "wide" }, e.detail && Object.keys(e.detail).length
        ? h("code", { class: "detail" }, JSON.stringify(e.detail)) : h("span", { class: "muted" }, "—"))))));
  const pages = h("nav", { class: "controls", "aria-label": "Pages of the audit log" },
    offset > 0 ? h("a", { class: "button", href: link(Math.max(0, offset - PAGE)) }, "Newer") : null,
    offset + PAGE < matching.length ? h("a", { class: "button", href: link(offset + PAGE) }, "Older") : null);
  main.append(filters,
    h("p", { class: "muted", role: "status" }, matching.length
      ? `Events ${offset + 1}–${offset + shown.length} of ${matching.length}, newest first${partial ? "; only the oldest 100,000 were read: filter by action" : ""}.`
      : "No events match."),
    shown.length ? table : "", pages);
}
