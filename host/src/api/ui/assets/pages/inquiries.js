// Pending inquiries, each with a form generated from its JSON Schema;
// an answer is PUT /api/v1/inquiries/{id}.

import { api, can } from "../api.js";
import { h, jsonBlock, notice, time } from "../dom.js";
import { schemaForm } from "../schema_form.js";
import { onExecution } from "../live.js";

export async function render(main) {
  const list = h("div", { id: "inquiries" });
  main.append(h("h1", {}, "Inquiries"), h("p", { class: "muted" }, "Pending inquiries; a workflow waits on each."), list);

  async function load() {
    const inquiries = await api("/api/v1/inquiries");
    const cards = inquiries.map((inquiry) => {
      const title = h("h2", { id: `inquiry-${inquiry.id}` }, "Inquiry ", h("code", {}, inquiry.id.slice(-12)));
      const card = h("section", { class: "inquiry", "aria-labelledby": `inquiry-${inquiry.id}`, "data-id": inquiry.id },
        title,
        h("p", {}, "Asked ", time(inquiry.created_at), "; expires ", time(inquiry.expires_at), ". ",
          inquiry.workflow ? h("a", { href: `/ui/executions/${inquiry.workflow}` }, "The workflow") : null,
          " · ", h("a", { href: `/ui/executions/${inquiry.id}` }, "The inquiry's execution")));
      if (can("inquiry_respond")) {
        const { element, read } = schemaForm(inquiry.schema, `answer-${inquiry.id.slice(-12)}`);
        const form = h("form", {}, element, h("button", { type: "submit", class: "primary" }, "Answer"));
        form.addEventListener("submit", async (event) => {
          event.preventDefault();
          try {
            notice(null);
            await api(`/api/v1/inquiries/${inquiry.id}`, { method: "PUT", body: { response: read() } });
            card.replaceChildren(title, h("p", { role: "status" }, "Answered; the workflow resumes."));
          } catch (e) {
            notice(e);
          }
        });
        card.append(form);
      } else {
        card.append(jsonBlock("Response schema", inquiry.schema, "h3"));
      }
      return card;
    });
    list.replaceChildren(...(cards.length ? cards : [h("p", { class: "muted" }, "No pending inquiries.")]));
  }

  await load();
  // A new inquiry is a core.ask execution going pending.
  let timer = null;
  return onExecution((e) => {
    if (e.status === "pending" && !list.querySelector(`[data-id="${e.id}"]`)) {
      clearTimeout(timer);
      timer = setTimeout(() => load().catch(notice), 200);
    }
  });
}
