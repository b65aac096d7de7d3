"""The PostgreSQL bus: LISTEN/NOTIFY (`postgresql://user@host:port/db?channel=cxgate_notifications`).

LISTEN holds its own connection (a pooled one could be handed to someone else mid-listen);
NOTIFY goes through a small pool of its own. The store's URL may be reused as is: its `schema`
and pool options are ignored here, since notification channels are per database, not per schema.
Options: `channel`, and `timeout` (seconds for connecting and for each command, default 2).
PostgreSQL caps a NOTIFY payload at 8000 bytes, which bounds what a CometD client can publish
across nodes on this bus.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from asyncpg.exceptions import InterfaceError, InternalClientError, PostgresError

from cxgate.backends.bus import DEFAULT_TIMEOUT, ReconnectingBus, driver_url, float_option
from cxgate.backends.url import BackendURL
from cxgate.errors import BusUnavailable

_DRIVER_ERRORS = (PostgresError, InterfaceError, InternalClientError, OSError, TimeoutError)
_OWN_OPTIONS = frozenset({"channel", "timeout", "schema", "pool_min", "pool_max"})
MAX_PAYLOAD = 7999
# An idle LISTEN connection runs `SELECT 1` this often: a vanished server (no FIN, no RST)
# would otherwise go unnoticed for as long as TCP keepalive takes, minutes.
KEEPALIVE = 5.0


class PostgresBus(ReconnectingBus):
    def __init__(self, url: BackendURL) -> None:
        super().__init__(name="PostgreSQL", timeout=float_option(url, "timeout", DEFAULT_TIMEOUT))
        self.channel = url.options.get("channel") or "cxgate_notifications"
        self.where = url.redacted()
        self._dsn = driver_url(url.raw, _OWN_OPTIONS)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is None:
            # min_size=0: creating the pool connects nothing, so an unreachable server does not
            # fail startup; each publish connects as needed.
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=0, max_size=2, timeout=self.timeout
            )
        await super().open()

    async def close(self) -> None:
        await super().close()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except _DRIVER_ERRORS:
                pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise self.unavailable("is not open")
        return self._pool

    async def publish(self, channel: str, data: Any) -> None:
        payload = self.encode(channel, data).decode("utf-8")
        if len(payload.encode("utf-8")) > MAX_PAYLOAD:
            raise BusUnavailable(
                f"a message on {channel} is larger than PostgreSQL NOTIFY allows "
                f"({MAX_PAYLOAD} bytes); other nodes will not see it"
            )
        try:
            await self.pool.execute(
                "SELECT pg_notify($1, $2)", self.channel, payload, timeout=self.timeout
            )
        except _DRIVER_ERRORS as exc:
            raise self.unavailable(f"at {self.where} refused a publish", exc) from exc

    async def ping(self) -> None:
        if not self.healthy:
            raise self.unavailable(f"at {self.where} is not listening")
        try:
            await self.pool.fetchval("SELECT 1", timeout=self.timeout)
        except _DRIVER_ERRORS as exc:
            raise self.unavailable(f"at {self.where} does not answer", exc) from exc

    async def listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=self.timeout)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self.channel, self._notified)
            self.connected()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), KEEPALIVE)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=self.timeout)
        finally:
            conn.terminate()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        if isinstance(payload, str):
            self.accept(payload)
