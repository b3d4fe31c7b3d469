// The pages issue 17 lists that this build does not have yet.

import { h } from "../dom.js";

const CLI = {
  rules: "squall rule list, or GET /api/v1/rules",
  packs: "squall pack list, or GET /api/v1/packs",
  datastore: "squall key list, or GET /api/v1/keys",
  audit: "squall audit, or GET /api/v1/audit",
};

export function render(main, [page]) {
  const title = page.charAt(0).toUpperCase() + page.slice(1);
  main.append(
    h("h1", {}, title),
    h("p", {}, `The ${title} page is not built yet. Until it is, use ${CLI[page]}.`),
  );
}
