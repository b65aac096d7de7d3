"""A bus outage, on a Redis server of the test's own: Media goes Inactive, then heals (and messages
flow between the nodes again) when Redis is back on the same port, without restarting anything."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import BayeuxClient, Node, open_node
from tests.backends import REQUIRED

CONFIG = "[status]\ninterval = 3600\ntimeout = 1\n\n[cometd]\ntimeout_ms = 1000\n"
SERVICES = "/notifications/services"
REDIS_SERVER = shutil.which("redis-server")

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None and "redis" not in REQUIRED,
    reason="redis-server is not installed (the outage test starts its own)",
)


class RedisServer:
    """A private, throw-away redis-server on a loopback port."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), *options, "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self) -> None:
        async with asyncio.timeout(5):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return
                except OSError:
                    await asyncio.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(_free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(condition: Callable[[], bool], within: float = 6.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)


async def wait_for_change(
    client: BayeuxClient, match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async with asyncio.timeout(6):
        while True:
            for change in await client.receive(SERVICES):
                if match(change["service"]):
                    return change


async def test_bus_outage_is_reported_and_heals(tmp_path: Path, redis_server: RedisServer) -> None:
    await redis_server.ready()
    bus = f"redis://127.0.0.1:{redis_server.port}/0?timeout=0.5"
    store = f"sqlite:///{tmp_path}/cxgate.db"
    async with (
        open_node(store, bus=bus, config_text=CONFIG) as a,
        open_node(store, bus=bus, config_text=CONFIG) as b,
    ):
        nodes: tuple[Node, Node] = (a, b)
        on_b = BayeuxClient(b.client)
        await on_b.join(SERVICES)
        assert [n.state("Media") for n in nodes] == ["Active", "Active"]

        redis_server.stop()
        await eventually(lambda: not a.app.state.notifier.bus.healthy)
        for node in nodes:
            await node.monitor.refresh()
            assert node.state("Media") == "Inactive"
        change = await wait_for_change(on_b, lambda s: s["name"] == "Media")
        assert change["service"]["state"] == "Inactive"

        redis_server.start()
        await redis_server.ready()
        await eventually(lambda: all(n.app.state.notifier.bus.healthy for n in nodes))
        for node in nodes:
            await node.monitor.refresh()
            assert node.state("Media") == "Active"

        # Messages flow between the nodes again.
        await a.client.post("/genesys/1/admin/maintenance", json={"read_only": True})
        change = await wait_for_change(on_b, lambda s: s["name"] == "Provisioning")
        assert change["service"]["state"] == "ReadOnly"
