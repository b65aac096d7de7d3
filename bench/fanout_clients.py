"""The subscribers of `bench.fanout`: thousands of CometD clients in one asyncio process.

Each client is one `asyncio.Protocol` on one connection, with no task of its own: a message
costs the load process one parse and one callback, so with 10,000 clients the figure measured is
the server's work, not the load script's. Both transports speak Bayeux as the CometD client does
(handshake; the first connect with the subscription in one batch; then one held `/meta/connect`
at a time, renewed as soon as its reply arrives, deliveries riding with it):

- `WebSocketSubscriber`: the `websockets` library's sans-I/O client (RFC 6455 framing, masking,
  answering the server's pings), driven straight from `data_received`.
- `LongPollingSubscriber`: raw HTTP/1.1 on one keep-alive connection, one POST at a time.

Every message received on the watched channel is timed (`time.monotonic()`, which all processes
of the machine share) into `Subscriber.received`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, cast

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

CHANNEL = "/notifications/services"
Message = dict[str, Any]


class SubscriberError(Exception):
    """A subscriber failed: refused, disconnected or answered something unexpected."""


class Tally:
    """Deliveries counted across all subscribers, to wake the bench when a round is complete."""

    def __init__(self) -> None:
        self.delivered = 0
        self._target = 0
        self.complete = asyncio.Event()

    def expect(self, total: int) -> None:
        self._target = total
        self.complete.clear()
        if self.delivered >= total:
            self.complete.set()

    def add(self) -> None:
        self.delivered += 1
        if self.delivered >= self._target > 0:
            self.complete.set()


class Subscriber(asyncio.Protocol):
    """The Bayeux side of one client; subclasses move the batches."""

    connection_type = ""

    def __init__(self, host: str, port: int, path: str, tally: Tally) -> None:
        self.tally = tally
        self.host = host
        self.port = port
        self.path = path
        self.client_id: str | None = None
        self.received: list[float] = []
        # Set once the client has subscribed and sent its first held connect.
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._ids = itertools.count(1)
        self._closing = False

    # --- what subclasses implement ---

    def send_batch(self, messages: list[Message]) -> None:
        raise NotImplementedError

    # --- Bayeux ---

    def start(self) -> None:
        self.send_batch(
            [
                self._message(
                    "/meta/handshake",
                    version="1.0",
                    supportedConnectionTypes=[self.connection_type],
                )
            ]
        )

    def handle(self, messages: list[Message], now: float) -> None:
        reconnect = False
        for message in messages:
            channel = message.get("channel")
            if channel == CHANNEL:
                self.received.append(now)
                self.tally.add()
            elif channel == "/meta/handshake":
                if not message.get("successful"):
                    return self.fail(f"handshake refused: {message}")
                self.client_id = message["clientId"]
                subscribe = self._message("/meta/subscribe", subscription=CHANNEL)
                self.send_batch([self._connect(), subscribe])
            elif channel == "/meta/subscribe":
                if not message.get("successful"):
                    return self.fail(f"subscribe refused: {message}")
            elif channel == "/meta/connect":
                if not message.get("successful"):
                    return self.fail(f"connect refused: {message}")
                reconnect = True
        if reconnect and not self._closing:
            self.send_batch([self._connect()])
            if not self.ready.done():
                self.ready.set_result(None)

    def _connect(self) -> Message:
        return self._message("/meta/connect", connectionType=self.connection_type)

    def _message(self, channel: str, **fields: Any) -> Message:
        message: Message = {"channel": channel, "id": str(next(self._ids)), **fields}
        if self.client_id is not None:
            message["clientId"] = self.client_id
        return message

    # --- the connection ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closing:
            self.fail(f"connection lost: {exc or 'closed by the server'}")

    def fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(SubscriberError(why))
        self.close()

    def close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abort()  # RST: no TIME_WAIT pile-up across runs


class WebSocketSubscriber(Subscriber):
    connection_type = "websocket"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.ws = ClientProtocol(parse_uri(f"ws://{self.host}:{self.port}{self.path}"))
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if event.status_code != 101:
                    self.fail(f"websocket upgrade refused: HTTP {event.status_code}")
                    return
                self.start()
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.handle(orjson.loads(event.data), now)
            elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                self.fail("closed by the server")
                return
        self._flush()

    def send_batch(self, messages: list[Message]) -> None:
        self.ws.send_text(orjson.dumps(messages))
        self._flush()

    def _flush(self) -> None:
        chunks = self.ws.data_to_send()
        if chunks and self.transport is not None:
            self.transport.writelines(chunks)


class LongPollingSubscriber(Subscriber):
    connection_type = "long-polling"

    def __init__(self, host: str, port: int, path: str, tally: Tally) -> None:
        super().__init__(host, port, path, tally)
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.start()

    def send_batch(self, messages: list[Message]) -> None:
        body = orjson.dumps(messages)
        if self.transport is not None:
            self.transport.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buffer[:end].decode("latin-1")
            status_line, _, headers = head.partition("\r\n")
            length = _content_length(headers)
            if length is None:
                self.fail(f"response without content-length: {status_line}")
                return
            start = end + 4
            if len(self._buffer) < start + length:
                return
            body, self._buffer = (
                self._buffer[start : start + length],
                self._buffer[start + length :],
            )
            if status_line.split(" ", 2)[1:2] != ["200"]:
                self.fail(f"{status_line}: {body[:200]!r}")
                return
            self.handle(orjson.loads(body), now)


def _content_length(headers: str) -> int | None:
    for line in headers.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip())
    return None


SUBSCRIBERS: dict[str, type[Subscriber]] = {
    "websocket": WebSocketSubscriber,
    "long-polling": LongPollingSubscriber,
}


async def subscribe_all(
    transport: str,
    count: int,
    *,
    host: str,
    port: int,
    path: str,
    concurrency: int,
    tally: Tally,
) -> list[Subscriber]:
    """`count` subscribed clients, at most `concurrency` of them setting up at once."""
    loop = asyncio.get_running_loop()
    factory = SUBSCRIBERS[transport]
    gate = asyncio.Semaphore(concurrency)
    clients: list[Subscriber] = []

    async def one() -> None:
        async with gate:
            _, client = await loop.create_connection(
                lambda: factory(host, port, path, tally), host, port
            )
            clients.append(client)
            async with asyncio.timeout(60):
                await client.ready

    try:
        await asyncio.gather(*(one() for _ in range(count)))
    except BaseException:
        close_all(clients)
        raise
    return clients


def close_all(clients: list[Subscriber]) -> None:
    for client in clients:
        client.close()


async def post_json(host: str, port: int, path: str, body: Any) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on a fresh connection; the status and the body."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        data = orjson.dumps(body)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload
