// Write controls: every button or input that would change data carries `data-write`. While the
// server refuses writes (status.writesBlocked) they are disabled, point at the banner that says
// why (aria-describedby), carry the reason as a tooltip, and every `data-write-note` element
// spells it out next to its form. A MutationObserver covers controls rendered later.

import { status } from "./status.js";

export const BANNER_ID = "writes-banner";

export function guardWrites(root = document.body) {
  const reason = status.writesBlocked;
  for (const el of root.querySelectorAll("[data-write]")) {
    el.disabled = Boolean(reason);
    if (reason) {
      el.title = reason;
      el.setAttribute("aria-describedby", BANNER_ID);
    } else {
      el.removeAttribute("title");
      el.removeAttribute("aria-describedby");
    }
  }
  for (const note of root.querySelectorAll("[data-write-note]")) {
    const text = reason ? `Writes are disabled. ${reason}` : "";
    if (note.textContent !== text) note.textContent = text; // unchanged: no mutation, no loop
    note.hidden = !reason;
  }
}

export function watchWrites(root) {
  guardWrites(root);
  status.addEventListener("change", () => guardWrites(root));
  new MutationObserver(() => guardWrites(root)).observe(root, { childList: true, subtree: true });
}
