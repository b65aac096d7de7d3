"""HTTP long-polling: a POST carries a batch, its response carries the replies.

The CometD JavaScript client appends the message type to the URL (`/handshake`,
`/connect`, ... and a bare trailing `/` for publishes), so the suffix is accepted and
ignored: the messages say what they are. Bodies are JSON (`application/json`, whatever
the charset parameter says) or, as Bayeux 1.0 also allows, a form field `message`.

A held `/meta/connect` watches its HTTP connection: when the client goes away, the hold is
cancelled before it takes any queued message, so those wait for the client's next connect
instead of vanishing into a closed socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from cxgate.cometd.bayeux import Bayeux
from cxgate.cometd.errors import BayeuxError
from cxgate.cometd.messages import MalformedBatch, Message, decode, encode, error_reply

_HEADERS = [
    (b"content-type", b"application/json;charset=UTF-8"),
    (b"cache-control", b"no-cache, no-store"),
]


class _ClientGone(Exception):
    pass


class LongPolling:
    """The ASGI app behind every long-polling route of one server."""

    def __init__(self, bayeux: Bayeux, *, max_message_bytes: int) -> None:
        self.bayeux = bayeux
        self.max_message_bytes = max_message_bytes
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self._tracked():
            try:
                status, replies = await self._respond(scope, receive)
            except _ClientGone:
                return
            body = encode(replies)
            headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    async def wait_idle(self, grace: float) -> None:
        """Wait (at most `grace` s) until no request is in progress."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def _respond(self, scope: Scope, receive: Receive) -> tuple[int, list[Message]]:
        too_large = (413, [error_reply(BayeuxError.MESSAGE_TOO_LARGE)])
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_message_bytes:
            return too_large
        body = await self._read_body(receive)
        if body is None:
            return too_large
        try:
            batch = decode(_json_part(body, headers.get(b"content-type", b"")))
        except MalformedBatch as malformed:
            return 400, malformed.replies
        return 200, await self._handle_watching(batch, receive)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit (the rest is never read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_message_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _handle_watching(self, batch: list[Message], receive: Receive) -> list[Message]:
        """Run the batch; if the client disconnects first, cancel it and raise _ClientGone."""
        handling = asyncio.ensure_future(self.bayeux.handle(batch))
        watching = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({handling, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watching.cancel()
            if not handling.done():
                handling.cancel()
            # Both are awaited so neither outlives the request, even when this one is cancelled.
            await asyncio.gather(handling, watching, return_exceptions=True)
        if handling.cancelled():
            raise _ClientGone
        return handling.result()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _json_part(body: bytes, content_type: bytes) -> bytes | str:
    """The JSON text of a body: the body itself, or its `message` field when form-encoded."""
    if not content_type.lower().startswith(b"application/x-www-form-urlencoded"):
        return body
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
    except UnicodeDecodeError:
        return body
    values = fields.get("message")
    return values[0] if values else body
