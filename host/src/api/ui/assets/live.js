// One shared connection to the event stream (StackStorm's
// /stream/v1/stream) for every page: executions created and changed, and,
// while a page listens for them, the lines actions log as they run.
// Pages subscribe and get each execution as /executions/{id} shows it, or
// each line as the stream sends it (StackStorm's output document, with
// Squall's `level` and `workflow_task`).
//
// EventSource reconnects by itself after a network error; what happened
// meanwhile was not sent, so a reconnection fires `squall:stream-reopened`
// (the router re-renders the page from the API). A refusal (the token
// expired or was revoked) closes it for good: the next API call finds out
// and signs the user out.
//
// Log lines are asked for only while some page listens for them (an
// execution's page), so the other pages are not sent every line every
// action logs: the connection is replaced by one that asks for them (or
// no longer does), and the old one closes once the new one is open, so no
// execution event falls between the two (one may come twice).

import { api, streamUrl } from "./api.js";

const EXECUTION_EVENTS = ["st2.execution__create", "st2.execution__update"];
const OUTPUT_EVENT = "st2.execution.output__create";
let source = null;
let withOutput = false; // whether `source` asks for log lines
const retiring = new Set(); // replaced connections, closed once a successor opens
const listeners = new Set();
const outputListeners = new Set();

function retire(connections) {
  for (const old of connections) {
    old.close();
    retiring.delete(old);
  }
}

function open() {
  if (source) retiring.add(source);
  const replaced = [...retiring];
  withOutput = outputListeners.size > 0;
  const events = withOutput ? [...EXECUTION_EVENTS, OUTPUT_EVENT] : EXECUTION_EVENTS;
  const current = new EventSource(streamUrl(events));
  source = current;
  let opened = false;
  current.addEventListener("open", () => {
    retire(replaced);
    if (opened) window.dispatchEvent(new CustomEvent("squall:stream-reopened"));
    opened = true;
  });
  current.addEventListener("error", () => {
    if (current.readyState !== EventSource.CLOSED || source !== current) return;
    retire(replaced);
    source = null;
    // Refused: is the credential still good? (A 401 signs the user out.)
    api("/api/v1/user")
      .then(() => {
        if (!source && (listeners.size || outputListeners.size)) setTimeout(() => source || open(), 2000);
      })
      .catch(() => {});
  });
  for (const name of EXECUTION_EVENTS) {
    current.addEventListener(name, (event) => {
      const execution = parse(event);
      if (!execution) return;
      for (const listener of listeners) listener(execution, name);
    });
  }
  current.addEventListener(OUTPUT_EVENT, (event) => {
    const line = parse(event);
    if (!line) return;
    for (const listener of outputListeners) listener(line);
  });
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

/** Calls `listener(execution, eventName)` for each event; returns the
 * function that unsubscribes. */
export function onExecution(listener) {
  if (!source) open();
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Calls `listener(line)` for each line an action logs (of executions the
 * user may view): `execution_id`, `level`, `data` (the line with its
 * newline), `workflow_task` (`{workflow, task}` or null), `timestamp`;
 * returns the function that unsubscribes. */
export function onOutput(listener) {
  outputListeners.add(listener);
  if (!source || !withOutput) open();
  return () => {
    outputListeners.delete(listener);
    // Not straight away: the next page may listen again.
    setTimeout(() => {
      if (source && withOutput && !outputListeners.size) open();
    }, 1000);
  };
}

/** Closes the stream (on signing out). */
export function close() {
  if (source) source.close();
  retire([...retiring]);
  source = null;
  withOutput = false;
  listeners.clear();
  outputListeners.clear();
}
