// The first page's data, asked for while the app's modules load. This is a
// classic script that the server puts inline in the page shell (ui.rs): it
// runs while the HTML is parsed, tens of milliseconds before the module
// graph has loaded and the router asks for anything, so on a first visit
// the API answers are on their way (or here) by then.
// api.js takes an answer from here when its GET is for the same path with
// the same credential, once and only within a few seconds; anything else
// is fetched as usual. Only what the home page always asks for is fetched.
// Should the modules run first (a shell from an earlier build, which loads
// this file `async`), api.js has put a taker here that takes nothing, and
// nothing is asked twice.
"use strict";
(() => {
  if (window.squallEarly) return;
  let c = null;
  try {
    c = JSON.parse(sessionStorage.getItem("squall.credential"));
  } catch {
    return; // signed out, or storage refused: the router sends to sign-in
  }
  if (!c || !c.secret) return;
  const auth = c.kind === "token" ? { "X-Auth-Token": c.secret } : { "St2-Api-Key": c.secret };
  const paths = ["/api/v1/user"];
  // The executions list with no filters in the URL: what prefetch() in
  // pages/executions.js asks for then (a UI test checks each is asked once).
  if (/^\/(?:ui\/?|ui\/executions)?$/.test(location.pathname) && !location.search) {
    paths.push("/api/v1/executions?parent=null&limit=50", "/api/v1/actions?include_attributes=ref");
  }
  const asked = performance.now();
  const pending = new Map();
  for (const path of paths) {
    const response = fetch(path, { headers: { Accept: "application/json", ...auth } });
    response.catch(() => {}); // the taker sees the failure; nobody else must
    pending.set(path, response);
  }
  // Older than this, an answer may be stale: the page asks again.
  const FRESH_MS = 5000;
  window.squallEarly = (path, secret) => {
    const response = pending.get(path);
    pending.delete(path);
    if (!response || secret !== c.secret || performance.now() - asked > FRESH_MS) return null;
    return response;
  };
})();
