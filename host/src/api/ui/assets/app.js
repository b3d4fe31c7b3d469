// The UI's entry point: the router. Each page is a module under pages/
// exporting `render(main, params)`, which may return a function that
// cleans up (closes subscriptions) when the user leaves the page. Pages
// have real addresses (/ui/executions/ID): links are shareable and the
// browser's back button works (History API).

import { credential, signOut, whoAmI } from "./api.js";
import { notice } from "./dom.js";
import { close as closeStream } from "./live.js";

const ROUTES = [
  [/^\/(?:ui\/?)?$/, "executions", "Executions"],
  [/^\/ui\/executions$/, "executions", "Executions"],
  [/^\/ui\/executions\/([^/]+)$/, "execution", "Executions"],
  [/^\/ui\/actions$/, "actions", "Actions"],
  [/^\/ui\/actions\/([^/]+)$/, "action", "Actions"],
  [/^\/ui\/inquiries$/, "inquiries", "Inquiries"],
  [/^\/ui\/rules$/, "rules", "Rules"],
  [/^\/ui\/rules\/new$/, "rule_edit", "Rules"],
  [/^\/ui\/rules\/([^/]+)\/edit$/, "rule_edit", "Rules"],
  [/^\/ui\/rules\/([^/]+)$/, "rule", "Rules"],
  [/^\/ui\/packs$/, "packs", "Packs"],
  [/^\/ui\/packs\/([^/]+)$/, "pack", "Packs"],
  [/^\/ui\/datastore$/, "datastore", "Datastore"],
  [/^\/ui\/audit$/, "audit", "Audit"],
  [/^\/ui\/sign-in$/, "sign_in", null],
];

let cleanup = null;
let generation = 0;

function match(pathname) {
  for (const [pattern, page, section] of ROUTES) {
    const found = pathname.match(pattern);
    if (found) return { page, section, params: found.slice(1).map(decodeURIComponent) };
  }
  return null;
}

/** Goes to `url` in the app (pushing history unless `replace`). */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

function markNav(section) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.textContent === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  const run = ++generation;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a page that failed to clean up must not stop the next */
    }
    cleanup = null;
  }
  notice(null);
  const main = document.getElementById("main");
  const found = match(location.pathname);
  const signedIn = Boolean(credential());
  if (!found) {
    main.replaceChildren();
    main.append(Object.assign(document.createElement("h1"), { textContent: "Not found" }));
    return;
  }
  if (!signedIn && found.page !== "sign_in") {
    const next = location.pathname + location.search;
    navigate(`/ui/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
    return;
  }
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  // The page's module, and the data it shows first (a page may export
  // `prefetch(params)`), are fetched while the user is asked for: on the
  // first load these are round trips the user would otherwise wait for
  // one after another.
  const loading = import(`./pages/${found.page}.js`).then((module) => {
    const early = signedIn && module.prefetch ? module.prefetch(found.params) : undefined;
    // Its failure is the page's to show, once it renders; not unhandled meanwhile.
    if (early) early.catch(() => {});
    return { module, early };
  });
  if (signedIn) {
    try {
      const me = await whoAmI();
      document.getElementById("user").textContent = me.username;
    } catch (e) {
      notice(e);
      return;
    }
  }
  markNav(found.section);
  const { module, early } = await loading;
  if (run !== generation) return; // the user went on meanwhile
  main.replaceChildren();
  document.title = "Squall";
  try {
    const done = await module.render(main, found.params, { navigate, early });
    if (run === generation) cleanup = typeof done === "function" ? done : null;
    else if (typeof done === "function") done();
  } catch (e) {
    notice(e);
  }
  if (run !== generation) return;
  const heading = main.querySelector("h1");
  if (heading && document.title === "Squall") document.title = `${heading.textContent} · Squall`;
  // A screen reader hears the new page: focus goes to its heading, unless
  // the page put it somewhere itself (a form's first field), or this is
  // the first page shown.
  if (!firstPage && heading && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
  firstPage = false;
}

let firstPage = true;


// Same-origin links to the app's pages go through the router.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || link.getAttribute("target")) return;
  const href = link.getAttribute("href"); // SVG links have no string `href` property
  if (!href) return;
  const url = new URL(href, location.href);
  if (url.origin !== location.origin || !match(url.pathname) || link.hasAttribute("download")) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener("popstate", route);

// The stream came back after a break: what changed meanwhile was not
// sent, so the page is drawn again from the API.
// Only pages that show live state: a form being filled in stays as it is.
const LIVE_PAGES = ["executions", "execution", "inquiries"];
window.addEventListener("squall:stream-reopened", () => {
  const found = match(location.pathname);
  if (credential() && found && LIVE_PAGES.includes(found.page)) route();
});

window.addEventListener("squall:signed-out", () => {
  closeStream();
  navigate("/ui/sign-in", { replace: true });
});

document.getElementById("sign-out").addEventListener("click", async () => {
  closeStream();
  await signOut();
  navigate("/ui/sign-in");
});

route();
