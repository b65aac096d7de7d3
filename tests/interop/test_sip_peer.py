"""The Voice probe against a real SIP peer: sipp on loopback answering OPTIONS with 200 OK.

A real `cxgate serve` probes `[voice.SIPP]` every 0.3 s: `Voice` is `Active` while sipp answers;
once sipp is stopped the next OPTIONS meets a closed port, `Voice` goes `Inactive` and a CometD
client subscribed to /notifications/services (long-polling over httpx) receives the change;
sipp started again brings it back to `Active`. Needs sipp (conftest.py skips or fails without).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxgate.status.sip import SipTarget, options_ping
from tests.api.conftest import BayeuxClient
from tests.e2e.processes import serve

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).parent / "sipp" / "options_uas.xml"
SERVICES = "/notifications/services"
CONFIG = """
[voice.SIPP]
uri = "sip:127.0.0.1:{port}"

[status]
interval = 0.3
timeout = 1

[cometd]
timeout_ms = 2000
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def sip_peer(sipp: str, port: int, workdir: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """sipp answering OPTIONS on 127.0.0.1:`port` (UDP), answering already when this yields."""
    log_path = workdir / f"sipp-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sipp,
                "-sf",
                str(SCENARIO),
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-t",
                "u1",
                "-nostdin",
            ],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        target = SipTarget("127.0.0.1", port)
        async with asyncio.timeout(10):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"sipp exited early:\n{log_path.read_text()[-2000:]}")
                try:
                    if await asyncio.wait_for(options_ping(target), 0.5):
                        break
                except TimeoutError:
                    pass
                await asyncio.sleep(0.05)
        yield process
    finally:
        stop_peer(process)


def stop_peer(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def voice(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/v2/services", params={"fields": "*"})
    assert response.status_code == 200, response.text
    [found] = [s for s in response.json()["services"] if s["type"] == "Voice"]
    assert isinstance(found, dict)
    return found


async def test_voice_follows_a_real_sip_peer(sipp: str, tmp_path: Path) -> None:
    port = free_udp_port()
    config = tmp_path / "cxgate.toml"
    config.write_text(CONFIG.format(port=port))
    async with sip_peer(sipp, port, tmp_path) as peer:
        with serve(tmp_path, "--config", str(config)) as served:
            async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
                active = await voice(http)
                assert active["name"] == "SIPP"
                assert active["uri"] == f"sip:127.0.0.1:{port}"
                assert active["state"] == "Active"
                client = BayeuxClient(http, "/api/v2/notifications")
                await client.join(SERVICES)

                stop_peer(peer)
                [change] = await client.receive(SERVICES, within=10)
                assert change == {
                    "messageType": "ServiceStateChangeMessage",
                    "service": {**active, "state": "Inactive"},
                }
                assert await voice(http) == change["service"]

                async with sip_peer(sipp, port, tmp_path):
                    [change] = await client.receive(SERVICES, within=10)
                    assert change["service"] == active
                    assert await voice(http) == active
