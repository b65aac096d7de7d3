// Who is using the console. With `[users]` configured, the API wants HTTP Basic credentials on
// every call: the login form checks them against /console/api/config and keeps them in
// sessionStorage (gone when the tab closes), and api.js sends them as an Authorization header.

const KEY = "cxgate.console.credentials";

export const session = {
  /** base64 of "user:password", or null when signed out (or when auth is off). */
  token: sessionStorage.getItem(KEY),
  /** { name, roles } from the server; null when auth is off. */
  user: null,
  /** Whether the server wants credentials at all (false: no [users], loopback only). */
  authRequired: true,
};

export function encodeBasic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return btoa(String.fromCharCode(...bytes));
}

export function authorization() {
  return session.token ? { Authorization: `Basic ${session.token}` } : {};
}

export function remember(token) {
  session.token = token;
  sessionStorage.setItem(KEY, token);
}

export function forget() {
  session.token = null;
  session.user = null;
  sessionStorage.removeItem(KEY);
}

/** Whether the signed-in user holds `role` (everyone may, when auth is off). */
export function may(role) {
  return !session.authRequired || Boolean(session.user?.roles?.includes(role));
}
