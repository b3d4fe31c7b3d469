// An action: what it is, and a form generated from its parameter schema
// that runs it (POST /api/v1/executions) and goes to the execution.

import { api, can } from "../api.js";
import { h, jsonBlock, notice } from "../dom.js";
import { schemaForm } from "../schema_form.js";

export async function render(main, [ref], { navigate }) {
  const action = await api(`/api/v1/actions/${encodeURIComponent(ref)}`);
  document.title = `${action.ref} · Squall`;
  main.append(
    h("h1", {}, action.ref),
    action.description ? h("p", {}, action.description) : null,
    h("p", { class: "muted" }, `Runner: ${action.runner_type}. `,
      h("a", { href: `/ui/executions?action=${encodeURIComponent(action.ref)}` }, "Its executions")),
  );
  if (can("action_execute")) {
    const { element, read } = schemaForm(action.parameters_schema, "param");
    const form = h("form", { "aria-labelledby": "run-heading" },
      h("h2", { id: "run-heading" }, "Run"), element,
      h("button", { type: "submit", class: "primary" }, "Run"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        notice(null);
        const execution = await api("/api/v1/executions", {
          method: "POST",
          body: { action: action.ref, parameters: read() },
        });
        navigate(`/ui/executions/${execution.id}`);
      } catch (e) {
        notice(e);
      } finally {
        button.disabled = false;
      }
    });
    main.append(form);
  }
  main.append(jsonBlock("Parameter schema", action.parameters_schema));
}
