// A journey as a picture: one row per service, its states below it and each state's tasks below
// that, as bars on a shared time axis (positioned buttons: focusable, clickable, with a tooltip).

import { clock, dateTime, h } from "./dom.js";

// Fields that describe the record itself; every other top-level key is attached data.
const OWN_FIELDS = new Set([
  "service_id", "customer_id", "contact_key", "service_type", "est_duration", "auto_complete_after",
  "started", "completed", "disposition", "disposition_desc", "active_states", "completed_states",
  "active_tasks", "completed_tasks", "state_id", "state_type", "previous_state_id", "task_id", "task_type",
]);

export function attachedData(record) {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !OWN_FIELDS.has(key)));
}

const time = (event) => (event?.timestamp ? Date.parse(event.timestamp) : NaN);

/** Flatten services into rows: { kind, depth, record, type, id, start, end, service }. */
export function journeyRows(services) {
  const rows = [];
  const sorted = [...services].sort((a, b) => time(a.started) - time(b.started));
  for (const service of sorted) {
    rows.push(row("service", 0, service, service.service_type, service.service_id, service));
    const states = [...(service.active_states ?? []), ...(service.completed_states ?? [])].sort(
      (a, b) => time(a.started) - time(b.started),
    );
    const tasks = [...(service.active_tasks ?? []), ...(service.completed_tasks ?? [])].sort(
      (a, b) => time(a.started) - time(b.started),
    );
    const stateIds = new Set(states.map((state) => state.state_id));
    for (const state of states) {
      rows.push(row("state", 1, state, state.state_type, state.state_id, service));
      for (const task of tasks.filter((t) => t.state_id === state.state_id)) {
        rows.push(row("task", 2, task, task.task_type, task.task_id, service));
      }
    }
    for (const task of tasks.filter((t) => !stateIds.has(t.state_id))) {
      rows.push(row("task", 1, task, task.task_type, task.task_id, service));
    }
  }
  return rows;
}

function row(kind, depth, record, type, id, service) {
  return { kind, depth, record, type: type ?? "(no type)", id, start: time(record.started), end: time(record.completed), service };
}

/** The timeline element; `onSelect(row)` runs when a bar is clicked (or activated by keyboard). */
export function timeline(rows, onSelect, now = Date.now()) {
  const starts = rows.map((r) => r.start).filter(Number.isFinite);
  const ends = rows.map((r) => (Number.isFinite(r.end) ? r.end : now));
  const from = Math.min(...starts);
  const to = Math.max(...ends, from + 1000);
  const pad = (to - from) * 0.02;
  const t0 = from - pad;
  const span = to + pad - t0;
  const at = (t) => ((t - t0) / span) * 100;
  const anyActive = rows.some((r) => !Number.isFinite(r.end));

  const ticks = Array.from({ length: 5 }, (_, i) => t0 + pad + ((span - 2 * pad) * i) / 4);
  const longRange = to - from > 86_400_000;
  const axis = h(
    "div",
    { class: "tl-row tl-axis", "aria-hidden": "true" },
    h("div", { class: "tl-label" }),
    h("div", { class: "tl-track" }, ticks.map((t) => positioned(h("span", { class: "tick" }, longRange ? dateTime(t) : clock(new Date(t))), at(t)))),
  );

  const body = rows.map((r) => {
    const active = !Number.isFinite(r.end);
    const end = active ? now : r.end;
    const left = at(r.start);
    const width = Math.max(at(end) - left, 0.6);
    const summary = describe(r, active);
    const bar = h(
      "button",
      {
        type: "button",
        class: ["bar", `bar-${r.kind}`, active ? "active" : "completed"],
        title: summary,
        "aria-label": summary,
        "data-kind": r.kind,
        "data-id": r.id,
        onclick: () => onSelect(r, bar),
      },
      h("span", { class: "bar-text" }, r.record.disposition ?? ""),
    );
    bar.style.left = `${left}%`;
    bar.style.width = `${Math.min(width, 100 - left)}%`;
    return h(
      "div",
      { class: `tl-row depth-${r.depth}`, role: "listitem" },
      h("div", { class: "tl-label" }, h("span", { class: `kind kind-${r.kind}` }, r.kind), " ", r.type),
      h("div", { class: "tl-track" }, bar),
    );
  });

  const track = h("div", { class: "timeline", id: "timeline" }, axis, h("div", { role: "list", "aria-label": "Services, states and tasks" }, body));
  if (anyActive) {
    const nowLine = h("div", { class: "now-line", title: "now", "aria-hidden": "true" });
    nowLine.style.setProperty("--at", String(at(now) / 100));
    track.append(nowLine);
  }
  return track;
}

function positioned(el, percent) {
  el.style.left = `${percent}%`;
  return el;
}

function describe(r, active) {
  const name = `${r.kind[0].toUpperCase()}${r.kind.slice(1)} ${r.type} (${r.id})`;
  const when = `${clock(new Date(r.start))} – ${active ? "now (active)" : clock(new Date(r.end))}`;
  const disposition = r.record.disposition ? `, disposition ${r.record.disposition}` : "";
  return `${name}: ${when}${disposition}`;
}

export function duration(ms) {
  if (!Number.isFinite(ms)) return "";
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 3 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}
