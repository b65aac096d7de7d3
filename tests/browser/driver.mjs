// Drives the cxgate console in Debian's Chromium (playwright-core, no browser download).
// Usage: node driver.mjs SCENARIO BASE_URL ARTIFACTS_DIR  (input JSON on stdin)
// Prints one JSON line with what it saw; exits 1 with the reason on stderr when a step fails.
// Every console error, page error or CSP violation in the page fails the scenario.

import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [scenario, base, artifacts] = process.argv.slice(2);
const input = JSON.parse(readFileSync(0, "utf8") || "{}");
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const STEP_MS = 10_000;

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const basic = (user, password) => "Basic " + Buffer.from(`${user}:${password}`).toString("base64");

async function main() {
  const profile = mkdtempSync(join(tmpdir(), "cxgate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CXGATE_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1360, height: 900 },
    acceptDownloads: true,
  });
  context.setDefaultTimeout(STEP_MS);
  const problems = [];
  const watch = (page) => {
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  };
  context.on("page", watch);
  context.pages().forEach(watch);
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    const result = await SCENARIOS[scenario]({ context, page });
    // 401s the login form provokes on purpose are expected; nothing else may go wrong.
    const unexpected = problems.filter((p) => !/status of 401/.test(p));
    if (unexpected.length) throw new Error(`the page reported problems:\n${unexpected.join("\n")}`);
    console.log(JSON.stringify(result));
  } catch (error) {
    await shot(page, `failed-${scenario}`).catch(() => {});
    throw new Error(`${error.message}\n${problems.join("\n")}`, { cause: error });
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

async function signIn(page, user, password) {
  await page.goto(`${base}/console`); // the redirect to /console/ is part of the test
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#live.connected").waitFor();
}

const shot = (page, name) => page.screenshot({ path: join(artifacts, `console-${name}.png`), fullPage: true });

async function api(method, path, body, credentials = input.admin) {
  const response = await fetch(base + path, {
    method,
    headers: { Authorization: basic(...credentials), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const SCENARIOS = {
  /** Login (a wrong password first), the board, a maintenance switch made through the API. */
  async board({ context, page }) {
    await page.goto(`${base}/console/`);
    await page.getByLabel("User name").fill(input.admin[0]);
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Wrong user name or password.").waitFor();
    await shot(page, "login");
    await page.getByLabel("Password").fill(input.admin[1]);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#live.connected").waitFor();
    await page.locator("article.service").first().waitFor();
    const services = await page.locator("article.service").evaluateAll((cards) =>
      cards.map((card) => ({ name: card.dataset.service, state: card.dataset.state })),
    );
    const transport = await page.locator("#live").getAttribute("title");
    await shot(page, "board");

    // Maintenance on, through the API: the board and the banner follow within a second.
    const started = Date.now();
    await api("POST", "/genesys/1/admin/maintenance", { read_only: true });
    await page.locator('article[data-service="Provisioning"][data-state="ReadOnly"]').waitFor({ timeout: 1000 });
    const reactionMs = Date.now() - started;
    const banner = await page.locator("#writes-banner").innerText();
    const changes = await page.locator("#changes li").allInnerTexts();
    await shot(page, "board-maintenance");

    // Every write control on every page is disabled, and says why.
    await page.getByRole("link", { name: "Service tester" }).click();
    const create = page.locator("#tester-create");
    await create.waitFor();
    const tester = {
      disabled: await create.isDisabled(),
      title: await create.getAttribute("title"),
      note: await page.locator("[data-write-note]").first().innerText(),
    };
    await shot(page, "tester-read-only");

    // A user without the admin role sees the board but cannot switch maintenance.
    const agent = await context.newPage();
    await signIn(agent, ...input.agent);
    await agent.locator('article[data-service="Provisioning"]').waitFor();
    const agentToggle = {
      disabled: await agent.locator("#maintenance-toggle").isDisabled(),
      note: await agent.locator("#maintenance-note").innerText(),
    };
    await agent.close();

    // The admin ends maintenance from the page; the tester's controls come back.
    await page.getByRole("link", { name: "Status board" }).click();
    await page.getByRole("button", { name: "End maintenance" }).click();
    await page.locator('article[data-service="Provisioning"][data-state="Active"]').waitFor();
    await page.getByRole("link", { name: "Service tester" }).click();
    await page.locator("#tester-create:enabled").waitFor();
    const after = await api("GET", "/genesys/1/admin/maintenance");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("Signed out.").waitFor();
    await page.reload(); // the credentials are gone from sessionStorage too
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    return { services, transport, reactionMs, banner, changes, tester, agentToggle, maintenanceAfter: after.read_only };
  },

  /** Create a service with a text field and a file, then download the file back. */
  async tester({ page }) {
    await signIn(page, ...input.admin);
    await page.getByRole("link", { name: "Service tester" }).click();
    await page.getByLabel("Configured service").selectOption(input.service);
    const rows = page.locator("fieldset.fields .field-row");
    await rows.last().locator("[name=key]").fill("first_name");
    await rows.last().locator("[name=value]").fill("Ann");
    await page.getByRole("button", { name: "+ File" }).first().click();
    await rows.last().locator("[name=key]").fill("scan");
    const bytes = Buffer.from(input.file_base64, "base64");
    await rows.last().locator("[name=file]").setInputFiles({ name: input.file_name, mimeType: input.file_type, buffer: bytes });
    await page.getByRole("button", { name: "Create service" }).click();
    await page.locator("#response-status.ok").waitFor();
    const response = JSON.parse(await page.locator("#response-body").innerText());
    await page.locator('#text-keys tr[data-key="first_name"]').waitFor();
    const textKeys = await page.locator("#text-keys tbody tr").evaluateAll((trs) => trs.map((tr) => tr.dataset.key));

    // Add a key from the storage panel, then delete it again.
    const add = page.locator("form.sub").first();
    await add.locator("[name=key]").first().fill("topic");
    await add.locator("[name=value]").first().fill("billing");
    await add.getByRole("button", { name: "Save keys" }).click();
    await page.locator('#text-keys tr[data-key="topic"]').waitFor();
    await shot(page, "tester");
    await page.getByRole("button", { name: "Delete topic" }).click();
    await page.locator('#text-keys tr[data-key="topic"]').waitFor({ state: "detached" });

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download scan" }).click(),
    ]);
    const saved = join(artifacts, `console-download-${download.suggestedFilename()}`);
    await download.saveAs(saved);
    const back = readFileSync(saved);
    return {
      id: response._id,
      textKeys,
      download: { path: saved, name: download.suggestedFilename(), size: back.length, sha256: sha256(back) },
      sent: { size: bytes.length, sha256: sha256(bytes) },
    };
  },

  /** The journey of a customer the test seeded, as a timeline, and one bar's details. */
  async journey({ page }) {
    await signIn(page, ...input.admin);
    await page.goto(`${base}/console/#/journey?customer=${encodeURIComponent(input.customer)}`);
    await page.locator("#timeline .bar").first().waitFor();
    const bars = await page.locator("#timeline .bar").evaluateAll((buttons) =>
      buttons.map((b) => ({ kind: b.dataset.kind, id: b.dataset.id, label: b.getAttribute("aria-label"), active: b.classList.contains("active") })),
    );
    const state = page.locator('#timeline .bar[data-kind="state"]').first();
    await state.click();
    await page.locator("#details-facts").waitFor();
    const details = await page.locator("#journey-details").innerText();
    await shot(page, "journey");

    // The anonymous services of a contact key, from the form.
    await page.getByLabel("Contact key (anonymous services)").check();
    await page.getByLabel("Customer id or contact key").fill(input.contact_key);
    await page.getByRole("button", { name: "Show journey" }).click();
    await page.getByRole("heading", { name: `Journey of contact key ${input.contact_key}` }).waitFor();
    const anonymous = await page.locator('#timeline .bar[data-kind="service"]').count();
    return { bars, details, anonymous };
  },

  /** The configuration view, with its problems. */
  async config({ page }) {
    await signIn(page, ...input.admin);
    await page.getByRole("link", { name: "Configuration" }).click();
    await page.locator("#config-services tbody tr[data-service]").first().waitFor();
    await page.locator("#problems").waitFor();
    const services = await page.locator("#config-services tr[data-service]").evaluateAll((trs) =>
      trs.map((tr) => ({ name: tr.dataset.service, flagged: tr.className })),
    );
    const pools = await page.locator("#config-pools tr[data-pool]").evaluateAll((trs) => trs.map((tr) => tr.dataset.pool));
    const problems = await page.locator("#problems li").allInnerTexts();
    await shot(page, "config");
    return { services, pools, problems };
  },

  /** No [users]: no login form, and notifications over websocket (the CSP allows ws: to self). */
  async open({ page }) {
    await page.goto(`${base}/console/`);
    await page.locator("#live.connected").waitFor();
    await page.locator("article.service").first().waitFor();
    const transport = await page.locator("#live").getAttribute("title");
    const who = await page.locator(".who").innerText();
    return { transport, who, login: await page.getByLabel("Password").count() };
  },
};

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
