"""The Bayeux 1.0 state machine, independent of any transport.

`Bayeux.handle` takes a validated batch (see `messages.validate`) and returns the replies,
holding a `/meta/connect` until a message arrives for its client or the connect timeout
passes. Transports only move bytes: long-polling answers a POST with the replies, websocket
sends them as a frame.

Advice: handshake and connect replies carry `reconnect: "retry"` with the configured
`interval`, `timeout` and `maxInterval` (ms). Errors that cost the client its session
(unknown or expired `clientId`, server shutdown) carry `reconnect: "handshake"`, and a
connect that ends because its client disconnected carries `reconnect: "none"`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
import structlog

from cxgate.cometd import channels
from cxgate.cometd.errors import BayeuxError
from cxgate.cometd.messages import Message, error_reply
from cxgate.cometd.sessions import Session, SessionStore

Broadcast = Callable[[str, Any], Awaitable[None]]

VERSION: Final = "1.0"
CONNECTION_TYPES: Final = ("websocket", "long-polling")
# After a shutdown the client should come back, but not in the same millisecond: the node
# it reaches then is most likely a restarted or a different one.
SHUTDOWN_RETRY_MS: Final = 1000

log = structlog.get_logger("cxgate.cometd")


class Bayeux:
    def __init__(
        self,
        *,
        timeout_ms: int = 30000,
        interval_ms: int = 0,
        max_interval_ms: int = 60000,
        max_queue: int = 1000,
        broadcast: Broadcast | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_ms = timeout_ms
        self.interval_ms = interval_ms
        self.max_interval_ms = max_interval_ms
        self.broadcast = broadcast
        self.sessions = SessionStore(
            max_interval=max_interval_ms / 1000, max_queue=max_queue, clock=clock
        )
        self.closing = False
        self._ids = itertools.count(1)

    @property
    def advice(self) -> Message:
        return {
            "reconnect": "retry",
            "interval": self.interval_ms,
            "timeout": self.timeout_ms,
            "maxInterval": self.max_interval_ms,
        }

    async def handle(self, batch: list[Message]) -> list[Message]:
        """Process `batch`; return the replies and any messages delivered with them.

        Messages are processed in order, except that a `/meta/connect` waits until the rest
        of its batch is done: held first, it would delay them by up to the connect timeout.
        """
        replies: list[Message] = []
        connects: list[Message] = []
        for message in batch:
            channel: str = message["channel"]
            if channel == "/meta/handshake":
                replies.append(self._handshake(message))
            elif channel == "/meta/connect":
                connects.append(message)
            elif channel == "/meta/disconnect":
                replies.append(self._disconnect(message))
            elif channel in ("/meta/subscribe", "/meta/unsubscribe"):
                replies.append(
                    self._subscription(message, subscribe=channel.endswith("/subscribe"))
                )
            elif channels.is_meta(channel):
                replies.append(error_reply(BayeuxError.META_PUBLISH_DENIED, message))
            else:
                replies.append(await self._publish(message))
        for message in connects:
            replies.extend(await self._connect(message))
        return replies

    async def publish(self, channel: str, data: Any) -> None:
        """Server-side publish: local subscribers, then the rest of the cluster."""
        self.deliver(channel, data)
        if self.broadcast is not None and not channels.is_service(channel):
            await self.broadcast(channel, data)

    def deliver(self, channel: str, data: Any) -> int:
        """Queue `data` for the local subscribers of `channel`; return how many there were.

        Raises ValueError for a name nobody could subscribe to and TypeError for data that
        is not JSON: the caller made the mistake, and a client must not pay for it later.
        """
        if not channels.is_valid(channel) or channels.is_meta(channel):
            raise ValueError(f"not a channel that can be published to: {channel!r}")
        orjson.dumps(data)
        return self._fanout(channel, data)

    def _fanout(self, channel: str, data: Any) -> int:
        if channels.is_service(channel):
            return 0
        subscribers = self.sessions.subscribers(channel)
        if subscribers:
            delivery = {"channel": channel, "data": data, "id": str(next(self._ids))}
            for session in subscribers:
                session.enqueue(delivery)
        return len(subscribers)

    def shutdown(self) -> None:
        """End every session; held connects answer with handshake advice."""
        self.closing = True
        self.sessions.clear(BayeuxError.SHUTTING_DOWN)

    def _reply(self, request: Message, session: Session | None = None, **fields: Any) -> Message:
        reply: Message = {"channel": request["channel"], "successful": True}
        if "id" in request:
            reply["id"] = request["id"]
        if session is not None:
            reply["clientId"] = session.client_id
        reply.update(fields)
        return reply

    def _failure(self, error: BayeuxError, request: Message, **fields: Any) -> Message:
        if error in (BayeuxError.UNKNOWN_CLIENT, BayeuxError.SHUTTING_DOWN):
            interval = 0 if error is BayeuxError.UNKNOWN_CLIENT else SHUTDOWN_RETRY_MS
            fields["advice"] = {"reconnect": "handshake", "interval": interval}
        return error_reply(error, request, **fields)

    def _handshake(self, request: Message) -> Message:
        types = list(CONNECTION_TYPES)
        if self.closing:
            return self._failure(BayeuxError.SHUTTING_DOWN, request, supportedConnectionTypes=types)
        offered = request.get("supportedConnectionTypes")
        if isinstance(offered, list) and not any(t in CONNECTION_TYPES for t in offered):
            return error_reply(
                BayeuxError.UNSUPPORTED_CONNECTION_TYPE, request, supportedConnectionTypes=types
            )
        session = self.sessions.create()
        return self._reply(
            request, session, version=VERSION, supportedConnectionTypes=types, advice=self.advice
        )

    async def _connect(self, request: Message) -> list[Message]:
        session = self.sessions.get(request.get("clientId"))
        if session is None:
            return [self._failure(BayeuxError.UNKNOWN_CLIENT, request)]
        timeout = self._connect_timeout(session, request)
        current = True
        if timeout > 0 and not session.queue:
            try:
                current = await session.hold(timeout)
            finally:
                # maxInterval counts from the end of the last connect, even an abandoned one.
                session.last_seen = self.sessions.clock()
        if session.ended is BayeuxError.SHUTTING_DOWN:
            return [self._failure(BayeuxError.SHUTTING_DOWN, request)]
        if session.ended is not None:
            # Disconnected (or swept) while this connect was held: the client asked for it,
            # or is gone; either way it must not come back with this clientId.
            return [self._reply(request, session, advice={"reconnect": "none", "interval": 0})]
        session.connected = True
        # Messages first, then the connect reply, so the client has seen them all before it
        # reacts to the reply by connecting again. A superseded connect takes no messages:
        # its request was abandoned and they belong to the newer one.
        messages = session.drain() if current else []
        messages.append(self._reply(request, session, advice=self.advice))
        return messages

    def _connect_timeout(self, session: Session, request: Message) -> float:
        """Seconds to hold this connect: 0 for the first, else the server's or the client's.

        The CometD client asks for `advice.timeout: 0` when it reconnects after a failure, to
        learn at once that it is connected again; a client may shorten the hold, not extend it.
        """
        if not session.connected:
            return 0.0
        timeout_ms: float = self.timeout_ms
        advice = request.get("advice")
        if isinstance(advice, dict):
            asked = advice.get("timeout")
            if isinstance(asked, int | float) and not isinstance(asked, bool) and asked >= 0:
                timeout_ms = min(timeout_ms, asked)
        return timeout_ms / 1000

    def _disconnect(self, request: Message) -> Message:
        session = self.sessions.get(request.get("clientId"))
        if session is None:
            return self._failure(BayeuxError.UNKNOWN_CLIENT, request)
        self.sessions.remove(session, BayeuxError.UNKNOWN_CLIENT)
        return self._reply(request, session)

    def _subscription(self, request: Message, *, subscribe: bool) -> Message:
        session = self.sessions.get(request.get("clientId"))
        if session is None:
            return self._failure(BayeuxError.UNKNOWN_CLIENT, request)
        wanted = request.get("subscription")
        echo = {} if wanted is None else {"subscription": wanted}
        patterns = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(patterns, list) or not patterns:
            return error_reply(BayeuxError.MISSING_SUBSCRIPTION, request, **echo)
        # Check every pattern before touching any, so a batch is applied whole or not at all.
        for pattern in patterns:
            if not channels.is_valid(pattern, wildcard=True):
                return error_reply(BayeuxError.INVALID_CHANNEL, request, **echo)
            if channels.is_meta(pattern):
                return error_reply(BayeuxError.META_SUBSCRIPTION_DENIED, request, **echo)
        for pattern in patterns:
            if subscribe:
                self.sessions.subscribe(session, pattern)
            else:
                self.sessions.unsubscribe(session, pattern)
        return self._reply(request, session, **echo)

    async def _publish(self, request: Message) -> Message:
        session = self.sessions.get(request.get("clientId"))
        if session is None:
            return self._failure(BayeuxError.UNKNOWN_CLIENT, request)
        channel: str = request["channel"]
        if not channels.is_valid(channel, wildcard=True):
            return error_reply(BayeuxError.INVALID_CHANNEL, request)
        if channels.is_wildcard(channel):
            return error_reply(BayeuxError.WILDCARD_PUBLISH_DENIED, request)
        if "data" not in request:
            return error_reply(BayeuxError.MISSING_DATA, request)
        data = request["data"]
        self._fanout(channel, data)
        if self.broadcast is not None and not channels.is_service(channel):
            try:
                await self.broadcast(channel, data)
            except Exception:
                # The local subscribers already have it; a cluster hiccup must not turn a
                # delivered publish into a failed one the client would retry and duplicate.
                log.exception("cometd broadcast failed", channel=channel)
        # No `data` in the reply: the CometD client takes a non-meta message with data for a
        # delivery, not for the answer to its publish.
        return self._reply(request)
