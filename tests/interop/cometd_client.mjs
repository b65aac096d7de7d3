// The official CometD JavaScript client (via cometd-nodejs-client) against a cxgate server.
// Usage: node cometd_client.mjs URL websocket|long-polling
// Prints JSON lines on stdout: {"event":"subscribed",...} once subscribed, then
// {"event":"message",...} for the first message on /notifications/services, then
// {"event":"disconnected"} after the disconnect is acknowledged, and exits 0.
import { adapt } from "cometd-nodejs-client";
import { CometD } from "cometd";

adapt();

const [url, transport] = process.argv.slice(2);
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const timer = setTimeout(() => fail("timed out"), 20000);

const cometd = new CometD();
if (transport === "long-polling") {
  cometd.unregisterTransport("websocket");
}
cometd.configure({
  url,
  logLevel: "warn",
  // Custom headers and unknown ext keys must be ignored by the server.
  requestHeaders: { gms_user: "interop" },
});
cometd.registerExtension("gms", {
  outgoing: (message) => {
    message.ext = { ...message.ext, gms: { user: "interop" } };
    return message;
  },
});
const print = (event) =>
  console.log(JSON.stringify({ transport: cometd.getTransport()?.type ?? null, ...event }));

cometd.handshake((reply) => {
  if (!reply.successful) {
    fail("handshake failed: " + JSON.stringify(reply));
  }
  cometd.subscribe(
    "/notifications/services",
    (message) => {
      print({ event: "message", channel: message.channel, data: message.data });
      cometd.disconnect(() => {
        print({ event: "disconnected" });
        clearTimeout(timer);
        process.exit(0);
      });
    },
    (reply) => {
      if (!reply.successful) {
        fail("subscribe failed: " + JSON.stringify(reply));
      }
      print({ event: "subscribed" });
    },
  );
});
