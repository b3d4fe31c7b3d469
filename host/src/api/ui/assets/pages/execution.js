// One execution: status, timing, who or what started it, parameters, the
// result under "Result", log lines (live as the action logs them, and for
// a workflow its tasks' lines under each task's name); cancel, pause,
// resume and re-run when the user may and the state allows; for a
// workflow, its task graph with each task's state live from the stream.

import { api, can } from "../api.js";
import { h, jsonBlock, notice, seconds, statusBadge, time } from "../dom.js";
import { drawGraph, loadLayout } from "../graph.js";
import { onExecution, onOutput } from "../live.js";

const FINISHED = ["succeeded", "failed", "timeout", "canceled", "abandoned"];
const CANCELABLE = ["requested", "scheduled", "running", "paused", "pending"];
const WORKFLOW_RUNNERS = ["orquesta"];

function origin(e) {
  const parts = [];
  if (e.context && e.context.user) parts.push(h("span", {}, `user ${e.context.user}`));
  if (e.rule) parts.push(h("span", {}, `rule ${e.rule}`));
  if (e.trigger_instance) parts.push(h("span", {}, "trigger instance ", h("code", {}, e.trigger_instance)));
  if (e.workflow_task) {
    parts.push(h("span", {}, `task ${e.workflow_task.task} of `,
      h("a", { href: `/ui/executions/${e.workflow_task.workflow}` }, "its workflow")));
  }
  if (!parts.length) return h("span", { class: "muted" }, "—");
  return parts.flatMap((p, i) => (i ? ["; ", p] : [p]));
}

function facts(e) {
  const row = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  return h("dl", { class: "facts" },
    row("Status", statusBadge(e.status)),
    row("Action", h("a", { href: `/ui/actions/${encodeURIComponent(e.action.ref)}` }, e.action.ref)),
    row("Requested", time(e.start_timestamp)),
    row("Started", time(e.started_at)),
    row("Ended", time(e.end_timestamp)),
    row("Elapsed", seconds(e.elapsed_seconds)),
    row("Started by", origin(e)),
    row("Attempt", String(e.attempt)),
    row("Id", h("code", {}, e.id)));
}

function logLine(level, task, message) {
  return `${level.padEnd(5)} ${task === null ? "" : `${task}: `}${message}\n`;
}

// The Log section: what execution `id` logged and, for a workflow, what
// each of its tasks logged, under the task's name. One block of lines per
// execution: this one's first, then its tasks' in the order they were
// created (ids are UUIDv7). Lines are appended as the stream brings them;
// once an execution ended, its stored lines (the same, and any the stream
// missed) take the place of those, and a late live line of it is dropped.
function logView(id) {
  const none = h("p", { class: "muted" }, "No log lines.");
  const pre = h("pre", { class: "logs", tabindex: "0", hidden: true });
  const blocks = new Map(); // execution id → {el, stored, task}
  const order = (execution) => (execution === id ? "" : execution);

  function block(execution, task, lines = []) {
    let found = blocks.get(execution);
    if (!found) {
      found = { el: h("span", { "data-execution": execution }, lines), stored: false, task };
      const next = [...blocks.keys()].filter((k) => order(k) > order(execution)).sort()[0];
      pre.insertBefore(found.el, next === undefined ? null : blocks.get(next).el);
      blocks.set(execution, found);
    }
    return found;
  }

  function refresh() {
    pre.hidden = !pre.textContent;
    none.hidden = !pre.hidden;
  }

  return {
    element: h("div", {}, none, pre),
    /** A line from the stream (StackStorm's output document). */
    live(line) {
      const parent = line.workflow_task;
      let task;
      if (line.execution_id === id) task = null;
      else if (parent && parent.workflow === id) task = parent.task;
      else return;
      const found = block(line.execution_id, task);
      if (found.stored) return;
      const message = String(line.data ?? "").replace(/\n$/, "");
      const level = line.level || (line.output_type === "stderr" ? "warn" : "info");
      found.el.append(logLine(level, task, message));
      refresh();
    },
    /** An ended execution's stored lines (`task`: null for this one). */
    stored(execution, task, logs) {
      const lines = (logs || []).map((l) => logLine(l.level, task, l.message));
      const known = blocks.has(execution);
      const found = block(execution, task, lines);
      found.stored = true;
      if (known) found.el.replaceChildren(...lines);
      refresh();
    },
  };
}

