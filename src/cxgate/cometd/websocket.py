"""The websocket transport: the same batches as long-polling, one JSON array per frame.

Frames are handled in arrival order, except that a frame holding a `/meta/connect` runs on
its own task: the connect is held (until a message arrives or the timeout passes) while
the client goes on subscribing and publishing on the same socket. Replies go out as soon as
they exist, each frame's replies in one frame; deliveries ride with the released connect.

A frame over `max_message_bytes` gets a `413::Message too large` reply and the socket is
closed with 1009 (message too big), as RFC 6455 prescribes; other malformed frames get
`400::` replies and the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from cxgate.cometd.bayeux import Bayeux
from cxgate.cometd.errors import BayeuxError
from cxgate.cometd.messages import MalformedBatch, Message, decode, encode, error_reply

_TOO_BIG = 1009
_GOING_AWAY = 1001


class _Connection:
    def __init__(self, websocket: WebSocket, bayeux: Bayeux, max_message_bytes: int) -> None:
        self.websocket = websocket
        self.bayeux = bayeux
        self.max_message_bytes = max_message_bytes
        self.tasks: set[asyncio.Task[None]] = set()
        # ASGI servers do not promise that concurrent sends interleave whole frames.
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        try:
            await self.websocket.accept()
        except (WebSocketDisconnect, OSError, RuntimeError):
            return  # gone before the handshake completed
        try:
            while True:
                try:
                    event = await self.websocket.receive()
                except (WebSocketDisconnect, OSError, RuntimeError):
                    return
                if event["type"] == "websocket.disconnect":
                    return
                if not await self._frame(event.get("text"), event.get("bytes")):
                    return
        finally:
            await self._cancel_tasks()

    async def _frame(self, text: str | None, data: bytes | None) -> bool:
        """Handle one frame; False when the connection must end."""
        raw: bytes | str = text if text is not None else data or b""
        size = len(raw.encode()) if isinstance(raw, str) else len(raw)
        if size > self.max_message_bytes:
            await self.send([error_reply(BayeuxError.MESSAGE_TOO_LARGE)])
            await self.close(_TOO_BIG, "Message too large")
            return False
        try:
            batch = decode(raw)
        except MalformedBatch as malformed:
            await self.send(malformed.replies)
            return True
        if any(message["channel"] == "/meta/connect" for message in batch):
            task = asyncio.ensure_future(self._process(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            # Let the task run up to its hold, so that it sees the session before any frame
            # that follows (a disconnect, say) changes it.
            await asyncio.sleep(0)
        else:
            await self._process(batch)
        return True

    async def _process(self, batch: list[Message]) -> None:
        await self.send(await self.bayeux.handle(batch))

    async def send(self, messages: list[Message]) -> None:
        if not messages:
            return
        async with self._send_lock:
            # A peer that vanished mid-send is the receive loop's business, not an error here.
            with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
                await self.websocket.send_text(encode(messages).decode())

    async def close(self, code: int, reason: str) -> None:
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
                await self.websocket.close(code, reason)

    async def finish(self, grace: float) -> None:
        """Let released connects send their replies (at most `grace` s), then close."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=grace)
        await self.close(_GOING_AWAY, "Server shutting down")

    async def _cancel_tasks(self) -> None:
        tasks = set(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class WebSocketTransport:
    """The ASGI app behind every websocket route of one server."""

    def __init__(self, bayeux: Bayeux, *, max_message_bytes: int) -> None:
        self.bayeux = bayeux
        self.max_message_bytes = max_message_bytes
        self._connections: set[_Connection] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = _Connection(
            WebSocket(scope, receive, send), self.bayeux, self.max_message_bytes
        )
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)

    async def close_all(self, grace: float) -> None:
        await asyncio.gather(*(c.finish(grace) for c in list(self._connections)))

    def __len__(self) -> int:
        return len(self._connections)
