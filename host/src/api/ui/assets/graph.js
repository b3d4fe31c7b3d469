// A workflow's task graph as SVG, laid out by dagre (vendor/dagre.min.js,
// a classic script that defines the global `dagre`, loaded by loadLayout()
// on the first page that needs it, not on every page): tasks and the
// transitions between them; engine commands (fail, noop…) as dashed
// nodes. Each task shows its state and links to its latest execution.

import { s } from "./dom.js";

const WIDTH = 150;
const HEIGHT = 46;

let layoutLoaded = null;

/** Loads dagre once; resolves when `dagre` is defined. */
export function loadLayout() {
  layoutLoaded ||= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/ui/assets/vendor/dagre.min.js";
    script.onload = resolve;
    script.onerror = () => {
      layoutLoaded = null;
      reject(new Error("the graph layout library did not load"));
    };
    document.head.append(script);
  });
  return layoutLoaded;
}

/**
 * Draws `workflow` (the action's `workflow` attribute: start, tasks,
 * edges) into `container`; returns `update(tasks)` which sets each task's
 * state from `tasks`: Map name → {status, id}.
 */
export function drawGraph(container, workflow) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 40, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of workflow.tasks) g.setNode(task.name, { width: WIDTH, height: HEIGHT, task });
  const commands = new Set();
  workflow.edges.forEach((edge, index) => {
    let to = edge.to;
    if (!edge.to_task) {
      if (edge.to === "continue") return; // a transition that only publishes
      to = `${edge.from} → ${edge.to}`;
      commands.add(to);
      g.setNode(to, { width: 90, height: 30, command: edge.to });
    }
    g.setEdge(edge.from, to, { when: edge.when }, `e${index}`);
  });
  dagre.layout(g);
  const { width, height } = g.graph();

  const svg = s("svg", {
    width: Math.ceil(width),
    height: Math.ceil(height),
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
    role: "img",
    "aria-label": `Task graph: ${workflow.tasks.length} tasks`,
  });
  svg.append(
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }))),
  );
  for (const e of g.edges()) {
    const edge = g.edge(e);
    const d = edge.points.map((p, i) => `${i ? "L" : "M"} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
    svg.append(s("path", { class: "edge", d, "marker-end": "url(#arrow)" },
      s("title", {}, `${e.v} → ${e.w}${edge.when ? ` when ${edge.when}` : ""}`)));
  }
  const nodes = new Map();
  for (const name of g.nodes()) {
    const node = g.node(name);
    const x = node.x - node.width / 2;
    const y = node.y - node.height / 2;
    if (node.command) {
      svg.append(s("g", { class: "node command", transform: `translate(${x},${y})` },
        s("rect", { width: node.width, height: node.height, rx: 14 }),
        s("text", { x: node.width / 2, y: 19, "text-anchor": "middle" }, node.command)));
      continue;
    }
    const state = s("text", { class: "state", x: WIDTH / 2, y: 36, "text-anchor": "middle" }, "not run");
    const label = s("text", { x: WIDTH / 2, y: 19, "text-anchor": "middle" }, clip(name, 20));
    const group = s("g", { class: "node state-not-run", "data-task": name, "data-state": "not-run" },
      s("title", {}, `${name}${node.task.action ? `: ${node.task.action}` : ""}`),
      s("rect", { width: WIDTH, height: HEIGHT, rx: 6 }), label, state);
    const link = s("a", { transform: `translate(${x},${y})`, "aria-label": `task ${name}: not run` }, group);
    svg.append(link);
    nodes.set(name, { link, group, state });
  }
  container.replaceChildren(svg);

  return function update(tasks) {
    for (const [name, node] of nodes) {
      const run = tasks.get(name);
      const status = run ? run.status : "not-run";
      node.group.setAttribute("class", `node state-${status}`);
      node.group.dataset.state = status;
      node.state.textContent = run ? status : "not run";
      node.link.setAttribute("aria-label", `task ${name}: ${run ? status : "not run"}`);
      if (run) node.link.setAttribute("href", `/ui/executions/${run.id}`);
      else node.link.removeAttribute("href");
    }
  };
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
