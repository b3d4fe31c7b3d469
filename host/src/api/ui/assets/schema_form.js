// A form generated from a JSON Schema of an object (an action's
// parameters, an inquiry's response): one labelled field per property, by
// type; required, defaults and enums as the schema says; `writeOnly` or
// `secret` properties as password fields. `read()` gives the value, or
// throws naming the field that is wrong.

import { h } from "./dom.js";

function typeOf(schema) {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type) return type;
  if (schema.enum) return typeof schema.enum[0];
  return "string";
}

/**
 * Builds the fields of `schema` under `prefix` (ids are `prefix-NAME`);
 * returns {element, read}.
 */
export function schemaForm(schema, prefix) {
  const properties = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const readers = [];
  const fields = [];
  for (const [name, property] of Object.entries(properties)) {
    const id = `${prefix}-${name}`;
    const type = typeOf(property);
    const must = required.has(name) || property.required === true;
    const hintText = [property.description, must ? "required" : null].filter(Boolean).join(" · ");
    const hint = hintText ? h("span", { class: "hint", id: `${id}-hint` }, hintText) : null;
    const label = h("label", { for: id }, name);
    let input;
    let read;
    if (property.enum) {
      input = h("select", { id, name, required: must, "aria-describedby": hint && `${id}-hint` },
        must ? null : h("option", { value: "" }, "—"),
        property.enum.map((v, i) => h("option", { value: String(i), selected: property.default === v }, JSON.stringify(v))));
      read = () => (input.value === "" ? undefined : property.enum[Number(input.value)]);
    } else if (type === "boolean") {
      input = h("input", { id, name, type: "checkbox", checked: property.default === true, "aria-describedby": hint && `${id}-hint` });
      read = () => input.checked;
      fields.push(h("div", { class: "field check" }, input, label, hint));
      readers.push([name, read]);
      continue;
    } else if (type === "integer" || type === "number") {
      input = h("input", { id, name, type: "number", step: type === "integer" ? "1" : "any", required: must,
        min: property.minimum, max: property.maximum, value: property.default, "aria-describedby": hint && `${id}-hint` });
      read = () => (input.value === "" ? undefined : Number(input.value));
    } else if (type === "object" || type === "array") {
      input = h("textarea", { id, name, rows: 4, required: must, "aria-describedby": hint && `${id}-hint` },
        property.default === undefined ? "" : JSON.stringify(property.default, null, 2));
      read = () => {
        if (input.value.trim() === "") return undefined;
        try {
          return JSON.parse(input.value);
        } catch (e) {
          throw new Error(`${name}: not JSON: ${e.message}`);
        }
      };
    } else {
      const secret = property.writeOnly === true || property.secret === true;
      input = h("input", { id, name, type: secret ? "password" : "text", required: must, autocomplete: secret ? "off" : null,
        value: secret ? null : property.default, "aria-describedby": hint && `${id}-hint` });
      read = () => (input.value === "" ? undefined : input.value);
    }
    fields.push(h("div", { class: "field" }, label, input, hint));
    readers.push([name, read]);
  }
  const element = h("div", { class: "schema-form" },
    fields.length ? fields : h("p", { class: "muted" }, "No parameters."));
  const read = () => {
    const value = {};
    for (const [name, reader] of readers) {
      const v = reader();
      if (v !== undefined) value[name] = v;
    }
    return value;
  };
  return { element, read };
}
