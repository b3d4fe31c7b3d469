// Every action, searchable by pack and name.

import { api } from "../api.js";
import { h } from "../dom.js";

export async function render(main) {
  const list = await api("/api/v1/actions?include_attributes=ref,pack,description,runner_type");
  const search = h("input", { id: "action-search", type: "search", placeholder: "pack or name" });
  const packs = [...new Set(list.map((a) => a.pack))].sort();
  const pack = h("select", { id: "action-pack" }, h("option", { value: "" }, "all"), packs.map((p) => h("option", { value: p }, p)));
  const body = h("tbody");
  const draw = () => {
    const text = search.value.trim().toLowerCase();
    body.replaceChildren(...list
      .filter((a) => (!pack.value || a.pack === pack.value) && (!text || a.ref.toLowerCase().includes(text)))
      .map((a) => h("tr", {},
        h("td", {}, h("a", { href: `/ui/actions/${encodeURIComponent(a.ref)}` }, a.ref)),
        h("td", { class: "wide" }, a.runner_type),
        h("td", {}, a.description || ""))));
  };
  search.addEventListener("input", draw);
  pack.addEventListener("change", draw);
  main.append(
    h("h1", {}, "Actions"),
    h("div", { class: "filters", role: "search" },
      h("div", { class: "field" }, h("label", { for: "action-pack" }, "Pack"), pack),
      h("div", { class: "field" }, h("label", { for: "action-search" }, "Search"), search)),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Action"),
      h("th", { scope: "col", class: "wide" }, "Runner"), h("th", { scope: "col" }, "Description"))), body));
  draw();
}
