// A tiny DOM builder: h("button", { class: "primary", onclick: go }, "Save").
// Children may be strings, nodes, arrays or null/false (skipped). Text is always set as text,
// never parsed as HTML, so nothing a server or a user typed can become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (name in PROPERTIES) {
      el[PROPERTIES[name]] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

// Set as properties: their live value is what matters, not the initial attribute.
const PROPERTIES = { value: "value", checked: "checked", disabled: "disabled", selected: "selected" };

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;
/** A fresh id for label/aria wiring. */
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** `2026-11-22T10:15:30.123Z` -> "10:15:30" in the viewer's time zone (full text in `title`). */
export function clock(iso) {
  const date = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleTimeString([], { hour12: false });
}

export function dateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString([], { hour12: false })}`;
}

/** Pretty JSON in a <pre>, for responses and attached data. */
export function jsonBlock(value, attrs = {}) {
  return h("pre", { class: "json", ...attrs }, JSON.stringify(value, null, 2));
}

/** Key/value pairs as a definition list; values that are not text are shown as JSON. */
export function facts(pairs, attrs = {}) {
  return h(
    "dl",
    { class: "facts", ...attrs },
    pairs
      .filter(([, value]) => value !== undefined && value !== null && value !== "")
      .map(([name, value]) => [
        h("dt", {}, name),
        h("dd", {}, typeof value === "object" && !(value instanceof Node) ? JSON.stringify(value) : value),
      ]),
  );
}
