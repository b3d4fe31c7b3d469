// One shared connection to the event stream (StackStorm's
// /stream/v1/stream) for every page: executions created and changed.
// Pages subscribe and get each execution as /executions/{id} shows it.
//
// EventSource reconnects by itself after a network error; what happened
// meanwhile was not sent, so a reconnection fires `squall:stream-reopened`
// (the router re-renders the page from the API). A refusal (the token
// expired or was revoked) closes it for good: the next API call finds out
// and signs the user out.

import { api, streamUrl } from "./api.js";

const EVENTS = ["st2.execution__create", "st2.execution__update"];
let source = null;
const listeners = new Set();

function open() {
  const current = new EventSource(streamUrl(EVENTS));
  source = current;
  let opened = false;
  current.addEventListener("open", () => {
    if (opened) window.dispatchEvent(new CustomEvent("squall:stream-reopened"));
    opened = true;
  });
  current.addEventListener("error", () => {
    if (current.readyState !== EventSource.CLOSED || source !== current) return;
    source = null;
    // Refused: is the credential still good? (A 401 signs the user out.)
    api("/api/v1/user")
      .then(() => {
        if (!source && listeners.size) setTimeout(() => source || open(), 2000);
      })
      .catch(() => {});
  });
  for (const name of EVENTS) {
    current.addEventListener(name, (event) => {
      let execution;
      try {
        execution = JSON.parse(event.data);
      } catch {
        return;
      }
      for (const listener of listeners) listener(execution, name);
    });
  }
}

/** Calls `listener(execution, eventName)` for each event; returns the
 * function that unsubscribes. */
export function onExecution(listener) {
  if (!source) open();
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Closes the stream (on signing out). */
export function close() {
  if (source) source.close();
  source = null;
  listeners.clear();
}
