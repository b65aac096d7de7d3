"""Real third-party Bayeux clients (CometD JavaScript, Faye) against the real server.

Each node script handshakes, subscribes to /notifications/services, prints a JSON line once
subscribed, waits for one message, prints it, disconnects and exits. The test publishes a
GMS service-state change server-side once the client says it is subscribed and checks the
client got exactly that data.

Without node the tests skip, loudly, on a developer's machine; with CI set they fail.
The npm packages pinned in package.json are installed here when node_modules is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cxgate.cometd import CometdServer
from tests.interop.harness import serving

HERE = Path(__file__).parent
PACKAGES = ("cometd", "cometd-nodejs-client", "faye")
STEP_TIMEOUT = 20.0
SERVICE_STATE_CHANGE = {
    "messageType": "ServiceStateChangeMessage",
    "service": {"id": "x", "name": "Provisioning", "type": "Provisioning", "state": "ReadOnly"},
}


def _unavailable(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}; CI must run the CometD interop tests")
    pytest.skip(f"INTEROP SKIPPED: {what} (install Node.js 18+ to run the CometD client tests)")


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the pinned client packages installed beside this file."""
    node = shutil.which("node")
    if node is None:
        _unavailable("`node` is not on PATH")
    assert node is not None
    if not all((HERE / "node_modules" / name / "package.json").exists() for name in PACKAGES):
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("`npm` is not on PATH, and tests/interop/node_modules is missing")
        assert npm is not None
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"npm install failed:\n{result.stdout}\n{result.stderr}"
    return node


class NodeClient:
    """One node script run as a subprocess, read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT)
        if not line:
            await self.finish()
            raise AssertionError(f"client exited early: {await self.stderr()}")
        event: dict[str, Any] = json.loads(line)
        return event

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")

    async def finish(self) -> int:
        """Wait for the script to exit (killing it after STEP_TIMEOUT); its exit code."""
        try:
            return await asyncio.wait_for(self.process.wait(), STEP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


async def run_client(node: str, script: str, url: str, transport: str) -> NodeClient:
    process = await asyncio.create_subprocess_exec(
        node,
        str(HERE / script),
        url,
        transport,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return NodeClient(process)


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
