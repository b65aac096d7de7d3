// Configuration view: the configured services and resource pools (read-only), with the problems
// /console/api/config found highlighted on the rows they concern.

import { get } from "../api.js";
import { h, replace } from "../dom.js";

const SEVERITY_MARK = { error: "✖", warning: "▲", info: "ℹ" };

export function renderConfig(main, shared) {
  const body = h("div", { id: "config-body" });
  const recheck = h("button", { type: "button", onclick: () => load() }, "Check again");

  const load = async () => {
    recheck.disabled = true;
    try {
      shared.config = (await get("/console/api/config")).data;
      paint(body, shared.config, recheck);
    } catch (error) {
      replace(body, h("p", { class: "error", role: "alert" }, `Could not read the configuration: ${error.message}`), recheck);
    } finally {
      recheck.disabled = false;
    }
  };

  replace(
    main,
    h("h1", {}, "Configuration"),
    h(
      "p",
      { class: "lede" },
      "What this server was started with (read-only: change the TOML file and restart). Passwords and hashes are never shown.",
    ),
    body,
  );
  if (shared.config) paint(body, shared.config, recheck);
  load(); // fresh checks (an http service may have come up since)
}

const RANK = { error: 0, warning: 1, info: 2 };

function paint(body, config, recheck) {
  const byPlace = new Map();
  for (const problem of config.problems) {
    byPlace.set(problem.where, [...(byPlace.get(problem.where) ?? []), problem]);
  }
  const problemsOf = (where) => byPlace.get(where) ?? [];
  const worst = (where) => {
    const found = problemsOf(where).map((p) => p.severity);
    return ["error", "warning", "info"].find((s) => found.includes(s)) ?? null;
  };
  const notes = (where) =>
    problemsOf(where).map((p) => h("p", { class: `problem ${p.severity}` }, h("span", { "aria-hidden": "true" }, `${SEVERITY_MARK[p.severity]} `), `${p.severity}: ${p.message}`));

  replace(
    body,
    h(
      "section",
      { class: "card", "aria-labelledby": "problems-title", id: "problems" },
      h("div", { class: "card-head" }, h("h2", { id: "problems-title" }, "Checks"), recheck),
      config.problems.length === 0
        ? h("p", { class: "ok" }, "No problem found.")
        : h(
            "ul",
            { class: "problems" },
            [...config.problems].sort((a, b) => RANK[a.severity] - RANK[b.severity]).map((p) =>
              h(
                "li",
                { class: `problem ${p.severity}` },
                h("span", { "aria-hidden": "true" }, `${SEVERITY_MARK[p.severity]} `),
                h("strong", {}, `${p.severity}`),
                " ",
                h("code", {}, `[${p.where}]`),
                ` ${p.message}`,
              ),
            ),
          ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "services-title" },
      h("h2", { id: "services-title" }, `Services (${config.services.length})`),
      h(
        "table",
        { class: "config", id: "config-services" },
        h(
          "thead",
          {},
          h("tr", {}, ["Name", "Implementation", "TTL", "Resource group", "Parameters", "Protection"].map((t) => h("th", { scope: "col" }, t))),
        ),
        h(
          "tbody",
          {},
          config.services.map((s) => {
            const where = `service.${s.name}`;
            return [
              h(
                "tr",
                { class: worst(where) ? `flagged flag-${worst(where)}` : "", "data-service": s.name },
                h("th", { scope: "row" }, h("code", {}, s.name)),
                h("td", {}, s.type === "builtin" ? `built-in ${s.service}` : h("span", {}, "http ", h("code", {}, s.service))),
                h("td", {}, `${s.ttl} s`),
                h("td", {}, s.resource_group ?? "—"),
                h(
                  "td",
                  {},
                  Object.keys(s.parameters).length === 0
                    ? "—"
                    : h(
                        "ul",
                        { class: "plain" },
                        Object.entries(s.parameters).map(([key, value]) =>
                          h("li", {}, h("code", {}, `${key} = ${value}`), s.overwritable_options.includes(key) ? h("span", { class: "muted small" }, " (overwritable)") : null),
                        ),
                      ),
                ),
                h("td", {}, s.protection),
              ),
              problemsOf(where).length ? h("tr", { class: "notes" }, h("td", { colspan: 6 }, notes(where))) : null,
            ];
          }),
        ),
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "pools-title" },
      h("h2", { id: "pools-title" }, `Resource pools (${config.pools.length})`),
      config.pools.length === 0
        ? h("p", { class: "muted" }, "No [resources.NAME] table.")
        : h(
            "table",
            { class: "config", id: "config-pools" },
            h("thead", {}, h("tr", {}, ["Name", "Allocation", "Numbers", "Used by"].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              config.pools.map((p) => {
                const where = `resources.${p.name}`;
                return [
                  h(
                    "tr",
                    { class: worst(where) ? `flagged flag-${worst(where)}` : "", "data-pool": p.name },
                    h("th", { scope: "row" }, h("code", {}, p.name)),
                    h("td", {}, p.allocation),
                    h("td", {}, p.numbers.join(", ")),
                    h("td", {}, p.used_by.join(", ") || "—"),
                  ),
                  problemsOf(where).length ? h("tr", { class: "notes" }, h("td", { colspan: 4 }, notes(where))) : null,
                ];
              }),
            ),
          ),
    ),
  );
}
