// An editor of key/value rows where a value is text or a file: what a GMS request body carries.
// Built into multipart FormData, so files keep their bytes, type and name (SPEC §3).

import { h, uid } from "./dom.js";

/**
 * fieldsEditor({ hints: [{ key, hint }], label }) -> { el, formData(), rows(), reset() }
 * `hints` pre-fill rows with parameter names the service understands.
 */
export function fieldsEditor({ hints = [], label = "Fields" } = {}) {
  const list = h("div", { class: "rows" });
  const add = (kind, key = "", hint = "") => {
    const row = fieldRow(kind, key, hint, () => row.remove());
    list.append(row);
    return row;
  };
  const reset = () => {
    list.replaceChildren();
    for (const { key, hint } of hints) add("text", key, hint);
    if (hints.length === 0) add("text");
  };
  reset();
  const el = h(
    "fieldset",
    { class: "fields" },
    h("legend", {}, label),
    list,
    h(
      "div",
      { class: "row-actions" },
      h("button", { type: "button", class: "small", onclick: () => add("text").querySelector("input").focus() }, "+ Text field"),
      h("button", { type: "button", class: "small", onclick: () => add("file").querySelector("input").focus() }, "+ File"),
    ),
  );
  const rows = () =>
    [...list.children]
      .map((row) => ({
        key: row.querySelector("[name=key]").value.trim(),
        kind: row.dataset.kind,
        value: row.dataset.kind === "file" ? row.querySelector("[name=file]").files[0] ?? null : row.querySelector("[name=value]").value,
      }))
      .filter((row) => row.key !== "" && (row.kind === "text" || row.value));
  const formData = () => {
    const form = new FormData();
    for (const row of rows()) {
      if (row.kind === "file") form.append(row.key, row.value, row.value.name);
      else form.append(row.key, row.value);
    }
    return form;
  };
  return { el, formData, rows, reset };
}

function fieldRow(kind, key, hint, remove) {
  const keyId = uid("key");
  const valueId = uid("value");
  const value =
    kind === "file"
      ? h("input", { id: valueId, name: "file", type: "file" })
      : h("input", { id: valueId, name: "value", placeholder: hint || "value" });
  return h(
    "div",
    { class: "field-row", "data-kind": kind },
    h("label", { for: keyId, class: "visually-hidden" }, "Key"),
    h("input", { id: keyId, name: "key", value: key, placeholder: kind === "file" ? "file key" : "key", spellcheck: "false" }),
    h("label", { for: valueId, class: "visually-hidden" }, kind === "file" ? "File" : "Value"),
    value,
    h("button", { type: "button", class: "icon", "aria-label": `Remove ${kind} field`, title: "Remove", onclick: remove }, "×"),
  );
}
