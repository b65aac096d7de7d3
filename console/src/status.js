// The live state of the deployment: the GWS services resource, kept current by CometD.
//
// One GET of /api/v2/services?fields=* after each (re)handshake, then only notifications on
// /notifications/services: no polling. The same state decides whether writes are possible:
// while Provisioning is ReadOnly (maintenance) or Inactive (store unreachable) the server refuses
// writes, so every write control in the console is disabled and says why (see writes.js).

import { CometD } from "cometd";
import { get } from "./api.js";
import { authorization, session } from "./session.js";

export const CHANNEL = "/notifications/services";
const COMETD_PATH = "/genesys/cometd"; // any signed-in user; /api/v2/notifications needs GWS roles
const MAX_LOG = 50;

class Status extends EventTarget {
  services = new Map(); // id -> { id, name, type, state, uri? }
  log = []; // newest first: { at, service, previous }
  connection = "connecting"; // connecting | connected | reconnecting | stopped
  transport = null;
  error = null; // why the services resource could not be read (e.g. 403: no GWS role)
  loaded = false;
  #cometd = null;

  start() {
    this.stop();
    const cometd = new CometD();
    this.#cometd = cometd;
    cometd.unregisterTransport("callback-polling"); // JSONP: cross-origin only, and CSP forbids it
    if (session.authRequired) {
      // A browser cannot put an Authorization header on a websocket upgrade: long-polling can.
      cometd.unregisterTransport("websocket");
    }
    cometd.configure({
      url: new URL(COMETD_PATH, location.href).href,
      requestHeaders: authorization(),
      logLevel: "warn",
      // Its timers run in a Worker made from a blob: URL by default, which the console's CSP
      // (scripts from 'self' only) refuses. Plain timers only matter in a background tab.
      useWorkerScheduler: false,
    });
    cometd.addListener("/meta/handshake", (reply) => {
      if (!reply.successful) return;
      this.transport = cometd.getTransport()?.type ?? null;
      // Subscriptions end with the session: subscribe again after every handshake, and read the
      // resource again to catch up on whatever changed while we were away.
      cometd.subscribe(
        CHANNEL,
        (message) => this.#notified(message.data),
        (subscribed) => subscribed.successful && this.refresh(),
      );
    });
    cometd.addListener("/meta/connect", (reply) => {
      if (cometd.isDisconnected()) return;
      this.#setConnection(reply.successful ? "connected" : "reconnecting");
    });
    this.#setConnection("connecting");
    cometd.handshake();
    this.refresh();
  }

  stop() {
    if (this.#cometd) {
      this.#cometd.disconnect();
      this.#cometd = null;
    }
    this.services.clear();
    this.loaded = false;
    this.#setConnection("stopped");
  }

  async refresh() {
    try {
      const { data } = await get("/api/v2/services?fields=*");
      this.services = new Map(data.services.map((service) => [service.id, service]));
      this.error = null;
    } catch (error) {
      this.error = error;
      if (error.status === 403) await this.#provisioningFromMaintenance();
    }
    this.loaded = true;
    this.#changed();
  }

  /** Without a GWS role the resource is closed, but the maintenance switch is readable. */
  async #provisioningFromMaintenance() {
    try {
      const { data } = await get("/genesys/1/admin/maintenance");
      const id = "provisioning";
      this.services.set(id, { id, name: "Provisioning", type: "Provisioning", state: data.read_only ? "ReadOnly" : "Active" });
    } catch {
      // Nothing more to learn; the board shows this.error.
    }
  }

  #notified(data) {
    if (data?.messageType !== "ServiceStateChangeMessage" || !data.service) return;
    const service = data.service;
    let previous = this.services.get(service.id);
    if (!previous && service.type === "Provisioning") {
      previous = this.services.get("provisioning"); // the stand-in read from maintenance
      this.services.delete("provisioning");
    }
    this.services.set(service.id, { ...previous, ...service });
    this.log.unshift({ at: new Date(), service, previous: previous?.state ?? null });
    this.log.length = Math.min(this.log.length, MAX_LOG);
    this.#changed();
  }

  #setConnection(state) {
    if (this.connection === state) return;
    this.connection = state;
    this.#changed();
  }

  #changed() {
    this.dispatchEvent(new Event("change"));
  }

  get provisioning() {
    for (const service of this.services.values()) {
      if (service.type === "Provisioning") return service;
    }
    return null;
  }

  /** Why writes are refused right now, or null when they are allowed. */
  get writesBlocked() {
    const state = this.provisioning?.state;
    if (state === "ReadOnly") {
      return "Provisioning is ReadOnly (maintenance mode): cxgate refuses writes until an admin ends maintenance.";
    }
    if (state === "Inactive") {
      return "Provisioning is Inactive: the store is unreachable, so cxgate refuses calls that need it.";
    }
    return null;
  }
}

export const status = new Status();
