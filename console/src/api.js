// fetch() for cxgate's APIs: credentials as a header, errors as ApiError with the server's own
// message (GMS/CS `message`, GWS `statusMessage`).
//
// `credentials: "omit"` matters: with it, a 401 never makes the browser pop up its own Basic-auth
// dialog on top of the console's login form (the Fetch standard only prompts for requests that
// include credentials). The Authorization header is set by hand, so it is still sent.

import { authorization } from "./session.js";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const listeners = new Set();
/** Called with every 401, so the console can ask for credentials again. */
export function onUnauthorized(callback) {
  listeners.add(callback);
}

/**
 * request("POST", "/genesys/1/service/store", { form, headers, json, raw })
 * - json: a value sent as JSON; form: FormData sent as multipart.
 * - raw: return the Response itself (for downloads) instead of parsed JSON.
 * - token: credentials to try instead of the session's (the login form).
 * Returns { status, data, ms } (data: parsed JSON, text, or null when empty).
 */
export async function request(method, path, { json, form, headers = {}, raw = false, token } = {}) {
  const init = {
    method,
    credentials: "omit",
    cache: "no-store",
    headers: { Accept: "application/json", ...credentials(token), ...headers },
  };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form; // the browser sets the multipart boundary
  }
  const started = performance.now();
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `cxgate did not answer (${error.message}); is the server running?`, null);
  }
  const ms = Math.round(performance.now() - started);
  if (!response.ok) {
    const body = await readBody(response);
    const message =
      (body && typeof body === "object" && (body.message || body.statusMessage)) ||
      (typeof body === "string" && body) ||
      `HTTP ${response.status}`;
    if (response.status === 401 && token === undefined) listeners.forEach((callback) => callback(message));
    throw new ApiError(response.status, message, body);
  }
  if (raw) return { status: response.status, response, ms };
  return { status: response.status, data: await readBody(response), ms };
}

/** undefined: the session's credentials; "" or null: none; else that base64 user:password. */
function credentials(token) {
  if (token === undefined) return authorization();
  return token ? { Authorization: `Basic ${token}` } : {};
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  if ((response.headers.get("content-type") || "").includes("json")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, options) => request("POST", path, options);
export const del = (path, options) => request("DELETE", path, options);

/** A path segment, encoded (ids and keys come from users). */
export const seg = (value) => encodeURIComponent(String(value));
