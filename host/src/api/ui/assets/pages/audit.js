// The audit log, newest first, 50 events a page: GET /audit reads it from
// its end (`sort_desc=true`), filtered by action and actor (a user matches
// their keys and tokens too) and paged by `offset` on the server. The
// filters and the offset live in the URL: a filtered log is a link.

import { apiPage, can } from "../api.js";
import { h, time } from "../dom.js";

const PAGE = 50;

export async function render(main, _params, { navigate }) {
  main.append(h("h1", {}, "Audit"));
  if (!can("audit_view")) {
    main.append(h("p", {}, "You may not view the audit log."));
    return;
  }
  const query = new URLSearchParams(location.search);
  const wanted = { action: query.get("action") || "", actor: query.get("actor") || "" };
  const offset = Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
  const params = new URLSearchParams({ sort_desc: "true", limit: String(PAGE) });
  if (offset > 0) params.set("offset", String(offset));
  if (wanted.action) params.set("action", wanted.action);
  if (wanted.actor) params.set("actor", wanted.actor);
  const { items: shown, next: older, total } = await apiPage(`/api/v1/audit?${params}`);

  const actionInput = h("input", { id: "audit-action", name: "action", list: "audit-actions", value: wanted.action, placeholder: "rule.create" });
  const known = h("datalist", { id: "audit-actions" }, [...new Set(shown.map((e) => e.action))].sort().map((a) => h("option", { value: a })));
  const actorInput = h("input", { id: "audit-actor", name: "actor", value: wanted.actor, placeholder: "admin or pack:ops" });
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
    older !== null ? h("a", { class: "button", href: link(older) }, "Older") : null);
  main.append(filters,
    h("p", { class: "muted", role: "status" }, shown.length
      ? `Events ${offset + 1}–${offset + shown.length}${total === null ? "" : ` of ${total}`}, newest first.`
      : "No events match."),
    shown.length ? table : "", pages);
}
