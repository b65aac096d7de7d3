"""The Bayeux state machine and its sessions, driven directly (no transport, no network)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxgate.cometd import Bayeux, BayeuxError, CometdServer
from cxgate.cometd.messages import MalformedBatch, Message, validate

HANDSHAKE_ADVICE = {"reconnect": "handshake", "interval": 0}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Peer:
    """A client of the state machine: numbers its messages and remembers its clientId."""

    def __init__(self, bayeux: Bayeux) -> None:
        self.bayeux = bayeux
        self.client_id: Any = None
        self._ids = itertools.count(1)

    async def send(self, channel: str, **fields: Any) -> list[Message]:
        message: Message = {"channel": channel, "id": str(next(self._ids)), **fields}
        if self.client_id is not None:
            message.setdefault("clientId", self.client_id)
        return await self.bayeux.handle([message])

    async def one(self, channel: str, **fields: Any) -> Message:
        [reply] = await self.send(channel, **fields)
        return reply

    async def handshake(self) -> Message:
        reply = await self.one("/meta/handshake", version="1.0", supportedConnectionTypes=["x"])
        assert reply["successful"] is False  # nothing in common: refused
        reply = await self.one(
            "/meta/handshake", version="1.0", supportedConnectionTypes=["long-polling"]
        )
        assert reply["successful"] is True, reply
        self.client_id = reply["clientId"]
        [first] = await self.send("/meta/connect", connectionType="long-polling")
        assert first["successful"] is True
        return reply

    async def collect(self) -> list[Message]:
        """Whatever is queued, at once (the client asks for a zero hold)."""
        replies = await self.send("/meta/connect", advice={"timeout": 0})
        assert replies[-1]["channel"] == "/meta/connect"
        return replies[:-1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bayeux(clock: FakeClock) -> Bayeux:
    return Bayeux(timeout_ms=5000, interval_ms=250, max_interval_ms=10000, clock=clock)


async def test_handshake_reply_carries_what_clients_need(bayeux: Bayeux) -> None:
    reply = await Peer(bayeux).handshake()
    assert reply["channel"] == "/meta/handshake"
    assert reply["version"] == "1.0"
    assert reply["supportedConnectionTypes"] == ["websocket", "long-polling"]
    assert reply["id"] == "2"
    assert reply["advice"] == {
        "reconnect": "retry",
        "interval": 250,
        "timeout": 5000,
        "maxInterval": 10000,
    }
    assert len(bayeux.sessions) == 1


async def test_first_connect_is_immediate_later_ones_are_held(bayeux: Bayeux) -> None:
    peer = Peer(bayeux)
    await peer.handshake()  # includes the immediate first connect
    started = time.monotonic()
    [reply] = await peer.send("/meta/connect", advice={"timeout": 200})
    assert time.monotonic() - started >= 0.18
    assert reply["successful"] is True
    assert reply["advice"]["reconnect"] == "retry"


async def test_a_delivery_releases_a_held_connect(bayeux: Bayeux) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    await peer.send("/meta/subscribe", subscription="/notifications/*")
    held = asyncio.create_task(peer.send("/meta/connect"))
    await asyncio.sleep(0.05)
    assert not held.done()
    assert bayeux.deliver("/notifications/services", {"n": 1}) == 1
    delivery, reply = await asyncio.wait_for(held, 1)
    assert delivery["channel"] == "/notifications/services"
    assert delivery["data"] == {"n": 1}
    assert isinstance(delivery["id"], str)
    assert reply["channel"] == "/meta/connect"
    assert reply["successful"] is True


async def test_a_newer_connect_supersedes_the_held_one_without_its_messages(
    bayeux: Bayeux,
) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    await peer.send("/meta/subscribe", subscription="/a")
    old = asyncio.create_task(peer.send("/meta/connect"))
    await asyncio.sleep(0.02)
    new = asyncio.create_task(peer.send("/meta/connect"))
    [old_reply] = await asyncio.wait_for(old, 1)
    assert old_reply["successful"] is True
    assert not new.done()
    bayeux.deliver("/a", 1)
    delivery, _ = await asyncio.wait_for(new, 1)
    assert delivery["data"] == 1


async def test_a_connect_waits_for_the_rest_of_its_batch(bayeux: Bayeux) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    batch = [
        {"channel": "/meta/connect", "id": "c", "clientId": peer.client_id},
        {"channel": "/meta/subscribe", "id": "s", "clientId": peer.client_id, "subscription": "/a"},
        {"channel": "/a", "id": "p", "clientId": peer.client_id, "data": "mine"},
    ]
    replies = await asyncio.wait_for(bayeux.handle(batch), 1)
    assert [(r.get("id"), r.get("data")) for r in replies] == [
        ("s", None),
        ("p", None),
        (replies[2]["id"], "mine"),
        ("c", None),
    ]


async def test_unknown_client_gets_402_and_handshake_advice(bayeux: Bayeux) -> None:
    peer = Peer(bayeux)
    peer.client_id = "no-such-client"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/meta/connect", {}),
        ("/meta/subscribe", {"subscription": "/a"}),
        ("/meta/unsubscribe", {"subscription": "/a"}),
        ("/meta/disconnect", {}),
        ("/a", {"data": 1}),
    ]
    for channel, fields in cases:
        reply = await peer.one(channel, **fields)
        assert reply["successful"] is False
        assert reply["error"] == "402::Unknown client"
        assert reply["advice"] == HANDSHAKE_ADVICE
        assert reply["channel"] == channel


@pytest.mark.parametrize(
    ("subscription", "error"),
    [
        ("/meta/connect", BayeuxError.META_SUBSCRIPTION_DENIED),
        ("/meta/**", BayeuxError.META_SUBSCRIPTION_DENIED),
        (["/ok", "/meta/*"], BayeuxError.META_SUBSCRIPTION_DENIED),
        ("/a//b", BayeuxError.INVALID_CHANNEL),
        ("/a/*/b", BayeuxError.INVALID_CHANNEL),
        (42, BayeuxError.MISSING_SUBSCRIPTION),
        ([], BayeuxError.MISSING_SUBSCRIPTION),
        (["/ok", 7], BayeuxError.INVALID_CHANNEL),
    ],
)
async def test_bad_subscriptions_are_refused_whole(
    bayeux: Bayeux, subscription: object, error: BayeuxError
) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    reply = await peer.one("/meta/subscribe", subscription=subscription)
    assert reply["successful"] is False
    assert reply["error"] == error.value
    assert error.value.startswith(f"{error.code}::")
    assert len(bayeux.sessions.index) == 0


async def test_subscription_may_be_a_list_and_is_echoed(bayeux: Bayeux) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    reply = await peer.one("/meta/subscribe", subscription=["/a/*", "/b/**"])
    assert reply == {
        "channel": "/meta/subscribe",
        "successful": True,
        "id": reply["id"],
        "clientId": peer.client_id,
        "subscription": ["/a/*", "/b/**"],
    }
    bayeux.deliver("/a/x", "one")
    bayeux.deliver("/a/x/y", "not for /a/*")
    bayeux.deliver("/b/x/y", "two")
    assert [m["data"] for m in await peer.collect()] == ["one", "two"]
    await peer.send("/meta/unsubscribe", subscription=["/a/*", "/b/**", "/never"])
    bayeux.deliver("/a/x", "gone")
    assert await peer.collect() == []
    assert len(bayeux.sessions.index) == 0


@pytest.mark.parametrize(
    ("channel", "fields", "error"),
    [
        ("/a/*", {"data": 1}, BayeuxError.WILDCARD_PUBLISH_DENIED),
        ("/meta/foo", {"data": 1}, BayeuxError.META_PUBLISH_DENIED),
        ("/a b", {"data": 1}, BayeuxError.INVALID_CHANNEL),
        ("/a", {}, BayeuxError.MISSING_DATA),
    ],
)
async def test_bad_publishes_are_refused(
    bayeux: Bayeux, channel: str, fields: dict[str, Any], error: BayeuxError
) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    reply = await peer.one(channel, **fields)
    assert reply["successful"] is False
    assert reply["error"] == error.value


async def test_publish_reaches_subscribers_but_not_through_service_channels(
    bayeux: Bayeux,
) -> None:
    alice, bob = Peer(bayeux), Peer(bayeux)
    await alice.handshake()
    await bob.handshake()
    await alice.send("/meta/subscribe", subscription=["/chat/*", "/service/**", "/**"])
    reply = await bob.one("/chat/room", data={"text": "hi"}, ext={"whatever": True})
    assert reply == {"channel": "/chat/room", "successful": True, "id": reply["id"]}
    reply = await bob.one("/service/echo", data={"text": "secret"})
    assert reply["successful"] is True
    [delivery] = await alice.collect()
    assert delivery["channel"] == "/chat/room"
    assert delivery["data"] == {"text": "hi"}
    assert bayeux.deliver("/service/echo", 1) == 0


async def test_disconnect_releases_the_held_connect_and_cleans_up(bayeux: Bayeux) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    await peer.send("/meta/subscribe", subscription=["/a", "/b/*"])
    held = asyncio.create_task(peer.send("/meta/connect"))
    await asyncio.sleep(0.02)
    reply = await peer.one("/meta/disconnect")
    assert reply["successful"] is True
    [released] = await asyncio.wait_for(held, 1)
    assert released["advice"]["reconnect"] == "none"
    assert len(bayeux.sessions) == 0
    assert len(bayeux.sessions.index) == 0
    assert (await peer.one("/meta/connect"))["error"] == "402::Unknown client"


async def test_sessions_expire_after_max_interval(bayeux: Bayeux, clock: FakeClock) -> None:
    quiet, chatty = Peer(bayeux), Peer(bayeux)
    await quiet.handshake()
    await chatty.handshake()
    await quiet.send("/meta/subscribe", subscription="/a/**")
    clock.now += 6
    await chatty.collect()
    clock.now += 6
    assert bayeux.sessions.sweep() == 1
    assert len(bayeux.sessions) == 1
    assert len(bayeux.sessions.index) == 0
    assert (await quiet.one("/meta/connect"))["error"] == "402::Unknown client"
    # Expiry is exact even before the sweeper runs: the lookup checks it.
    clock.now += 11
    assert (await chatty.one("/meta/connect"))["error"] == "402::Unknown client"
    assert len(bayeux.sessions) == 0


async def test_a_held_connect_keeps_its_session_alive(clock: FakeClock) -> None:
    bayeux = Bayeux(timeout_ms=300, max_interval_ms=100, clock=clock)
    peer = Peer(bayeux)
    await peer.handshake()
    held = asyncio.create_task(peer.send("/meta/connect"))
    await asyncio.sleep(0.02)
    clock.now += 60
    assert bayeux.sessions.sweep() == 0
    [reply] = await held
    assert reply["successful"] is True


async def test_queue_drops_the_oldest_messages_beyond_max_queue(clock: FakeClock) -> None:
    bayeux = Bayeux(max_queue=3, clock=clock)
    peer = Peer(bayeux)
    await peer.handshake()
    await peer.send("/meta/subscribe", subscription="/a")
    for n in range(5):
        bayeux.deliver("/a", n)
    assert [m["data"] for m in await peer.collect()] == [2, 3, 4]
    [session] = list(bayeux.sessions)
    assert session.dropped == 2


async def test_shutdown_tells_held_connects_to_handshake_elsewhere(bayeux: Bayeux) -> None:
    peer = Peer(bayeux)
    await peer.handshake()
    held = asyncio.create_task(peer.send("/meta/connect"))
    await asyncio.sleep(0.02)
    bayeux.shutdown()
    [reply] = await asyncio.wait_for(held, 1)
    assert reply["successful"] is False
    assert reply["error"] == "503::Server shutting down"
    assert reply["advice"]["reconnect"] == "handshake"
    refused = await Peer(bayeux).one("/meta/handshake", version="1.0")
    assert refused["error"] == "503::Server shutting down"


async def test_publish_broadcasts_and_deliver_does_not() -> None:
    sent: list[tuple[str, Any]] = []

    async def broadcast(channel: str, data: Any) -> None:
        sent.append((channel, data))

    server = CometdServer(broadcast=broadcast)
    peer = Peer(server.bayeux)
    await peer.handshake()
    await peer.send("/meta/subscribe", subscription="/x/*")
    await server.publish("/x/local", 1)
    await server.deliver("/x/remote", 2)
    await server.publish("/service/private", 3)
    await peer.one("/x/client", data=4)
    await peer.one("/service/client", data=5)
    assert sent == [("/x/local", 1), ("/x/client", 4)]
    assert [m["data"] for m in await peer.collect()] == [1, 2, 4]
    with pytest.raises(ValueError, match="published"):
        await server.publish("/meta/connect", 1)
    with pytest.raises(TypeError):
        await server.deliver("/x/y", object())


async def test_a_failing_broadcast_does_not_fail_a_client_publish() -> None:
    async def broadcast(channel: str, data: Any) -> None:
        raise ConnectionError("cluster down")

    bayeux = Bayeux(broadcast=broadcast)
    peer = Peer(bayeux)
    await peer.handshake()
    await peer.send("/meta/subscribe", subscription="/x")
    assert (await peer.one("/x", data=1))["successful"] is True
    assert [m["data"] for m in await peer.collect()] == [1]


json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
channel_name = st.sampled_from(
    [
        "/meta/handshake",
        "/meta/connect",
        "/meta/disconnect",
        "/meta/subscribe",
        "/meta/unsubscribe",
        "/meta/x",
        "/a",
        "/a/*",
        "/service/s",
        "bad",
    ]
)
message = st.fixed_dictionaries(
    {"channel": channel_name},
    optional={
        "id": json_value,
        "clientId": st.sampled_from(["VALID", "bogus"]) | json_value,
        "subscription": st.sampled_from(["/a", "/a/**", "/meta/x"]) | json_value,
        "data": json_value,
        "advice": json_value,
        "ext": json_value,
        "supportedConnectionTypes": json_value,
        "connectionType": json_value,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, max_size=6) | json_value)
def test_any_input_gets_replies_never_an_exception(value: Any) -> None:
    async def scenario() -> None:
        bayeux = Bayeux(timeout_ms=0)
        client_id = (await Peer(bayeux).one("/meta/handshake"))["clientId"]
        try:
            batch = validate(value)
        except MalformedBatch as malformed:
            refused = malformed.replies
        else:
            refused = []
        if refused:
            assert all(r["error"].startswith("400::") for r in refused)
            return
        for item in batch:
            if item.get("clientId") == "VALID":
                item["clientId"] = client_id
        replies = await bayeux.handle(batch)
        assert all(isinstance(r.get("successful", True), bool) for r in replies)
        assert len([r for r in replies if "successful" in r]) == len(batch)

    asyncio.run(scenario())
