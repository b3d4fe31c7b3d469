// Installed packs: version, signer, what each requests and was granted,
// its actions; and, for those who may install, a bundle's upload with the
// review of what it requests before granting, and the same review of a
// pack the server pulls from a registry it allows (pack_install.js).

import { api, can } from "../api.js";
import { h, notice } from "../dom.js";
import { installForm, registryForm } from "../pack_install.js";

/** Granted capabilities as `--grant` spells them, or "nothing". */
export function granted(grants) {
  const g = grants || {};
  const shown = [
    ...(g.outbound_hosts || []).map((host) => `http=${host}`),
    ...(g.secrets || []).map((secret) => `secret=${secret}`),
    ...(g.kv ? ["kv"] : []),
    ...(g.exec || []).map((path) => `exec=${path}`),
  ];
  return shown.length ? shown.join(", ") : "nothing";
}

/** What a pack requests, or "nothing". */
export function requested(pack) {
  return pack.requested && pack.requested.length ? pack.requested.join(", ") : "nothing";
}

export function signer(pack) {
  return pack.signer ? pack.signer : h("span", { class: "muted" }, "unsigned");
}

export async function render(main) {
  const table = h("div");
  async function load() {
    const packs = await api("/api/v1/packs");
    table.replaceChildren(
      h("table", { id: "packs" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Pack"), h("th", { scope: "col" }, "Version"),
          h("th", { scope: "col", class: "wide" }, "Signer"), h("th", { scope: "col" }, "Requests"),
          h("th", { scope: "col", class: "wide" }, "Granted"), h("th", { scope: "col" }, "Actions"))),
        h("tbody", {}, packs.map((pack) => h("tr", { "data-pack": pack.name },
          h("td", {}, h("a", { href: `/ui/packs/${encodeURIComponent(pack.name)}` }, pack.name),
            pack.description ? h("div", { class: "muted" }, pack.description) : null),
          h("td", { "data-version": pack.version || "" }, pack.version || "—"),
          h("td", { class: "wide" }, signer(pack)),
          h("td", { class: "caps" }, requested(pack)),
          h("td", { class: "wide caps" }, granted(pack.grants)),
          h("td", {}, String((pack.actions || []).length)))))),
      packs.length ? "" : h("p", { class: "muted" }, "No packs."));
  }
  await load();
  main.append(h("h1", {}, "Packs"), table);
  if (can("pack_install")) {
    const reload = () => load().catch(notice);
    const { registries } = await api("/api/v1/registries");
    if (registries.length) main.append(registryForm(reload, registries));
    main.append(installForm(reload));
  }
}
