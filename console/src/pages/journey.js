// Journey viewer: a customer's (or an anonymous contact key's) services from Context Services,
// drawn as a timeline; a bar's details (events, disposition, attached data) on click.

import { get, seg } from "../api.js";
import { dateTime, facts, h, jsonBlock, replace } from "../dom.js";
import { attachedData, duration, journeyRows, timeline } from "../timeline.js";

const EVERYTHING = "active_states=true&completed_states=true&active_tasks=true&completed_tasks=true&extensions=*";

export function renderJourney(main) {
  const query = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const kind = query.has("contact_key") ? "contact_key" : "customer";
  const result = h("section", { class: "card journey", "aria-labelledby": "journey-title", id: "journey-result", hidden: true });
  const details = h("aside", { class: "card details", id: "journey-details", "aria-live": "polite", hidden: true });

  const radio = (value, label) =>
    h("label", { class: "choice" }, h("input", { type: "radio", name: "kind", value, checked: kind === value }), ` ${label}`);
  const idInput = h("input", { id: "journey-id", name: "id", required: true, spellcheck: "false", value: query.get(kind) ?? "" });
  const tenant = h("input", { id: "journey-tenant", name: "tenant", placeholder: "default tenant", value: query.get("tenant") ?? "" });
  const group = h("input", { id: "journey-group", name: "group", placeholder: "no group", value: query.get("group") ?? "" });

  const form = h(
    "form",
    {
      class: "card lookup",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const chosen = form.elements.kind.value;
        const params = new URLSearchParams({ [chosen]: idInput.value.trim() });
        if (tenant.value.trim()) params.set("tenant", tenant.value.trim());
        if (group.value.trim()) params.set("group", group.value.trim());
        history.replaceState(null, "", `#/journey?${params}`);
        load(chosen, idInput.value.trim(), tenant.value.trim(), group.value.trim());
      },
    },
    h("fieldset", { class: "choices" }, h("legend", {}, "Look up by"), radio("customer", "Customer id"), radio("contact_key", "Contact key (anonymous services)")),
    h("label", { for: "journey-id" }, "Customer id or contact key"),
    idInput,
    h(
      "details",
      { class: "tenant", open: Boolean(query.get("tenant") || query.get("group")) },
      h("summary", {}, "Tenant"),
      h("label", { for: "journey-tenant" }, "ContactCenterId"),
      tenant,
      h("label", { for: "journey-group" }, "GroupId"),
      group,
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show journey")),
  );

  const load = async (by, id, tenantId, groupId) => {
    if (!id) return;
    result.hidden = false;
    details.hidden = true;
    replace(result, h("h2", { id: "journey-title" }, "Journey"), h("p", { class: "muted" }, "Loading…"));
    const path =
      by === "contact_key"
        ? `/genesys/1/cs/services/anonymous/${seg(id)}?${EVERYTHING}`
        : `/genesys/1/cs/customers/${seg(id)}/services?${EVERYTHING}`;
    const headers = {};
    if (tenantId) headers.ContactCenterId = tenantId;
    if (groupId) headers.GroupId = groupId;
    let services;
    try {
      services = (await get(path, { headers })).data ?? [];
    } catch (error) {
      replace(result, h("h2", { id: "journey-title" }, "Journey"), h("p", { class: "error", role: "alert" }, `Could not read the journey: ${error.message}`));
      return;
    }
    const who = by === "contact_key" ? `contact key ${id}` : `customer ${id}`;
    if (services.length === 0) {
      replace(result, h("h2", { id: "journey-title" }, `Journey of ${who}`), h("p", { class: "muted", id: "journey-empty" }, "No service: none was started, or they have expired."));
      return;
    }
    const rows = journeyRows(services);
    const count = (kind) => rows.filter((r) => r.kind === kind).length;
    let selected = null;
    const select = (row, bar) => {
      selected?.classList.remove("selected");
      selected = bar;
      bar.classList.add("selected");
      showDetails(details, row);
    };
    replace(
      result,
      h("h2", { id: "journey-title" }, `Journey of ${who}`),
      h(
        "p",
        { class: "muted", id: "journey-summary" },
        `${plural(count("service"), "service")}, ${plural(count("state"), "state")}, ${plural(count("task"), "task")}. Click a bar for its details.`,
      ),
      legend(),
      timeline(rows, select),
      h("details", { class: "raw" }, h("summary", {}, "The JSON Context Services returned"), jsonBlock(services)),
    );
  };

  replace(
    main,
    h("h1", {}, "Journey viewer"),
    h("p", { class: "lede" }, "A customer's services, states and tasks from Context Services, as a timeline."),
    h("div", { class: "journey-layout" }, form, details),
    result,
  );
  if (idInput.value) load(kind, idInput.value, tenant.value.trim(), group.value.trim());
}

const plural = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;

function legend() {
  return h(
    "ul",
    { class: "legend", "aria-label": "Legend" },
    h("li", {}, h("span", { class: "swatch bar-service" }), "service"),
    h("li", {}, h("span", { class: "swatch bar-state" }), "state"),
    h("li", {}, h("span", { class: "swatch bar-task" }), "task"),
    h("li", {}, h("span", { class: "swatch active" }), "still active"),
  );
}

function showDetails(panel, row) {
  const { record, kind } = row;
  const data = attachedData(record);
  const started = { ...record.started };
  const completed = record.completed ? { ...record.completed } : null;
  panel.hidden = false;
  replace(
    panel,
    h("h2", {}, `${kind[0].toUpperCase()}${kind.slice(1)} ${row.type}`),
    facts([
      ["Id", String(row.id)],
      kind !== "service" ? ["Service", row.service.service_id] : null,
      ["Customer", kind === "service" ? record.customer_id : null],
      ["Contact key", kind === "service" ? record.contact_key : null],
      ["State", kind === "task" && record.state_id !== undefined ? String(record.state_id) : null],
      ["Previous state", record.previous_state_id !== undefined ? String(record.previous_state_id) : null],
      ["Started", dateTime(record.started?.timestamp)],
      ["Completed", completed ? dateTime(completed.timestamp) : "still active"],
      ["Duration", completed ? duration(row.end - row.start) : null],
      ["Estimated", record.est_duration !== undefined ? `${record.est_duration} s` : null],
      ["Disposition", record.disposition],
      ["Description", record.disposition_desc],
    ].filter(Boolean), { id: "details-facts" }),
    h("h3", {}, "Attached data"),
    Object.keys(data).length === 0
      ? h("p", { class: "muted" }, "None.")
      : facts(Object.entries(data), { id: "details-data", class: "facts data" }),
    eventFields("Start event", started),
    completed ? eventFields("End event", completed) : null,
  );
}

function eventFields(title, event) {
  // Shown above already.
  for (const key of ["timestamp", "disposition", "disposition_desc"]) delete event[key];
  if (Object.keys(event).length === 0) return null;
  return [h("h3", {}, title), facts(Object.entries(event))];
}
