"""The Bus contract, run against every bus: memory, Redis pub/sub, PostgreSQL LISTEN/NOTIFY.

Two bus instances on one URL stand for two nodes of a cluster.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cxgate.backends.bus import Bus, BusMessage, open_bus
from cxgate.errors import BusUnavailable, ConfigError
from tests.backends import PG_URL, REDIS_URL
from tests.conftest import backend_param

BUS_PARAMS = [backend_param(kind) for kind in ("memory", "redis", "postgres")]


def bus_url(kind: str) -> str:
    tag = uuid.uuid4().hex[:12]
    return {
        "memory": f"memory://test-{tag}",
        "redis": f"{REDIS_URL}?channel=cxgate-test-{tag}",
        "postgres": f"{PG_URL}?channel=cxgate_test_{tag}",
    }[kind]


class Node:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.inbox = bus.subscribe()

    async def receive(self, within: float = 3.0) -> BusMessage:
        return await asyncio.wait_for(anext(self.inbox), within)


@pytest.fixture(params=BUS_PARAMS)
def bus_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def nodes(bus_kind: str) -> AsyncIterator[tuple[Node, Node]]:
    """Two open buses on one fresh URL."""
    url = bus_url(bus_kind)
    a, b = open_bus(url), open_bus(url)
    await a.open()
    await b.open()
    try:
        yield Node(a), Node(b)
    finally:
        await a.close()
        await b.close()


async def test_open_bus_is_healthy_and_answers(nodes: tuple[Node, Node]) -> None:
    for node in nodes:
        assert node.bus.healthy
        await node.bus.ping()


async def test_a_message_reaches_the_other_node(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    data: dict[str, Any] = {"messageType": "ServiceStateChangeMessage", "n": [1, "two", None]}
    await a.bus.publish("/notifications/services", data)
    message = await b.receive()
    assert message == BusMessage("/notifications/services", data, a.bus.node_id)


async def test_a_node_never_receives_its_own_messages(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    await a.bus.publish("/own", 1)
    assert (await b.receive()).data == 1
    await b.bus.publish("/theirs", 2)
    # The first thing `a` sees is b's message: its own, sent earlier, was dropped.
    assert await a.receive() == BusMessage("/theirs", 2, b.bus.node_id)


async def test_messages_arrive_in_order(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    for n in range(20):
        await a.bus.publish("/seq", n)
    assert [(await b.receive()).data for _ in range(20)] == list(range(20))


async def test_data_must_be_json(nodes: tuple[Node, Node]) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await nodes[0].bus.publish("/x", {"not": {1, 2}})


async def test_buses_on_other_channels_hear_nothing(
    nodes: tuple[Node, Node], bus_kind: str
) -> None:
    a, b = nodes
    stranger = open_bus(bus_url(bus_kind))
    await stranger.open()
    try:
        stranger_inbox = Node(stranger)
        await a.bus.publish("/x", "for my cluster")
        assert (await b.receive()).data == "for my cluster"
        with pytest.raises(TimeoutError):
            await stranger_inbox.receive(within=0.3)
    finally:
        await stranger.close()


async def test_close_ends_subscriptions_and_publishing(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    await a.bus.close()
    assert not a.bus.healthy
    with pytest.raises(StopAsyncIteration):
        await a.receive()
    with pytest.raises(BusUnavailable):
        await a.bus.ping()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "template",
    [
        "redis://127.0.0.1:{port}/0?timeout=0.5",
        "postgresql://postgres@127.0.0.1:{port}/test?timeout=0.5",
    ],
    ids=["redis", "postgres"],
)
async def test_an_unreachable_bus_opens_and_reports_the_outage(template: str) -> None:
    bus = open_bus(template.format(port=_closed_port()))
    await bus.open()  # startup goes on without the bus
    try:
        assert not bus.healthy
        with pytest.raises(BusUnavailable):
            await bus.ping()
        with pytest.raises(BusUnavailable):
            await bus.publish("/x", 1)
    finally:
        await bus.close()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("kafka://host", "unknown bus URL scheme"),
        ("redis://host:port/0", "invalid port"),
        ("redis://127.0.0.1:6379/zero", "db index"),
        ("redis://127.0.0.1:6379/0?timeout=soon", "not a number"),
    ],
)
def test_bad_bus_urls_are_configuration_errors(raw: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        open_bus(raw)