export async function render(main, [id], { navigate }) {
  const header = h("h1", {}, "Execution");
  const controls = h("div", { class: "controls", role: "group", "aria-label": "Controls" });
  const details = h("div");
  const graphSection = h("section", { hidden: true },
    h("h2", {}, "Tasks"),
    h("p", { class: "legend" }, "Each task's state, live; a task links to its execution."));
  const graphBox = h("div", { class: "graph", id: "task-graph" });
  const waiting = h("p", { role: "status", hidden: true }, "A task waits on an inquiry: ",
    h("a", { href: "/ui/inquiries" }, "answer it on the Inquiries page"), ".");
  graphSection.append(waiting, graphBox);
  const body = h("div");
  const log = logView(id);
  const logSection = h("section", {}, h("h2", {}, "Log"), log.element);
  main.append(header, controls, details, graphSection, body);

  let execution = null;
  let updateGraph = null;
  const tasks = new Map(); // task name → its latest execution {id, status}

  function noteTask(child) {
    if (!child.workflow_task || child.workflow_task.workflow !== id) return;
    const name = child.workflow_task.task;
    const known = tasks.get(name);
    if (!known || known.id <= child.id) tasks.set(name, { id: child.id, status: child.status });
    if (FINISHED.includes(child.status) && Array.isArray(child.logs)) log.stored(child.id, name, child.logs);
    if (updateGraph) updateGraph(tasks);
    waiting.hidden = ![...tasks.values()].some((t) => t.status === "pending");
  }

  async function act(label, call) {
    try {
      notice(null);
      const answer = await call();
      if (answer && answer.id && answer.id !== id) navigate(`/ui/executions/${answer.id}`);
      else show(await api(`/api/v1/executions/${id}`));
    } catch (e) {
      notice(new Error(`${label}: ${e.message}`));
    }
  }

  function drawControls(e) {
    const workflow = WORKFLOW_RUNNERS.includes(e.runner && e.runner.name);
    const buttons = [];
    if (can("execution_stop") && CANCELABLE.includes(e.status)) {
      buttons.push(h("button", { type: "button", class: "danger", onclick: () =>
        act("Cancel", () => api(`/api/v1/executions/${id}`, { method: "DELETE" })) }, "Cancel"));
    }
    if (can("execution_stop") && workflow && e.status === "running") {
      buttons.push(h("button", { type: "button", onclick: () =>
        act("Pause", () => api(`/api/v1/executions/${id}/pause`, { method: "POST" })) }, "Pause"));
    }
    if (can("execution_stop") && workflow && e.status === "paused") {
      buttons.push(h("button", { type: "button", onclick: () =>
        act("Resume", () => api(`/api/v1/executions/${id}/resume`, { method: "POST" })) }, "Resume"));
    }
    if (can("execution_rerun") && FINISHED.includes(e.status)) {
      buttons.push(h("button", { type: "button", onclick: () => rerunForm(e) }, "Re-run"));
    }
    controls.replaceChildren(...buttons);
    controls.hidden = buttons.length === 0;
  }

  function rerunForm(e) {
    const text = h("textarea", { id: "rerun-parameters", rows: 6 }, JSON.stringify(e.parameters || {}, null, 2));
    const form = h("form", { class: "rerun" },
      h("div", { class: "field" }, h("label", { for: "rerun-parameters" }, "Parameters (JSON)"), text),
      h("button", { type: "submit", class: "primary" }, "Re-run with these parameters"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let parameters;
      try {
        parameters = JSON.parse(text.value);
      } catch (err) {
        notice(new Error(`Parameters: not JSON: ${err.message}`));
        return;
      }
      act("Re-run", () => api(`/api/v1/executions/${id}/re_run`, { method: "POST", body: { parameters } }));
    });
    controls.replaceChildren(form);
    text.focus();
  }

  function show(e) {
    execution = e;
    header.replaceChildren(`${e.action.ref} `, statusBadge(e.status));
    document.title = `${e.action.ref} ${e.status} · Squall`;
    details.replaceChildren(facts(e));
    drawControls(e);
    const parts = [jsonBlock("Parameters", e.parameters)];
    if (e.error) parts.push(h("section", {}, h("h2", {}, "Error"), h("pre", { class: "logs error" }, e.error)));
    parts.push(e.result === null || e.result === undefined
      ? h("section", {}, h("h2", {}, "Result"), h("p", { class: "muted" }, FINISHED.includes(e.status) ? "No result." : "Not finished yet."))
      : jsonBlock("Result", e.result));
    parts.push(logSection);
    body.replaceChildren(...parts);
    if (FINISHED.includes(e.status)) log.stored(id, null, e.logs);
  }

  const pending = [];
  let ready = false;
  const unsubscribeOutput = onOutput((line) => log.live(line));
  const unsubscribe = onExecution((e) => {
    if (!ready) {
      pending.push(e);
      return;
    }
    if (e.id === id) show({ ...e, result: e.result, parameters: e.parameters ?? execution.parameters });
    else noteTask(e);
  });

  try {
    show(await api(`/api/v1/executions/${encodeURIComponent(id)}`));
  } catch (e) {
    unsubscribe();
    unsubscribeOutput();
    header.textContent = "Execution not found";
    notice(e);
    return undefined;
  }
  if (WORKFLOW_RUNNERS.includes(execution.runner && execution.runner.name)) {
    try {
      const [, action, children] = await Promise.all([
        // Needed to draw the graph: fetched beside the data.
        loadLayout(),
        api(`/api/v1/actions/${encodeURIComponent(execution.action.ref)}`),
        // With their logs: a task that ended before the page opened shows
        // what it logged.
        api(`/api/v1/executions?parent=${id}&limit=-1&include_attributes=status,workflow_task,logs`),
      ]);
      if (action.workflow) {
        graphSection.hidden = false;
        updateGraph = drawGraph(graphBox, action.workflow);
      }
      for (const child of children) noteTask(child);
      if (updateGraph) updateGraph(tasks);
    } catch (e) {
      notice(e);
    }
  }
  ready = true;
  for (const e of pending.splice(0)) {
    if (e.id === id) show(await api(`/api/v1/executions/${id}`));
    else noteTask(e);
  }
  return () => {
    unsubscribe();
    unsubscribeOutput();
  };
}
