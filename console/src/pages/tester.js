// Service tester: create a configured service with text and file parameters, see the answer, then
// browse, add, download and delete its storage keys, and send it service-specific requests.

import { ApiError, del, get, post, seg } from "../api.js";
import { facts, h, jsonBlock, replace } from "../dom.js";
import { fieldsEditor } from "../fields.js";

// The parameters each built-in understands (SPEC §3), offered as pre-filled rows.
const BUILTIN_PARAMETERS = {
  session: [],
  "request-interaction": [
    ["_phone_number", "optional: the customer's number"],
    ["_provide_code", "true | false"],
    ["_resource_group", "pool name (default DNIS)"],
    ["_access_code_length", "default 6"],
  ],
  "request-access": [
    ["_id", "mandatory: an active service id"],
    ["_provide_code", "true | false"],
    ["_phone_number", "optional"],
    ["_resource_group", "pool name (default DNIS)"],
    ["_access_code_length", "default 6"],
  ],
  "match-interaction": [
    ["_access_number", "mandatory"],
    ["_access_code", "optional"],
    ["_phone_number", "optional"],
    ["_return_user_data", "true | false"],
  ],
};

export function renderTester(main, shared) {
  const services = shared.config?.services ?? [];
  const storage = storagePanel();
  const response = h("section", { class: "card response", "aria-labelledby": "response-title", hidden: true });

  const select = h(
    "select",
    { id: "tester-service", name: "service" },
    services.map((service) => h("option", { value: service.name }, service.name)),
  );
  const about = h("div", { class: "about" });
  const editorSlot = h("div");
  let editor = null;

  const pick = () => {
    const service = services.find((s) => s.name === select.value);
    if (!service) return;
    const fixed = Object.entries(service.parameters).filter(([key]) => !service.overwritable_options.includes(key));
    const hints = (service.type === "builtin" ? BUILTIN_PARAMETERS[service.service] ?? [] : [])
      .filter(([key]) => !fixed.some(([name]) => name === key))
      .map(([key, hint]) => ({ key, hint }));
    editor = fieldsEditor({ hints: [...hints, { key: "", hint: "" }], label: "Parameters and data" });
    replace(editorSlot, editor.el);
    replace(
      about,
      facts([
        ["Type", service.type === "builtin" ? `built-in ${service.service}` : `http → ${service.service}`],
        ["Lives", `${service.ttl} s after its last write`],
        [
          "Set by configuration",
          fixed.length ? fixed.map(([key, value]) => `${key} = ${value}`).join(", ") : null,
        ],
        ["Overwritable", service.overwritable_options.join(", ") || null],
      ]),
    );
  };
  select.addEventListener("change", pick);

  const create = h("button", { type: "submit", class: "primary", "data-write": true, id: "tester-create" }, "Create service");
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "create-title",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!editor) return;
        const name = select.value;
        const rows = editor.rows();
        const result = await show(response, `POST /genesys/1/service/${name}`, () =>
          post(`/genesys/1/service/${seg(name)}`, { form: editor.formData() }),
        );
        const id = result?.data?._id;
        if (id) {
          const files = rows.filter((row) => row.kind === "file").map((row) => fileInfo(row.key, row.value));
          storage.open(id, files);
        }
      },
    },
    h("h2", { id: "create-title" }, "Create a service"),
    services.length === 0
      ? h("p", { class: "error" }, "No service is configured: add a [service.NAME] table to the configuration.")
      : [h("label", { for: "tester-service" }, "Configured service"), select, about, editorSlot],
    h("p", { class: "why", "data-write-note": true, hidden: true }),
    h("div", { class: "actions" }, create),
  );

  replace(
    main,
    h("h1", {}, "Service tester"),
    h("p", { class: "lede" }, "Create a service from the configuration, then work with its storage, as a GMS client would."),
    h("div", { class: "columns" }, h("div", { class: "stack" }, form, response), storage.el),
  );
  pick();
}

