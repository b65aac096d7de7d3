"""Two `cxgate serve` processes on one PostgreSQL store: a change triggered on node A reaches a
CometD client connected to node B, over a Redis bus and over a PostgreSQL bus.

Maintenance is switched on through A's API; A announces the Provisioning change on the bus and
B hands it to its own subscribers. Over Redis the subscriber is the official CometD JavaScript
client on websocket (needs node: conftest.py skips or fails without it); over PostgreSQL it is a
long-polling client over httpx. Each test owns a fresh schema and a bus channel of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import BayeuxClient
from tests.backends import PG_URL, REQUIRED, SKIPPED, drop_url, fresh_url, unavailable_reason
from tests.e2e.processes import Served, serve, wait_ready
from tests.interop.clients import run_client

pytestmark = pytest.mark.slow

SERVICES = "/notifications/services"
# Probes far apart: the change under test travels by the bus, not by B's own probe.
CONFIG = "[status]\ninterval = 60\ntimeout = 1\n\n[cometd]\ntimeout_ms = 2000\n"
REDIS_BUS = "redis://127.0.0.1:6379/12"


def needs(*backends: str) -> pytest.MarkDecorator:
    """Skip (loudly, via the BACKEND SKIPPED summary) when a server is missing, unless required."""
    for backend in backends:
        reason = unavailable_reason(backend)
        if reason is not None and backend not in REQUIRED:
            SKIPPED[backend] = reason
            return pytest.mark.skipif(True, reason=reason)
    return pytest.mark.skipif(False, reason="")


def bus_url(kind: str) -> str:
    tag = uuid.uuid4().hex[:12]
    if kind == "redis":
        return f"{REDIS_BUS}?channel=cxgate-test-{tag}"
    return f"{PG_URL}?channel=cxgate_test_{tag}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, dropped at the end."""
    url, extra = await fresh_url("postgres", tmp_path)
    try:
        yield url
    finally:
        await drop_url("postgres", extra)


@contextmanager
def cluster(tmp_path: Path, store: str, bus: str) -> Iterator[tuple[Served, Served]]:
    config = tmp_path / "cxgate.toml"
    config.write_text(CONFIG)
    args = ("--store", store, "--bus", bus, "--config", str(config))
    with ExitStack() as stack:
        # Started together on the fresh schema: the store's migrations must take their lock.
        a = stack.enter_context(serve(tmp_path, *args, wait=False))
        b = stack.enter_context(serve(tmp_path, *args, wait=False))
        for served in (a, b):
            wait_ready(served.base_url, served.process)
        yield a, b


async def switch_maintenance(served: Served, *, read_only: bool) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        response = await http.post("/genesys/1/admin/maintenance", json={"read_only": read_only})
    assert response.status_code == 200, response.text
    assert response.json() == {"read_only": read_only}


async def services(served: Served) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        response = await http.get("/api/v2/services", params={"fields": "*"})
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()["services"]}


async def ready_pair(a: Served, b: Served) -> dict[str, Any]:
    """Both nodes on the bus (Media Active: subscribed before serving); B's Provisioning."""
    for served in (a, b):
        assert (await services(served))["Media"]["state"] == "Active", served.log()
    provisioning: dict[str, Any] = (await services(b))["Provisioning"]
    assert provisioning["state"] == "Active"
    return provisioning


def assert_read_only_change(data: Any, expected: dict[str, Any]) -> None:
    assert data == {
        "messageType": "ServiceStateChangeMessage",
        "service": {**expected, "state": "ReadOnly"},
    }


@needs("postgres", "redis")
async def test_redis_bus_cometd_js_client(node: str, tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, store, bus_url("redis")) as (a, b):
        provisioning = await ready_pair(a, b)
        client = await run_client(
            node, "cometd_client.mjs", b.base_url + "/api/v2/notifications", "websocket"
        )
        try:
            assert await client.event() == {"event": "subscribed", "transport": "websocket"}
            await switch_maintenance(a, read_only=True)
            received = await client.event()
            disconnected = await client.event()
        except BaseException:
            client.process.kill()
            raise
        finally:
            code = await client.finish()
        assert code == 0, await client.stderr()
        assert received["event"] == "message"
        assert received["channel"] == SERVICES
        assert_read_only_change(received["data"], provisioning)
        assert disconnected["event"] == "disconnected"
        assert (await services(b))["Provisioning"]["state"] == "ReadOnly"


@needs("postgres")
async def test_postgres_bus_long_polling_client(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, store, bus_url("postgres")) as (a, b):
        provisioning = await ready_pair(a, b)
        async with httpx.AsyncClient(base_url=b.base_url, timeout=10) as http:
            client = BayeuxClient(http, "/genesys/cometd")
            await client.join(SERVICES)
            await switch_maintenance(a, read_only=True)
            [change] = await client.receive(SERVICES, within=10)
            assert_read_only_change(change, provisioning)
            # B follows at once: it refuses writes before its own probe has run.
            refused = await http.post("/genesys/1/storage/60", data={"k": "v"})
            assert refused.status_code == 503

            await switch_maintenance(a, read_only=False)
            [change] = await client.receive(SERVICES, within=10)
            assert change["service"] == provisioning
        assert (await services(b))["Provisioning"]["state"] == "Active"
