"""Two nodes on one store and one bus: what happens on one reaches CometD clients of the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cxgate.backends.bus import open_bus
from tests.api.conftest import BUS_PARAMS, BayeuxClient, Node, bus_url, open_node

CONFIG = "[status]\ninterval = 3600\ntimeout = 1\n\n[cometd]\ntimeout_ms = 2000\n"
SERVICES = "/notifications/services"


@asynccontextmanager
async def cluster(tmp_path: Path, bus: str) -> AsyncIterator[tuple[Node, Node]]:
    store = f"sqlite:///{tmp_path}/cxgate.db"
    async with (
        open_node(store, bus=bus, config_text=CONFIG) as a,
        open_node(store, bus=bus, config_text=CONFIG) as b,
    ):
        yield a, b


@pytest.fixture(params=BUS_PARAMS)
def bus(request: pytest.FixtureRequest) -> str:
    return bus_url(request.param)


async def test_a_change_on_one_node_reaches_clients_of_the_other(tmp_path: Path, bus: str) -> None:
    async with cluster(tmp_path, bus) as (a, b):
        on_b = BayeuxClient(b.client, "/genesys/cometd")
        await on_b.join(SERVICES)
        on_a = BayeuxClient(a.client)
        await on_a.join(SERVICES)

        response = await a.client.post("/genesys/1/admin/maintenance", json={"read_only": True})
        assert response.status_code == 200

        [change] = await on_b.receive(SERVICES)
        assert change["messageType"] == "ServiceStateChangeMessage"
        assert change["service"]["name"] == "Provisioning"
        assert change["service"]["state"] == "ReadOnly"
        assert await on_a.receive(SERVICES) == [change]
        # B follows at once: its guard refuses writes before its own probe has run...
        assert b.state("Provisioning") == "ReadOnly"
        refused = await b.client.post("/genesys/1/storage/60", data={"k": "v"})
        assert refused.status_code == 503
        # ...and its probe, confirming it, announces nothing more: one change, one message.
        await b.monitor.refresh()
        await a.monitor.refresh()
        assert await on_b.pending(SERVICES) == []
        assert await on_a.pending(SERVICES) == []


async def test_client_publishes_cross_nodes(tmp_path: Path, bus: str) -> None:
    async with cluster(tmp_path, bus) as (a, b):
        listener = BayeuxClient(b.client)
        await listener.join("/chat/**")
        talker = BayeuxClient(a.client)
        await talker.join("/other")
        [reply] = await talker.send("/chat/room1", data={"text": "hello"})
        assert reply["successful"] is True
        assert await listener.receive("/chat/room1") == [{"text": "hello"}]


async def test_service_channels_stay_on_their_node(tmp_path: Path, bus: str) -> None:
    observer = open_bus(bus)  # a third node, reading the bus itself
    await observer.open()
    inbox = observer.subscribe()
    try:
        async with cluster(tmp_path, bus) as (a, _):
            await a.app.state.notifier.publish("/service/private", {"n": 1})
            await a.app.state.notifier.publish("/public", {"n": 2})
            first = await asyncio.wait_for(anext(inbox), 3)
            assert (first.channel, first.data) == ("/public", {"n": 2})
    finally:
        await observer.close()