/** Run an API call and show its outcome in `panel`; returns the result, or null on failure. */
async function show(panel, title, call) {
  panel.hidden = false;
  replace(panel, h("h2", { id: "response-title" }, "Response"), h("p", { class: "muted" }, `${title} …`));
  try {
    const result = await call();
    replace(
      panel,
      h("h2", { id: "response-title" }, "Response"),
      h("p", { class: "ok", id: "response-status" }, `${title} → ${result.status} in ${result.ms} ms`),
      result.data === null ? h("p", { class: "muted" }, "(empty body)") : jsonBlock(result.data, { id: "response-body" }),
    );
    return result;
  } catch (error) {
    replace(
      panel,
      h("h2", { id: "response-title" }, "Response"),
      h("p", { class: "error", role: "alert", id: "response-status" }, `${title} → ${error.status || "no answer"}: ${error.message}`),
      error.body && typeof error.body === "object" ? jsonBlock(error.body) : null,
    );
    return null;
  }
}

function fileInfo(key, file) {
  return { key, filename: file?.name ?? null, type: file?.type || null, size: file?.size ?? null };
}

/** The storage of one service: its text keys, the files we know of, and the forms that change it. */
function storagePanel() {
  const el = h("section", { class: "card storage", "aria-labelledby": "storage-title", id: "storage" });
  let serviceId = null;
  let files = new Map(); // key -> { key, filename, type, size }: GET .../storage lists text keys only
  const message = h("p", { role: "status", class: "small" });

  const say = (text, isError = false) => {
    message.className = isError ? "error small" : "ok small";
    message.textContent = text;
  };
  const fail = (what) => (error) => say(`${what}: ${error.message}`, true);
  const base = () => `/genesys/1/service/${seg(serviceId)}`;

  const openForm = h(
    "form",
    {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        const id = event.target.elements.id.value.trim();
        if (id) open(id, []);
      },
    },
    h("label", { for: "open-id" }, "Open a service by id"),
    h("input", { id: "open-id", name: "id", placeholder: "service _id", spellcheck: "false" }),
    h("button", { type: "submit" }, "Open"),
  );

  const open = (id, sent) => {
    serviceId = id;
    files = new Map(sent.map((file) => [file.key, file]));
    say("");
    refresh();
  };

  const refresh = async () => {
    let keys;
    try {
      keys = (await get(`${base()}/storage`)).data ?? {};
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        paint(null, "This service does not exist (any more): it expired after its _ttl, or it was deleted.");
      } else {
        paint(null, `Could not read the storage: ${error.message}`);
      }
      return;
    }
    paint(keys, null);
  };

  const download = async (key) => {
    try {
      const { response } = await get(`${base()}/storage/binary/${seg(key)}`, { raw: true });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: filenameOf(response) ?? key, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      say(`Downloaded ${key} (${blob.size} bytes, ${blob.type || "no type"}).`);
    } catch (error) {
      fail(`Could not download ${key}`)(error);
    }
  };

  const remove = async (key) => {
    try {
      await del(`${base()}/storage/${seg(key)}`);
      files.delete(key);
      say(`Deleted ${key}.`);
      refresh();
    } catch (error) {
      fail(`Could not delete ${key}`)(error);
    }
  };

  const lookUp = async (key) => {
    try {
      const { response } = await get(`${base()}/storage/${seg(key)}`, { raw: true });
      const type = response.headers.get("content-type") || "";
      const body = await response.blob();
      if (type.startsWith("application/json")) {
        const parsed = JSON.parse(await body.text());
        if (parsed && typeof parsed[key] === "string") {
          say(`${key} is a text key: ${parsed[key]}`);
          return refresh();
        }
      }
      files.set(key, { key, filename: filenameOf(response), type, size: body.size });
      say(`${key} is a file of ${body.size} bytes.`);
      refresh();
    } catch (error) {
      fail(`Could not look up ${key}`)(error);
    }
  };

  const paint = (keys, problem) => {
    const addEditor = fieldsEditor({ label: "Add or replace keys" });
    const request = fieldsEditor({ label: "Request parameters" });
    const requestName = h("input", { id: "request-name", name: "request", value: "update", required: true, spellcheck: "false" });
    const lookupInput = h("input", { id: "lookup-key", name: "key", placeholder: "key", spellcheck: "false", required: true });
    const textRows = Object.entries(keys ?? {});
    replace(
      el,
      h("h2", { id: "storage-title" }, "Storage"),
      openForm,
      serviceId ? h("p", {}, "Service ", h("code", { id: "storage-service-id" }, serviceId)) : h("p", { class: "muted" }, "Create or open a service to see its storage."),
      problem ? h("p", { class: "error", role: "alert" }, problem) : null,
      message,
      keys === null || !serviceId
        ? null
        : [
            h("h3", {}, "Text keys"),
            textRows.length === 0
              ? h("p", { class: "muted" }, "No text key.")
              : h(
                  "table",
                  { class: "keys", id: "text-keys" },
                  h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
                  h("tbody", {}, textRows.map(([key, value]) => keyRow(key, h("span", { class: "value" }, value), download, remove))),
                ),
            h("h3", {}, "Files"),
            h("p", { class: "muted small" }, "The Storage API lists text keys only: these are the files sent from this page or looked up by key."),
            files.size === 0
              ? h("p", { class: "muted" }, "No file known.")
              : h(
                  "table",
                  { class: "keys", id: "file-keys" },
                  h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "File"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
                  h(
                    "tbody",
                    {},
                    [...files.values()].map((file) =>
                      keyRow(file.key, [file.filename ?? "(no name)", h("span", { class: "muted small" }, ` ${file.type || "?"}, ${file.size ?? "?"} bytes`)], download, remove),
                    ),
                  ),
                ),
            h(
              "form",
              { class: "inline", onsubmit: (event) => { event.preventDefault(); lookUp(lookupInput.value.trim()); } },
              h("label", { for: "lookup-key" }, "Look up a key"),
              lookupInput,
              h("button", { type: "submit" }, "Look up"),
            ),
            h("div", { class: "actions" },
              h("button", { type: "button", onclick: refresh }, "Refresh"),
              h("button", { type: "button", class: "danger", "data-write": true, onclick: async () => {
                try { await del(`${base()}/storage`); files.clear(); say("Deleted every key."); refresh(); } catch (error) { fail("Could not delete the keys")(error); }
              } }, "Delete all keys"),
              h("button", { type: "button", class: "danger", "data-write": true, id: "delete-service", onclick: async () => {
                try { await del(base()); say("Service deleted."); refresh(); } catch (error) { fail("Could not delete the service")(error); }
              } }, "Delete service"),
            ),
            h("p", { class: "why", "data-write-note": true, hidden: true }),
            h(
              "form",
              {
                class: "sub",
                onsubmit: async (event) => {
                  event.preventDefault();
                  const rows = addEditor.rows();
                  if (rows.length === 0) return say("Give at least one key.", true);
                  try {
                    await post(`${base()}/storage`, { form: addEditor.formData() });
                    for (const row of rows.filter((r) => r.kind === "file")) files.set(row.key, fileInfo(row.key, row.value));
                    say(`Saved ${rows.map((r) => r.key).join(", ")}.`);
                    refresh();
                  } catch (error) {
                    fail("Could not save")(error);
                  }
                },
              },
              addEditor.el,
              h("button", { type: "submit", class: "primary", "data-write": true }, "Save keys"),
            ),
            h(
              "form",
              {
                class: "sub",
                onsubmit: async (event) => {
                  event.preventDefault();
                  const name = requestName.value.trim();
                  try {
                    const { data, status } = await post(`${base()}/${seg(name)}`, { form: request.formData() });
                    say(`${name} → ${status}: ${JSON.stringify(data)}`);
                    refresh();
                  } catch (error) {
                    fail(`Request ${name} failed`)(error);
                  }
                },
              },
              h("h3", {}, "Service request"),
              h("label", { for: "request-name" }, "Request (update works on every service)"),
              requestName,
              request.el,
              h("button", { type: "submit", "data-write": true }, "Send request"),
            ),
          ],
    );
  };

  paint(null, null);
  return { el, open };
}

function keyRow(key, shown, download, remove) {
  return h(
    "tr",
    { "data-key": key },
    h("th", { scope: "row" }, h("code", {}, key)),
    h("td", {}, shown),
    h(
      "td",
      { class: "row-buttons" },
      h("button", { type: "button", class: "small", "aria-label": `Download ${key}`, onclick: () => download(key) }, "Download"),
      h("button", { type: "button", class: "small danger", "data-write": true, "aria-label": `Delete ${key}`, onclick: () => remove(key) }, "Delete"),
    ),
  );
}

/** The file name from `Content-Disposition: attachment; filename*=UTF-8''...`. */
function filenameOf(response) {
  const header = response.headers.get("content-disposition") || "";
  const match = /filename\*=UTF-8''([^;]+)/i.exec(header) || /filename="?([^";]+)"?/i.exec(header);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}
