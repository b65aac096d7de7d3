"""The in-process bus (`memory://`, the default): enough for a single process.

Buses opened on the same URL in one process form a cluster (`memory://` is one, `memory://a`
another), which lets tests run several apps side by side. Messages still go through the JSON
envelope, so a node never shares a mutable object with another and non-JSON data fails here
exactly as it would on Redis. Nothing crosses a process boundary: with several uvicorn workers
use Redis or PostgreSQL.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cxgate.backends.bus import InboxBus
from cxgate.backends.url import BackendURL
from cxgate.errors import BusUnavailable


class MemoryBus(InboxBus):
    _hubs: ClassVar[dict[str, set[MemoryBus]]] = {}

    def __init__(self, url: BackendURL) -> None:
        super().__init__()
        self.hub = url.path
        self._open = False

    @property
    def healthy(self) -> bool:
        return self._open

    async def open(self) -> None:
        self._hubs.setdefault(self.hub, set()).add(self)
        self._open = True

    async def close(self) -> None:
        members = self._hubs.get(self.hub, set())
        members.discard(self)
        if not members:
            self._hubs.pop(self.hub, None)
        self._open = False
        self.end()

    async def publish(self, channel: str, data: Any) -> None:
        if not self._open:
            raise BusUnavailable("the memory bus is closed")
        payload = self.encode(channel, data)
        for member in tuple(self._hubs.get(self.hub, ())):
            if member is not self:
                member.accept(payload)

    async def ping(self) -> None:
        if not self._open:
            raise BusUnavailable("the memory bus is closed")
