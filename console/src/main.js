// The console's shell: sign-in, navigation, the live banner, and a hash router over four pages.

import "./style.css";
import { ApiError, get, onUnauthorized } from "./api.js";
import { h, replace } from "./dom.js";
import { renderBoard } from "./pages/board.js";
import { renderConfig } from "./pages/config.js";
import { renderJourney } from "./pages/journey.js";
import { renderTester } from "./pages/tester.js";
import { encodeBasic, forget, remember, session } from "./session.js";
import { status } from "./status.js";
import { BANNER_ID, watchWrites } from "./writes.js";

const PAGES = [
  { path: "board", title: "Status board", render: renderBoard },
  { path: "tester", title: "Service tester", render: renderTester },
  { path: "journey", title: "Journey viewer", render: renderJourney },
  { path: "config", title: "Configuration", render: renderConfig },
];

const app = document.getElementById("app");
let cleanup = null;
let started = false;

/** The configuration as /console/api/config gives it (fetched once per sign-in; pages may reload). */
const shared = { config: null };

async function boot() {
  try {
    await signIn(session.token);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forget();
      showLogin();
    } else {
      showFatal(error);
    }
  }
}

/** Ask for the configuration with these credentials (null: none); on success the console starts. */
async function signIn(token) {
  const { data } = await get("/console/api/config", { token: token ?? null });
  session.authRequired = data.auth;
  session.user = data.user;
  if (token) remember(token);
  shared.config = data;
  startConsole();
}

function showLogin(message = "", { isError = true } = {}) {
  status.stop();
  started = false;
  if (cleanup) cleanup();
  cleanup = null;
  const error = h("p", { class: isError ? "error" : "muted", role: "alert", id: "login-error" }, message);
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login card",
      "aria-labelledby": "login-title",
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        error.textContent = "";
        error.className = "error";
        try {
          await signIn(encodeBasic(user.value, password.value));
        } catch (failure) {
          error.textContent =
            failure.status === 401 ? "Wrong user name or password." : `Could not sign in: ${failure.message}`;
          password.select();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", { id: "login-title" }, "cxgate console"),
    h("p", { class: "muted" }, "Sign in with a user of the server's [users] table."),
    h("label", { for: "login-user" }, "User name"),
    user,
    h("label", { for: "login-password" }, "Password"),
    password,
    error,
    submit,
  );
  replace(app, h("main", { id: "main", class: "login-page" }, form));
  user.focus();
}

function showFatal(error) {
  replace(
    app,
    h("main", { id: "main", class: "login-page" },
      h("div", { class: "card" },
        h("h1", {}, "The console cannot start"),
        h("p", { class: "error", role: "alert" }, error.message),
        h("button", { onclick: () => location.reload() }, "Try again"),
      ),
    ),
  );
}

function startConsole() {
  started = true;
  const nav = h(
    "nav",
    { "aria-label": "Console pages" },
    h("ul", {}, PAGES.map((page) => h("li", {}, h("a", { href: `#/${page.path}`, "data-page": page.path }, page.title)))),
  );
  const live = h("span", { class: "live", id: "live", role: "status" });
  const who = session.authRequired
    ? [
        h("span", { class: "who" }, `${session.user.name}`, h("span", { class: "muted" }, ` (${session.user.roles.join(", ") || "no role"})`)),
        h("button", { class: "link", onclick: signOut }, "Sign out"),
      ]
    : h("span", { class: "who muted", title: "No [users] table: auth is off and cxgate listens on loopback only" }, "auth off");
  const banner = h("div", { id: BANNER_ID, class: "banner", role: "status", "aria-live": "polite", hidden: true });
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(
    app,
    h("a", { class: "skip", href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h("header", { class: "top" }, h("a", { class: "brand", href: "#/board" }, "cxgate", h("span", {}, " console")), nav, h("div", { class: "session" }, live, who)),
    banner,
    main,
  );
  paintShell();
  status.start();
  route();
}

const CONNECTION = { connecting: "Connecting…", connected: "Live", reconnecting: "Reconnecting…", stopped: "Offline" };

/** The banner and the live indicator follow the status (elements looked up: they are rebuilt at each sign-in). */
function paintShell() {
  const banner = document.getElementById(BANNER_ID);
  const live = document.getElementById("live");
  if (!banner || !live) return;
  const reason = status.writesBlocked;
  banner.hidden = !reason;
  banner.textContent = reason ?? "";
  live.className = `live ${status.connection}`;
  live.textContent = CONNECTION[status.connection];
  live.title = status.transport ? `Notifications: CometD over ${status.transport}` : "Notifications: CometD";
}

function signOut() {
  forget();
  showLogin("Signed out.", { isError: false });
}

onUnauthorized((message) => {
  if (!started || !session.authRequired) return;
  forget();
  showLogin(`Please sign in again (${message}).`);
});

function route() {
  if (!started) return;
  const path = location.hash.replace(/^#\/?/, "").split("?")[0] || "board";
  const page = PAGES.find((p) => p.path === path) ?? PAGES[0];
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page.path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${page.title} · cxgate console`;
  if (cleanup) cleanup();
  const main = document.getElementById("main");
  replace(main);
  cleanup = page.render(main, shared) ?? null;
}

status.addEventListener("change", paintShell);
watchWrites(app);
window.addEventListener("hashchange", route);
boot();
