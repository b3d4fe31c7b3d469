// One execution: status, timing, who or what started it, parameters, the
// result under "Result", log lines; cancel, pause, resume and re-run when
// the user may and the state allows; for a workflow, its task graph with
// each task's state live from the stream.

import { api, can } from "../api.js";
import { h, jsonBlock, notice, seconds, statusBadge, time } from "../dom.js";
import { drawGraph } from "../graph.js";
import { onExecution } from "../live.js";

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

function logLines(e) {
  if (!e.logs || !e.logs.length) return h("p", { class: "muted" }, "No log lines.");
  return h("pre", { class: "logs", tabindex: "0" }, e.logs.map((l) => `${l.level.padEnd(5)} ${l.message}\n`));
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
  main.append(header, controls, details, graphSection, body);

  let execution = null;
  let updateGraph = null;
  const tasks = new Map(); // task name → its latest execution {id, status}

  function noteTask(child) {
    if (!child.workflow_task || child.workflow_task.workflow !== id) return;
    const name = child.workflow_task.task;
    const known = tasks.get(name);
    if (!known || known.id <= child.id) tasks.set(name, { id: child.id, status: child.status });
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
    parts.push(h("section", {}, h("h2", {}, "Log"), logLines(e)));
    body.replaceChildren(...parts);
  }

  const pending = [];
  let ready = false;
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
    header.textContent = "Execution not found";
    notice(e);
    return undefined;
  }
  if (WORKFLOW_RUNNERS.includes(execution.runner && execution.runner.name)) {
    try {
      const [action, children] = await Promise.all([
        api(`/api/v1/actions/${encodeURIComponent(execution.action.ref)}`),
        api(`/api/v1/executions?parent=${id}&limit=-1`),
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
  return unsubscribe;
}
