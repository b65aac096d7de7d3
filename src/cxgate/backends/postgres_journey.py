"""The Context Services store on PostgreSQL: its own pool, its own tables and migrations
(recorded in `journey_migrations`, applied under an advisory lock so that nodes starting
together apply each exactly once). `?schema=` is the search_path, as for the GMS store.
Calls borrow the pool's connections through `Lanes` (journey/pg_lanes.py), which costs less.

Atomicity across nodes comes from the database: the service-row lock that every write takes
first (see `journey/sql.py`), `ended_at IS NULL` in every end, and an advisory lock per
(space, customer, contact key, service type) that serialises racing composite starts. The
journey's hot writes are one statement each (journey/pg_writes.py), and reads of one statement
run outside a transaction block: one statement is one snapshot, and commits whole or not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cxgate.backends.migrations import migrations_for
from cxgate.backends.postgres_pool import (
    DRIVER_ERRORS,
    PoolOptions,
    open_pool,
    quote_ident,
    row_count,
)
from cxgate.backends.url import BackendURL
from cxgate.clock import Clock
from cxgate.errors import StoreUnavailable
from cxgate.journey.filters import number_literal
from cxgate.journey.models import AttachedEquals, CompositeEntry, Space
from cxgate.journey.pg_lanes import Lanes
from cxgate.journey.pg_writes import OneStatementWrites
from cxgate.journey.rows import Row, dumps
from cxgate.journey.sql import Args, Tx
from cxgate.journey.store import JourneyStore

_MIGRATIONS_TABLE = """
    CREATE TABLE IF NOT EXISTS journey_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"""
# PostgreSQL's JSON types cannot hold U+0000, which JSON text may carry escaped as \u0000: the
# rare attached data holding one is stored (as text) but cannot match an attached-data filter.
_NUL_ESCAPE = "\\u0000"


def _lock_id(*parts: str | None) -> int:
    """A 64-bit advisory lock id: the same on every node for the same parts."""
    digest = hashlib.sha256(dumps(["cxgate.journey", *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _PostgresTx:
    def __init__(self, conn: PoolConnectionProxy) -> None:
        self.conn = conn

    async def rows(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return list(await self.conn.fetch(sql, *args))

    async def row(self, sql: str, args: Sequence[Any]) -> Row | None:
        found: Row | None = await self.conn.fetchrow(sql, *args)
        return found

    async def run(self, sql: str, args: Sequence[Any]) -> int:
        return row_count(await self.conn.execute(sql, *args))


class PostgresJourneyStore(OneStatementWrites):
    numbered = True
    same = "IS NOT DISTINCT FROM"

    def __init__(self, url: BackendURL, *, clock: Clock) -> None:
        self.url = url
        self.clock = clock
        self.options = PoolOptions.from_url(url, what="journey store")
        self.schema = self.options.schema
        self.timeout = self.options.timeout
        self._pool: asyncpg.Pool | None = None
        self._lanes: Lanes | None = None

    async def open(self) -> None:
        pool = await open_pool(self.url, self.options, what="journey store", migrate=self._migrate)
        self._pool = pool
        self._lanes = Lanes(pool, self.options.pool_max, self.timeout)

    async def _migrate(self, conn: PoolConnectionProxy) -> None:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", _lock_id("migrations", self.schema)
            )
            if self.schema:
                try:
                    async with conn.transaction():  # a savepoint
                        await conn.execute(
                            f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}"
                        )
                except asyncpg.UniqueViolationError:
                    pass  # the GMS store of another node, under its own lock, created it meanwhile
            await conn.execute(_MIGRATIONS_TABLE)
            applied = {r[0] for r in await conn.fetch("SELECT version FROM journey_migrations")}
            for migration in migrations_for("journey_postgres"):
                if migration.version not in applied:
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO journey_migrations VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        self.clock.now(),
                    )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        lanes, self._lanes = self._lanes, None
        if pool is None:
            return
        try:
            if lanes is not None:
                await asyncio.wait_for(lanes.close(), self.timeout)
            await asyncio.wait_for(pool.close(), self.timeout)
        except DRIVER_ERRORS:
            pool.terminate()  # a stuck or dead server must not keep shutdown waiting

    async def ping(self) -> None:
        async with self.transaction(write=False) as tx:
            await tx.row("SELECT 1", ())

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[_PostgresTx]:
        """A pooled connection in a transaction; reads see one snapshot (repeatable read), so
        a service and its states never come from two different moments."""
        async with self.autocommit() as tx:
            if write:
                async with tx.conn.transaction():
                    yield tx
            else:
                async with tx.conn.transaction(isolation="repeatable_read", readonly=True):
                    yield tx

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[_PostgresTx]:
        """A pooled connection outside any transaction block: each statement commits alone."""
        lanes = self._lanes
        if lanes is None:
            raise StoreUnavailable("the PostgreSQL journey store is not open")
        try:
            conn = await lanes.take()
            error: BaseException | None = None
            try:
                yield _PostgresTx(conn)
            except BaseException as exc:
                error = exc
                raise
            finally:
                await lanes.give_back(conn, error)
        except DRIVER_ERRORS as exc:
            raise StoreUnavailable(
                f"the journey store at {self.url.redacted()} failed: {exc}"
            ) from exc

    def attached(self, arg: Args, wanted: AttachedEquals) -> str:
        # The candidates as JSON: the value as a string, and as the number or literal it may
        # name. jsonb equality compares numbers numerically (5 = 5.0), as SQLite does.
        candidates = [dumps(value) for value in wanted.values]
        for value in wanted.values:
            if number_literal(value) is not None or value in ("true", "false", "null"):
                candidates.append(value.strip())
        return (
            f"CASE WHEN strpos(s.data, {arg(_NUL_ESCAPE)}::text) = 0 "
            f"THEN (s.data::jsonb -> {arg(wanted.key)}::text) = ANY({arg(candidates)}::jsonb[]) "
            "ELSE false END"
        )

    async def lock_composite(self, tx: Tx, space: Space, entries: list[CompositeEntry]) -> None:
        # One lock per service that an entry finds or creates, taken in one order by everyone:
        # two composite starts for the same customer and type queue instead of both creating,
        # and no two can deadlock. Released at commit.
        ids = {
            _lock_id(
                space.tenant,
                space.group,
                e.service.customer_id,
                e.service.contact_key,
                e.service.type_key,
            )
            for e in entries
        }
        for lock in sorted(ids):
            await tx.run("SELECT pg_advisory_xact_lock($1)", (lock,))


if TYPE_CHECKING:

    def _conforms(store: PostgresJourneyStore) -> JourneyStore:
        return store  # mypy checks here that the class meets the protocol
