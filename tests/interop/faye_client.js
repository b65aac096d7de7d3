// The Faye client against a cxgate server.
// Usage: node faye_client.js URL websocket|long-polling
// Prints JSON lines on stdout: {"event":"subscribed"} once subscribed, then
// {"event":"message",...} for the first message on /notifications/services, then
// {"event":"disconnected"} after the disconnect is acknowledged, and exits 0.
"use strict";

const faye = require("faye");

const [url, transport] = process.argv.slice(2);
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
const timer = setTimeout(() => fail("timed out"), 20000);

const client = new faye.Client(url, { timeout: 10 });
if (transport === "long-polling") {
  client.disable("websocket");
}
client.addExtension({
  outgoing: (message, callback) => {
    message.ext = Object.assign({}, message.ext, { gms_user: "interop" });
    callback(message);
  },
});
// The dispatcher is Faye's internal object; reading it is the only way to learn which
// transport Faye settled on, and the test asserts on that.
const print = (event) =>
  console.log(JSON.stringify({ transport: client._dispatcher.connectionType ?? null, ...event }));

const subscription = client.subscribe("/notifications/services", (data) => {
  print({ event: "message", data });
  client.disconnect().then(
    () => {
      print({ event: "disconnected" });
      clearTimeout(timer);
      process.exit(0);
    },
    (error) => fail("disconnect failed: " + error),
  );
});
subscription.then(
  () => print({ event: "subscribed" }),
  (error) => fail("subscribe failed: " + error),
);
