"""Real third-party Bayeux clients (CometD JavaScript, Faye) against the real server.

Each node script handshakes, subscribes to /notifications/services, prints a JSON line once
subscribed, waits for one message, prints it, disconnects and exits. The test publishes a
GMS service-state change server-side once the client says it is subscribed and checks the
client got exactly that data.

Without node the tests skip, loudly, on a developer's machine; with CXGATE_REQUIRE_INTEROP=1
they fail (conftest.py). The npm packages pinned in package.json are installed when missing.
"""

from __future__ import annotations

import pytest

from cxgate.cometd import CometdServer
from tests.interop.clients import run_client
from tests.interop.harness import serving

SERVICE_STATE_CHANGE = {
    "messageType": "ServiceStateChangeMessage",
    "service": {"id": "x", "name": "Provisioning", "type": "Provisioning", "state": "ReadOnly"},
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "transport", "path"),
    [
        pytest.param("cometd_client.mjs", "websocket", "/api/v2/notifications", id="cometd-ws"),
        pytest.param("cometd_client.mjs", "long-polling", "/genesys/cometd", id="cometd-lp"),
        pytest.param("faye_client.js", "websocket", "/genesys/cometd", id="faye-ws"),
        pytest.param("faye_client.js", "long-polling", "/api/v2/notifications", id="faye-lp"),
    ],
)
async def test_client_receives_a_service_state_change(
    node: str, script: str, transport: str, path: str
) -> None:
    cometd = CometdServer(timeout_ms=10000)
    async with serving(cometd) as base_url:
        client = await run_client(node, script, base_url + path, transport)
        try:
            subscribed = await client.event()
            assert subscribed == {"event": "subscribed", "transport": transport}
            assert cometd.session_count == 1
            assert cometd.subscription_count == 1
            await cometd.publish("/notifications/services", SERVICE_STATE_CHANGE)
            received = await client.event()
            disconnected = await client.event()
        except BaseException:
            client.process.kill()  # don't wait out the script's own timer on a failure
            raise
        finally:
            code = await client.finish()
        errors = await client.stderr()
        assert code == 0, errors
        assert received["event"] == "message"
        assert received["transport"] == transport
        assert received["data"] == SERVICE_STATE_CHANGE
        assert received.get("channel", "/notifications/services") == "/notifications/services"
        assert disconnected["event"] == "disconnected"
        assert cometd.session_count == 0
        assert cometd.subscription_count == 0
