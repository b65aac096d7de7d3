// Status board: every backing service with its state, live from /notifications/services, and the
// maintenance switch (admin only).

import { post } from "../api.js";
import { clock, h, replace } from "../dom.js";
import { may } from "../session.js";
import { status } from "../status.js";

const TYPE_ORDER = ["Provisioning", "Voice", "Reporting", "Media"];
const MEANING = {
  Provisioning: "the configuration and data store",
  Voice: "a SIP endpoint, probed with OPTIONS",
  Reporting: "the /metrics endpoint",
  Media: "the notification bus between nodes",
};
const STATE_MARK = { Active: "●", ReadOnly: "◐", Inactive: "○" };

export function renderBoard(main) {
  const cards = h("div", { class: "cards", id: "services", "aria-live": "polite" });
  const maintenance = h("section", { class: "card maintenance", "aria-labelledby": "maintenance-title" });
  const changes = h("ol", { class: "changes", id: "changes" });
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  let maintenanceError = "";
  let busy = false;

  const paint = () => {
    const services = [...status.services.values()].sort(
      (a, b) => TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type) || a.name.localeCompare(b.name),
    );
    replace(
      cards,
      !status.loaded ? h("p", { class: "muted" }, "Loading…") : null,
      services.map((service) =>
        h(
          "article",
          { class: `service state-${service.state}`, "data-service": service.name, "data-state": service.state },
          h("p", { class: "type" }, service.type),
          h("h3", {}, service.name),
          h("p", { class: "state" }, h("span", { "aria-hidden": "true" }, STATE_MARK[service.state] ?? "?"), ` ${service.state}`),
          h("p", { class: "muted small" }, MEANING[service.type] ?? ""),
          service.uri ? h("p", { class: "small" }, h("code", {}, service.uri)) : null,
        ),
      ),
    );
    problem.hidden = !status.error;
    problem.textContent = status.error ? `The services resource is not readable: ${status.error.message}` : "";
    paintMaintenance();
    replace(
      changes,
      status.log.length === 0 ? h("li", { class: "muted" }, "No change since the console opened.") : null,
      status.log.map((entry) =>
        h(
          "li",
          {},
          h("time", { datetime: entry.at.toISOString() }, clock(entry.at)),
          " ",
          h("strong", {}, entry.service.name === entry.service.type ? entry.service.name : `${entry.service.type} ${entry.service.name}`),
          `: ${entry.previous ?? "?"} → ${entry.service.state}`,
        ),
      ),
    );
  };

  const paintMaintenance = () => {
    const state = status.provisioning?.state;
    const on = state === "ReadOnly";
    const admin = may("admin");
    const note = !admin
      ? "Only a user with the admin role can switch maintenance."
      : state === "Inactive"
        ? "The store is unreachable: maintenance cannot be switched until it is back."
        : "";
    const button = h(
      "button",
      {
        id: "maintenance-toggle",
        class: on ? "primary" : "danger",
        disabled: busy || !admin || !state || state === "Inactive",
        "aria-describedby": note ? "maintenance-note" : undefined,
        onclick: () => toggle(!on),
      },
      on ? "End maintenance" : "Start maintenance (read-only)",
    );
    replace(
      maintenance,
      h("h2", { id: "maintenance-title" }, "Maintenance"),
      h(
        "p",
        { id: "maintenance-state" },
        on
          ? "On: the server is read-only. Reads work; every write is refused with 503."
          : state === "Inactive"
            ? "Unknown: the store is unreachable."
            : "Off: reads and writes work.",
      ),
      button,
      note ? h("p", { class: "muted small", id: "maintenance-note" }, note) : null,
      maintenanceError ? h("p", { class: "error", role: "alert" }, maintenanceError) : null,
    );
  };

  const toggle = async (readOnly) => {
    busy = true;
    maintenanceError = "";
    paintMaintenance();
    try {
      await post("/genesys/1/admin/maintenance", { json: { read_only: readOnly } });
      // The board changes when the notification arrives, like it does for a switch made elsewhere.
    } catch (error) {
      maintenanceError = `Could not switch maintenance: ${error.message}`;
    } finally {
      busy = false;
      paintMaintenance();
    }
  };

  replace(
    main,
    h("h1", {}, "Status board"),
    h(
      "p",
      { class: "lede" },
      "The backing services of this deployment (the GWS ",
      h("code", {}, "/api/v2/services"),
      " resource). Changes arrive as CometD notifications on ",
      h("code", {}, "/notifications/services"),
      ".",
    ),
    problem,
    cards,
    h(
      "div",
      { class: "columns" },
      maintenance,
      h("section", { class: "card", "aria-labelledby": "changes-title" }, h("h2", { id: "changes-title" }, "Recent changes"), changes),
    ),
  );
  status.addEventListener("change", paint);
  paint();
  return () => status.removeEventListener("change", paint);
}
