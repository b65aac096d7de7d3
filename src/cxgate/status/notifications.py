"""The notification plane of one node: the CometD server, joined to the rest of the cluster by
the bus.

Outbound, the CometD server's `broadcast` hook puts every publish (a state change announced by
the monitor, a client's publish) on the bus. Inbound, what other nodes put on the bus goes to
`CometdServer.deliver`, which reaches local subscribers and never broadcasts again, so nothing
loops; channel handlers (the monitor's `adopt`) see it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog

from cxgate.backends.bus import Bus
from cxgate.cometd import CometdServer
from cxgate.config import CometdSection
from cxgate.errors import BusUnavailable

log = structlog.get_logger("cxgate.notifications")


class Notifier:
    def __init__(self, *, bus: Bus, options: CometdSection) -> None:
        self.bus = bus
        self.cometd = CometdServer(
            timeout_ms=options.timeout_ms,
            interval_ms=options.interval_ms,
            max_interval_ms=options.max_interval_ms,
            max_message_bytes=options.max_message_bytes,
            max_queue=options.max_queue,
            broadcast=self._broadcast,
        )
        self._handlers: dict[str, Callable[[Any], None]] = {}
        self._relay: asyncio.Task[None] | None = None

    def on(self, channel: str, handler: Callable[[Any], None]) -> None:
        """Also hand what other nodes publish on `channel` to `handler`."""
        self._handlers[channel] = handler

    async def start(self) -> None:
        await self.bus.open()
        await self.cometd.start()
        if self._relay is None:
            self._relay = asyncio.create_task(self._relay_forever(), name="bus-relay")

    async def stop(self) -> None:
        # Clients first (they are told to reconnect, most likely to another node), then the bus.
        await self.cometd.stop()
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        await self.bus.close()

    async def publish(self, channel: str, data: Any) -> None:
        """To subscribers on every node."""
        await self.cometd.publish(channel, data)

    async def _broadcast(self, channel: str, data: Any) -> None:
        try:
            await self.bus.publish(channel, data)
        except BusUnavailable as exc:
            # Local subscribers already have it; the outage shows as Media Inactive, and the
            # other nodes' own probes will report what they see themselves.
            log.warning("not sent to other nodes", channel=channel, detail=exc.message)

    async def _relay_forever(self) -> None:
        async for message in self.bus.subscribe():
            try:
                await self.cometd.deliver(message.channel, message.data)
            except (ValueError, TypeError):
                log.warning("ignored a bus message for an invalid channel", channel=message.channel)
                continue
            handler = self._handlers.get(message.channel)
            if handler is not None:
                handler(message.data)
