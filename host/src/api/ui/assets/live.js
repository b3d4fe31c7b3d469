// One shared connection to the event stream (StackStorm's
// /stream/v1/stream) for every page: executions created and changed.
// Pages subscribe and get each execution as /executions/{id} shows it.

import { streamUrl } from "./api.js";

const EVENTS = ["st2.execution__create", "st2.execution__update"];
let source = null;
const listeners = new Set();

function open() {
  source = new EventSource(streamUrl(EVENTS));
  for (const name of EVENTS) {
    source.addEventListener(name, (event) => {
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
