"""`CometdServer`: one Bayeux server, mountable at several paths, with its sweeper.

One instance may be mounted at many paths (GMS serves the same notifications at
`/api/v2/notifications` and `/genesys/cometd`): sessions and subscriptions are shared, so a
client may handshake on one path and connect on the other.

Clustering is the caller's: `broadcast` is called for every publish (server-side or from a
client) to a non-`/service` channel, and messages coming back from other nodes are handed
to `deliver`, which never broadcasts, so nothing loops.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.routing import BaseRoute, Route, WebSocketRoute

from cxgate.cometd.bayeux import Bayeux, Broadcast
from cxgate.cometd.longpolling import LongPolling
from cxgate.cometd.websocket import WebSocketTransport

# How long stop() lets released connects write their replies before closing sockets.
_STOP_GRACE_SECONDS = 2.0


class CometdServer:
    def __init__(
        self,
        *,
        timeout_ms: int = 30000,
        interval_ms: int = 0,
        max_interval_ms: int = 60000,
        max_message_bytes: int = 65536,
        max_queue: int = 1000,
        broadcast: Broadcast | None = None,
    ) -> None:
        if min(timeout_ms, interval_ms) < 0 or max_interval_ms <= 0:
            raise ValueError("timeout_ms and interval_ms must be >= 0, max_interval_ms > 0")
        if max_message_bytes <= 0 or max_queue <= 0:
            raise ValueError("max_message_bytes and max_queue must be positive")
        self.bayeux = Bayeux(
            timeout_ms=timeout_ms,
            interval_ms=interval_ms,
            max_interval_ms=max_interval_ms,
            max_queue=max_queue,
            broadcast=broadcast,
        )
        self._long_polling = LongPolling(self.bayeux, max_message_bytes=max_message_bytes)
        self._websocket = WebSocketTransport(self.bayeux, max_message_bytes=max_message_bytes)
        self._sweeper: asyncio.Task[None] | None = None

    def routes(self, path: str) -> list[BaseRoute]:
        """Long-polling POSTs to `path` and `path/<message type>`, websocket upgrades at `path`."""
        base = path.rstrip("/")
        return [
            Route(base, self._long_polling, methods=["POST"]),
            Route(base + "/{suffix:path}", self._long_polling, methods=["POST"]),
            WebSocketRoute(base, self._websocket),
        ]

    async def start(self) -> None:
        """Accept handshakes again and start sweeping expired sessions."""
        self.bayeux.closing = False
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="cometd-sweeper")

    async def stop(self) -> None:
        """Release held connects with handshake advice, close websockets, stop sweeping."""
        self.bayeux.shutdown()
        await self._long_polling.wait_idle(_STOP_GRACE_SECONDS)
        await self._websocket.close_all(_STOP_GRACE_SECONDS)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def publish(self, channel: str, data: Any) -> None:
        """Deliver to local subscribers and, with `broadcast`, to the other nodes."""
        await self.bayeux.publish(channel, data)

    async def deliver(self, channel: str, data: Any) -> None:
        """Deliver a message that came from another node: local subscribers only."""
        self.bayeux.deliver(channel, data)

    @property
    def session_count(self) -> int:
        return len(self.bayeux.sessions)

    @property
    def subscription_count(self) -> int:
        """Distinct subscribed channel patterns across all sessions (for metrics and tests)."""
        return len(self.bayeux.sessions.index)

    @property
    def websocket_count(self) -> int:
        return len(self._websocket)

    async def _sweep_forever(self) -> None:
        # Sweeping a few times per max_interval keeps an expired session's memory no longer
        # than ~1.25 max_interval; expiry itself is exact because lookups check it too.
        period = min(max(self.bayeux.max_interval_ms / 4000, 0.05), 5.0)
        while True:
            await asyncio.sleep(period)
            self.bayeux.sessions.sweep()
