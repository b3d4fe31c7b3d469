// Small DOM helpers: elements built with textContent (never innerHTML), so
// nothing the API returns is ever parsed as markup.

/** h("a", {href: "/x", class: "y"}, "text", child…) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = "http://www.w3.org/2000/svg";

/** The same for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** A status as a badge. */
export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, "data-status": status }, status);
}

/** A time as the browser's local time (`2026-12-03 00:45:12`), with the
 * ISO text as its title. Formatted by hand: the first `toLocaleString()`
 * of a page loads the browser's locale data, about 10 ms of the first
 * page's load, and a fixed, sortable form reads well in a table. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return h("span", { title: iso }, iso);
  const two = (n) => String(n).padStart(2, "0");
  const text = `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} `
    + `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
  return h("time", { datetime: iso, title: iso }, text);
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value < 10 ? `${value.toFixed(2)} s` : `${Math.round(value)} s`;
}

/** Pretty JSON with a copy button under a heading. */
export function jsonBlock(title, value, level = "h2") {
  const text = JSON.stringify(value, null, 2);
  const pre = h("pre", { class: "json", tabindex: "0" }, text === undefined ? "null" : text);
  const copy = h("button", { type: "button", "aria-label": `Copy ${title}` }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      copy.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      copy.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => (copy.textContent = "Copy"), 2000);
  });
  return h("section", {}, h("div", { class: "heading-row" }, h(level, {}, title), copy), pre);
}

/** Shows an error (or clears it with null) in the page's alert area. */
export function notice(error) {
  const el = document.getElementById("notice");
  if (!error) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.textContent = error.message || String(error);
  el.hidden = false;
}
