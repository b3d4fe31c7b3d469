// Signing in: a user name and password for a token (StackStorm's
// POST /auth/v1/tokens with HTTP Basic), or an API key.

import { signInWithKey, signInWithPassword } from "../api.js";
import { h } from "../dom.js";

function field(id, label, type, autocomplete) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name: id, type, autocomplete, required: true }),
  );
}

export function render(main, _params, { navigate }) {
  const next = new URLSearchParams(location.search).get("next");
  const target = next && next.startsWith("/") && !next.startsWith("//") ? next : "/ui/executions";
  const error = h("p", { class: "error", role: "alert" });

  async function attempt(form, signIn) {
    error.textContent = "";
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await signIn();
      navigate(target, { replace: true });
    } catch (e) {
      error.textContent = e.status === 401 ? `Not signed in: ${e.message}` : e.message;
    } finally {
      button.disabled = false;
    }
  }

  const password = h(
    "form",
    { "aria-labelledby": "with-password" },
    h("h2", { id: "with-password" }, "With a password"),
    field("username", "Username", "text", "username"),
    field("password", "Password", "password", "current-password"),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  password.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(password, () => signInWithPassword(password.username.value, password.password.value));
  });

  const key = h(
    "form",
    { "aria-labelledby": "with-key" },
    h("h2", { id: "with-key" }, "With an API key"),
    field("api-key", "API key", "password", "off"),
    h("button", { type: "submit" }, "Sign in with the key"),
  );
  key.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(key, () => signInWithKey(key.querySelector("#api-key").value.trim()));
  });

  main.append(h("h1", {}, "Sign in to Squall"), error, h("div", { class: "signin" }, password, key));
  password.username.focus();
}
