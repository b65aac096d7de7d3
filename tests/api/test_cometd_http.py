"""The CometD server over real sockets: HTTP long-polling (httpx) and websocket (websockets)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cxgate.cometd import CometdServer
from tests.interop.harness import serving

NOTIFICATIONS = "/api/v2/notifications"
GENESYS = "/genesys/cometd"
HANDSHAKE_ADVICE = {"reconnect": "handshake", "interval": 0}
TIMEOUT_MS = 1500
MAX_BYTES = 4096

Message = dict[str, Any]


class Client:
    """A minimal Bayeux long-polling client over httpx: numbers messages, keeps its clientId."""

    def __init__(self, http: httpx.AsyncClient, path: str = NOTIFICATIONS) -> None:
        self.http = http
        self.path = path
        self.client_id: str | None = None
        self._ids = itertools.count(1)

    def message(self, channel: str, **fields: Any) -> Message:
        message: Message = {"channel": channel, "id": str(next(self._ids)), **fields}
        if self.client_id is not None:
            message.setdefault("clientId", self.client_id)
        return message

    async def post(self, *messages: Message, suffix: str = "", **kwargs: Any) -> list[Message]:
        response = await self.http.post(self.path + suffix, json=list(messages), **kwargs)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        replies: list[Message] = response.json()
        return replies

    async def send(self, channel: str, **fields: Any) -> list[Message]:
        return await self.post(self.message(channel, **fields))

    async def one(self, channel: str, **fields: Any) -> Message:
        [reply] = await self.send(channel, **fields)
        return reply

    async def handshake(self) -> Message:
        reply = await self.one(
            "/meta/handshake", version="1.0", supportedConnectionTypes=["long-polling"]
        )
        assert reply["successful"] is True, reply
        self.client_id = reply["clientId"]
        [first] = await self.send("/meta/connect", connectionType="long-polling")
        assert first["successful"] is True
        return reply

    async def subscribe(self, *patterns: str) -> None:
        reply = await self.one("/meta/subscribe", subscription=list(patterns))
        assert reply["successful"] is True, reply

    async def collect(self) -> list[Message]:
        """What is queued for this client, at once (zero hold asked for)."""
        replies = await self.send(
            "/meta/connect", connectionType="long-polling", advice={"timeout": 0}
        )
        assert replies[-1]["channel"] == "/meta/connect"
        return replies[:-1]


@pytest.fixture
def cometd() -> CometdServer:
    return CometdServer(timeout_ms=TIMEOUT_MS, max_message_bytes=MAX_BYTES, max_queue=50)


@pytest.fixture
async def base_url(cometd: CometdServer) -> AsyncIterator[str]:
    async with serving(cometd) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


async def test_handshake_ignores_custom_headers_and_unknown_ext(http: httpx.AsyncClient) -> None:
    client = Client(http)
    [reply] = await client.post(
        client.message(
            "/meta/handshake",
            version="1.0",
            minimumVersion="1.0",
            supportedConnectionTypes=["websocket", "long-polling", "callback-polling"],
            ext={"ack": True, "gms": {"user": "alice"}},
        ),
        headers={"gms_user": "alice", "X-Anything": "1"},
    )
    assert reply["successful"] is True
    assert reply["id"] == "1"
    assert reply["version"] == "1.0"
    assert reply["supportedConnectionTypes"] == ["websocket", "long-polling"]
    assert isinstance(reply["clientId"], str)
    assert len(reply["clientId"]) >= 16
    assert reply["advice"] == {
        "reconnect": "retry",
        "interval": 0,
        "timeout": TIMEOUT_MS,
        "maxInterval": 60000,
    }


async def test_url_suffix_forms_and_both_paths_share_sessions(
    http: httpx.AsyncClient, cometd: CometdServer
) -> None:
    client = Client(http, GENESYS)
    [reply] = await client.post(
        client.message("/meta/handshake", version="1.0"), suffix="/handshake"
    )
    client.client_id = reply["clientId"]
    [reply] = await client.post(client.message("/meta/connect"), suffix="/connect")
    assert reply["successful"] is True
    [reply] = await client.post(
        client.message("/meta/subscribe", subscription="/notifications/services"),
        suffix="/subscribe",
    )
    assert reply["successful"] is True
    # Publishes go to the path with a bare trailing slash.
    [reply] = await client.post(client.message("/notifications/services", data=1), suffix="/")
    assert reply["successful"] is True
    client.path = NOTIFICATIONS  # the same session, through the other mount point
    [delivery] = await client.collect()
    assert delivery["data"] == 1
    [reply] = await client.post(client.message("/meta/disconnect"), suffix="/disconnect")
    assert reply["successful"] is True
    assert cometd.session_count == 0


async def test_first_connect_returns_at_once_and_the_next_is_held(
    http: httpx.AsyncClient,
) -> None:
    client = Client(http)
    client.client_id = (await client.one("/meta/handshake", version="1.0"))["clientId"]
    started = time.monotonic()
    reply = await client.one("/meta/connect", connectionType="long-polling")
    assert time.monotonic() - started < 0.5
    assert reply["successful"] is True
    assert reply["advice"]["reconnect"] == "retry"
    started = time.monotonic()
    reply = await client.one("/meta/connect", connectionType="long-polling")
    held = time.monotonic() - started
    assert TIMEOUT_MS / 1000 - 0.1 <= held < TIMEOUT_MS / 1000 + 1
    assert reply["successful"] is True
    assert reply["advice"]["timeout"] == TIMEOUT_MS


async def test_server_publish_releases_a_held_connect(
    http: httpx.AsyncClient, cometd: CometdServer
) -> None:
    client = Client(http)
    await client.handshake()
    await client.subscribe("/notifications/services")
    held = asyncio.create_task(client.send("/meta/connect", connectionType="long-polling"))
    await asyncio.sleep(0.2)
    assert not held.done()
    started = time.monotonic()
    data = {"messageType": "ServiceStateChangeMessage", "service": {"id": "x"}}
    await cometd.publish("/notifications/services", data)
    delivery, reply = await asyncio.wait_for(held, 2)
    assert time.monotonic() - started < 0.5
    assert delivery["channel"] == "/notifications/services"
    assert delivery["data"] == data
    assert "id" in delivery
    assert reply["channel"] == "/meta/connect"
    assert reply["successful"] is True


async def test_wildcard_subscriptions_and_unsubscribe(
    http: httpx.AsyncClient, cometd: CometdServer
) -> None:
    client = Client(http)
    await client.handshake()
    await client.subscribe("/notifications/*", "/deep/**")
    for channel in ["/notifications/services", "/notifications/a/b", "/deep/a", "/deep/a/b"]:
        await cometd.publish(channel, channel)
    assert [m["data"] for m in await client.collect()] == [
        "/notifications/services",
        "/deep/a",
        "/deep/a/b",
    ]
    reply = await client.one("/meta/unsubscribe", subscription="/notifications/*")
    assert reply["successful"] is True
    assert reply["subscription"] == "/notifications/*"
    await cometd.publish("/notifications/services", "after")
    await cometd.publish("/deep/x", "still")
    assert [m["data"] for m in await client.collect()] == ["still"]
    assert cometd.subscription_count == 1


async def test_publish_between_two_clients_but_never_through_service(
    http: httpx.AsyncClient,
) -> None:
    alice, bob = Client(http), Client(http, GENESYS)
    await alice.handshake()
    await bob.handshake()
    await alice.subscribe("/chat/room", "/service/**")
    reply = await bob.one("/chat/room", data={"text": "hello"})
    assert reply == {"channel": "/chat/room", "successful": True, "id": reply["id"]}
    reply = await bob.one("/service/echo", data={"text": "private"})
    assert reply["successful"] is True
    [delivery] = await alice.collect()
    assert delivery["channel"] == "/chat/room"
    assert delivery["data"] == {"text": "hello"}
    assert isinstance(delivery["id"], str)


@pytest.mark.parametrize(
    ("channel", "fields"),
    [
        ("/meta/connect", {"connectionType": "long-polling"}),
        ("/meta/subscribe", {"subscription": "/a"}),
        ("/meta/unsubscribe", {"subscription": "/a"}),
        ("/meta/disconnect", {}),
        ("/chat/room", {"data": 1}),
    ],
)
async def test_unknown_client_is_told_to_handshake(
    http: httpx.AsyncClient, channel: str, fields: dict[str, Any]
) -> None:
    client = Client(http)
    client.client_id = "expired-or-invented"
    reply = await client.one(channel, **fields)
    assert reply["channel"] == channel
    assert reply["id"] == "1"
    assert reply["successful"] is False
    assert reply["error"] == "402::Unknown client"
    assert reply["advice"] == HANDSHAKE_ADVICE


async def test_channel_errors_use_bayeux_codes(http: httpx.AsyncClient) -> None:
    client = Client(http)
    await client.handshake()
    errors = [
        (await client.one("/meta/subscribe", subscription="/meta/connect"))["error"],
        (await client.one("/meta/subscribe", subscription="/a//b"))["error"],
        (await client.one("/meta/subscribe"))["error"],
        (await client.one("/a/*", data=1))["error"],
        (await client.one("/meta/whatever", data=1))["error"],
    ]
    assert [e.split("::")[0] for e in errors] == ["403", "400", "400", "403", "403"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"channel": "/meta/handshake"',
        b"\xff\xfe\x00",
        b"42",
        b'"/meta/handshake"',
        b"null",
        b"[1, 2]",
        b"[[]]",
        b'[{"id": "7"}]',
        b'{"channel": 5}',
        b'[{"channel": "/meta/handshake"}, {"data": 1}]',
    ],
)
async def test_malformed_bodies_get_400_with_bayeux_errors(
    http: httpx.AsyncClient, cometd: CometdServer, body: bytes
) -> None:
    response = await http.post(NOTIFICATIONS, content=body)
    assert response.status_code == 400
    replies = response.json()
    assert isinstance(replies, list)
    assert replies
    assert all(r["successful"] is False and r["error"].startswith("400::") for r in replies)
    assert cometd.session_count == 0  # nothing of a refused batch was applied


async def test_message_without_channel_echoes_its_id(http: httpx.AsyncClient) -> None:
    response = await http.post(NOTIFICATIONS + "/connect", content=b'[{"id": "7"}]')
    assert response.status_code == 400
    assert response.json() == [{"id": "7", "successful": False, "error": "400::Missing channel"}]


async def test_form_encoded_message_field_and_wrong_method(http: httpx.AsyncClient) -> None:
    message = orjson.dumps([{"channel": "/meta/handshake", "version": "1.0"}]).decode()
    response = await http.post(NOTIFICATIONS, data={"message": message})
    assert response.status_code == 200
    assert response.json()[0]["successful"] is True
    assert (await http.get(NOTIFICATIONS + "/handshake")).status_code == 405


async def test_oversized_bodies_get_413(http: httpx.AsyncClient) -> None:
    big = orjson.dumps([{"channel": "/meta/handshake", "pad": "x" * MAX_BYTES}])
    response = await http.post(NOTIFICATIONS, content=big)
    assert response.status_code == 413
    assert response.json() == [{"successful": False, "error": "413::Message too large"}]

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 1024  # no content-length: the limit applies while reading

    response = await http.post(NOTIFICATIONS, content=chunked())
    assert response.status_code == 413


async def test_disconnect_releases_a_held_connect_and_cleans_up(
    http: httpx.AsyncClient, cometd: CometdServer
) -> None:
    client = Client(http)
    await client.handshake()
    await client.subscribe("/a", "/b/*", "/c/**")
    assert cometd.subscription_count == 3
    held = asyncio.create_task(client.send("/meta/connect"))
    await asyncio.sleep(0.1)
    assert (await client.one("/meta/disconnect"))["successful"] is True
    [released] = await asyncio.wait_for(held, 2)
    assert released["advice"]["reconnect"] == "none"
    assert cometd.session_count == 0
    assert cometd.subscription_count == 0


async def test_messages_survive_an_abandoned_long_poll(
    http: httpx.AsyncClient, cometd: CometdServer
) -> None:
    client = Client(http)
    await client.handshake()
    await client.subscribe("/a")
    with pytest.raises(httpx.ReadTimeout):
        await client.post(client.message("/meta/connect"), timeout=0.2)
    await asyncio.sleep(0.1)  # the server notices the closed connection
    await cometd.publish("/a", "kept")
    assert [m["data"] for m in await client.collect()] == ["kept"]


async def test_sessions_are_swept_after_max_interval() -> None:
    cometd = CometdServer(timeout_ms=200, max_interval_ms=300)
    async with serving(cometd) as url, httpx.AsyncClient(base_url=url) as http:
        client = Client(http)
        await client.handshake()
        await client.subscribe("/a/**")
        assert cometd.session_count == 1
        deadline = time.monotonic() + 3
        while cometd.session_count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert cometd.session_count == 0
        assert cometd.subscription_count == 0
        reply = await client.one("/meta/connect")
        assert reply["error"] == "402::Unknown client"
        assert reply["advice"] == HANDSHAKE_ADVICE


async def test_stop_tells_a_held_long_poll_to_handshake_again(
    http: httpx.AsyncClient, cometd: CometdServer
) -> None:
    client = Client(http)
    await client.handshake()
    held = asyncio.create_task(client.send("/meta/connect"))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await cometd.stop()
    [reply] = await asyncio.wait_for(held, 2)
    assert time.monotonic() - started < 1
    assert reply["successful"] is False
    assert reply["error"] == "503::Server shutting down"
    assert reply["advice"]["reconnect"] == "handshake"
    assert cometd.session_count == 0


# --- websocket -------------------------------------------------------------------------


class WsClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.client_id: str | None = None
        self._ids = itertools.count(1)

    async def send(self, channel: str, **fields: Any) -> str:
        message_id = str(next(self._ids))
        message: Message = {"channel": channel, "id": message_id, **fields}
        if self.client_id is not None:
            message.setdefault("clientId", self.client_id)
        await self.ws.send(orjson.dumps([message]).decode())
        return message_id

    async def receive(self, wait: float = 2) -> list[Message]:
        frame = await asyncio.wait_for(self.ws.recv(), wait)
        messages: list[Message] = orjson.loads(frame)
        return messages

    async def one(self, channel: str, **fields: Any) -> Message:
        message_id = await self.send(channel, **fields)
        [reply] = await self.receive()
        assert reply["id"] == message_id
        return reply

    async def handshake(self) -> None:
        reply = await self.one(
            "/meta/handshake", version="1.0", supportedConnectionTypes=["websocket"]
        )
        assert reply["successful"] is True
        self.client_id = reply["clientId"]
        assert (await self.one("/meta/connect", connectionType="websocket"))["successful"]


def ws_url(base_url: str, path: str = NOTIFICATIONS) -> str:
    return base_url.replace("http://", "ws://") + path


async def test_websocket_connect_held_and_released_by_a_publish(
    base_url: str, cometd: CometdServer
) -> None:
    async with connect(ws_url(base_url), additional_headers={"gms_user": "alice"}) as ws:
        client = WsClient(ws)
        await client.handshake()
        assert (await client.one("/meta/subscribe", subscription="/notifications/*"))["successful"]
        connect_id = await client.send("/meta/connect", connectionType="websocket")
        # While the connect is held, the socket still answers other messages.
        reply = await client.one("/meta/subscribe", subscription="/other")
        assert reply["successful"] is True
        await cometd.publish("/notifications/services", {"n": 1})
        delivery, reply = await client.receive()
        assert delivery["channel"] == "/notifications/services"
        assert delivery["data"] == {"n": 1}
        assert reply["id"] == connect_id
        assert reply["successful"] is True
        assert reply["advice"]["reconnect"] == "retry"
        assert (await client.one("/meta/disconnect"))["successful"] is True
    assert cometd.session_count == 0
    assert cometd.subscription_count == 0


async def test_websocket_and_long_polling_clients_talk(
    base_url: str, http: httpx.AsyncClient
) -> None:
    poller = Client(http)
    await poller.handshake()
    await poller.subscribe("/chat/*")
    async with connect(ws_url(base_url, GENESYS)) as ws:
        client = WsClient(ws)
        await client.handshake()
        reply = await client.one("/chat/room", data="from websocket")
        assert reply == {"channel": "/chat/room", "successful": True, "id": reply["id"]}
    [delivery] = await poller.collect()
    assert delivery["data"] == "from websocket"


async def test_websocket_402_and_malformed_frames_keep_the_socket(base_url: str) -> None:
    async with connect(ws_url(base_url)) as ws:
        client = WsClient(ws)
        client.client_id = "invented"
        reply = await client.one("/meta/connect", connectionType="websocket")
        assert reply["error"] == "402::Unknown client"
        assert reply["advice"] == HANDSHAKE_ADVICE
        for frame in ["not json", "42", '[{"id": "9"}]', "[1]"]:
            await ws.send(frame)
            replies = await client.receive()
            assert all(r["error"].startswith("400::") for r in replies)
        client.client_id = None
        await client.handshake()


async def test_websocket_oversized_frame_is_refused_and_closed(base_url: str) -> None:
    async with connect(ws_url(base_url)) as ws:
        await ws.send(orjson.dumps([{"channel": "/meta/handshake", "pad": "x" * MAX_BYTES}]))
        [reply] = orjson.loads(await asyncio.wait_for(ws.recv(), 2))
        assert reply == {"successful": False, "error": "413::Message too large"}
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 2)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


async def test_stop_answers_a_held_websocket_connect_then_closes(
    base_url: str, cometd: CometdServer
) -> None:
    async with connect(ws_url(base_url)) as ws:
        client = WsClient(ws)
        await client.handshake()
        connect_id = await client.send("/meta/connect", connectionType="websocket")
        await asyncio.sleep(0.1)
        await cometd.stop()
        [reply] = await client.receive()
        assert reply["id"] == connect_id
        assert reply["error"] == "503::Server shutting down"
        assert reply["advice"]["reconnect"] == "handshake"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 2)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
    deadline = time.monotonic() + 2
    while cometd.websocket_count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert cometd.websocket_count == 0
