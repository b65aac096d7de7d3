"""The PostgreSQL store: several cxgate nodes share one database.

Atomicity across nodes comes from the database, never from a Python lock (which would guard one
process only): primary keys, `INSERT ... ON CONFLICT`, the row locks that `UPDATE`, `DELETE` and
`ON CONFLICT` take, and `FOR UPDATE SKIP LOCKED`. Times are epoch seconds from the injected clock,
passed as parameters rather than SQL `now()`, so that expiry follows the same clock everywhere.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cxgate.backends import postgres_sql as sql
from cxgate.backends.base import AreaInfo, AreaKind, Binary, Reservation, Value, too_many_keys
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
from cxgate.errors import AreaNotFound, Conflict, KeyNotFound, StoreUnavailable

_T = TypeVar("_T")


def _migration_lock(schema: str) -> int:
    """The advisory lock id for one schema: the same on every node, distinct across schemas."""
    digest = hashlib.sha256(f"cxgate.migrations:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _value_arrays(values: Mapping[str, Value]) -> tuple[list[Any], ...]:
    """The values as the six arrays of `sql.PUT_VALUES` and the `*_WITH_VALUES` statements: key
    hashes, keys, string values, binary data, content types, file names (one element per key).
    Strings travel as UTF-8 bytes: PostgreSQL's text cannot hold U+0000."""
    hashes: list[bytes] = []
    keys: list[bytes] = []
    texts: list[bytes | None] = []
    datas: list[bytes | None] = []
    types: list[str | None] = []
    names: list[str | None] = []
    for key, value in values.items():
        raw_key = key.encode()
        hashes.append(hashlib.sha256(raw_key).digest())
        keys.append(raw_key)
        if isinstance(value, Binary):
            texts.append(None)
            datas.append(value.data)
            types.append(value.content_type)
            names.append(value.filename)
        else:
            texts.append(value.encode())
            datas.append(None)
            types.append(None)
            names.append(None)
    return hashes, keys, texts, datas, types, names


def _area(row: Any) -> AreaInfo:
    return AreaInfo(
        row["id"], AreaKind(row["kind"]), row["label"], row["owner"], row["ttl"], row["expires_at"]
    )


def _reservation(row: Any) -> Reservation:
    return Reservation(
        row["number"], row["code"] or None, row["service_id"], row["created_at"], row["expires_at"]
    )


class PostgresStore:
    needs_sweeper = True

    def __init__(self, url: BackendURL, *, clock: Clock, max_area_keys: int | None = None) -> None:
        self.url = url
        self.clock = clock
        self.max_area_keys = max_area_keys
        self.options = PoolOptions.from_url(url, what="store")
        self.schema = self.options.schema
        self.pool_max = self.options.pool_max
        self.timeout = self.options.timeout
        self._pool: asyncpg.Pool | None = None
        # Turns for the pool's connections, first come first served (see `connection`).
        self._turns = asyncio.Semaphore(self.pool_max)
        self._late = f"the PostgreSQL store at {url.redacted()} did not answer within "
        self._late += f"{self.timeout:g} s"
        self.areas = PostgresAreaStore(self)
        self.reservations = PostgresReservationStore(self)
        self.flags = PostgresFlagStore(self)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        return self._pool

    async def open(self) -> None:
        pool = await open_pool(
            self.url, self.options, what="PostgreSQL store", migrate=self._migrate
        )
        self._pool = pool
        self._turns = asyncio.Semaphore(self.pool_max)  # of this event loop

    async def _migrate(self, conn: PoolConnectionProxy) -> None:
        # One transaction under an advisory lock: nodes starting together queue here, and each
        # finds the versions the previous one applied, so every migration runs exactly once.
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", _migration_lock(self.schema or "")
            )
            # Only when absent: CREATE SCHEMA needs a privilege that a user given the schema
            # may lack, even with IF NOT EXISTS.
            if self.schema and not await conn.fetchval(sql.SCHEMA_EXISTS, self.schema):
                await conn.execute(f"CREATE SCHEMA {quote_ident(self.schema)}")
            await conn.execute(sql.MIGRATIONS_TABLE)
            applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in migrations_for("postgres"):
                if migration.version not in applied:
                    await conn.execute(migration.sql)
                    await conn.execute(sql.RECORD_MIGRATION, migration.version, migration.name)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self.timeout)
        except DRIVER_ERRORS:
            pool.terminate()  # a stuck or dead server must not keep shutdown waiting

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.fetchval("SELECT 1")

    async def sweep(self) -> int:
        now = self.clock.now()
        async with self.transaction() as conn:
            areas = await conn.execute("DELETE FROM areas WHERE expires_at <= $1", now)
            held = await conn.execute("DELETE FROM reservations WHERE expires_at <= $1", now)
        return row_count(areas) + row_count(held)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PoolConnectionProxy]:
        """A pooled connection for one store call, which `timeout` bounds as a whole.

        asyncpg bounds each step on its own (the acquire, each query, the rollback after a
        failure), so a server that stops answering would hold one call for several timeouts. At
        the deadline the connection is terminated instead: whatever awaits it fails at once and
        the pool opens a fresh one later. Driver errors leave as `StoreUnavailable`, cxgate's own
        as they are.
        """
        pool, turns, late = self.pool, self._turns, self._late
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        # Calls take the connections in the order they asked: asyncpg's pool lets a newcomer
        # take a connection released for a caller already waiting, who then queues again, which
        # makes the slowest calls of a busy node very slow.
        if turns.locked():
            try:
                async with asyncio.timeout_at(deadline):
                    await turns.acquire()
            except TimeoutError:
                raise StoreUnavailable(late + " (no connection came free)") from None
        else:
            await turns.acquire()  # at once
        expired = False
        try:
            async with pool.acquire(timeout=self.timeout) as conn:

                def expire() -> None:
                    nonlocal expired
                    expired = True
                    conn.terminate()

                killer = loop.call_at(deadline, expire)
                try:
                    yield conn
                except (asyncio.CancelledError, TimeoutError):
                    conn.terminate()  # a query abandoned mid-flight: do not wait for its cancel
                    raise
                finally:
                    killer.cancel()
        except DRIVER_ERRORS as exc:
            if expired:
                raise StoreUnavailable(late) from exc
            raise StoreUnavailable(
                f"the PostgreSQL store at {self.url.redacted()} failed: {exc}"
            ) from exc
        finally:
            turns.release()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PoolConnectionProxy]:
        async with self.connection() as conn, conn.transaction():
            yield conn


class PostgresAreaStore:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def _where(self, area_id: str, kind: AreaKind, owner: str | None) -> tuple[Any, ...]:
        """The parameters of `sql.VISIBLE`."""
        return (kind.value, area_id, self.store.clock.now(), owner)

    async def _put(
        self, conn: PoolConnectionProxy, statement: str, kind: AreaKind, area_id: str, *args: Any
    ) -> Any:
        """Run a statement that adds values (its last parameter: the key limit); past the
        limit the count's CHECK fails the whole statement, and `TooManyKeys` says why."""
        limit = self.store.max_area_keys
        try:
            return await conn.fetchrow(statement, *args, limit)
        except asyncpg.CheckViolationError as exc:
            if exc.constraint_name != sql.KEY_LIMIT_CONSTRAINT or limit is None:
                raise
            raise too_many_keys(kind, area_id, limit) from None

    @staticmethod
    async def _claim(conn: PoolConnectionProxy, new: AreaInfo, now: float) -> AreaInfo | None:
        """Create `new` unless a live area holds the id (then None, with that row locked)."""
        row = await conn.fetchrow(
            sql.CLAIM,
            new.kind.value,
            new.area_id,
            new.label,
            new.owner,
            new.ttl,
            new.expires_at,
            now,
        )
        if row is None:
            return None
        # An expired area under the same id must not lend its old keys to the new one. A
        # statement of its own (READ COMMITTED: a fresh snapshot, taken after CLAIM locked the
        # row), so that it also sees values committed while CLAIM waited for that lock.
        await conn.execute(sql.CLEAR_VALUES, new.kind.value, new.area_id)
        return _area(row)

    async def create(
        self,
        area_id: str,
        *,
        kind: AreaKind,
        label: str,
        owner: str | None,
        ttl: int,
        values: Mapping[str, Value],
    ) -> AreaInfo:
        now = self.store.clock.now()
        new = AreaInfo(area_id, kind, label, owner, ttl, now + ttl)
        arrays = _value_arrays(values)
        async with self.store.connection() as conn:
            # A new id (ids are fresh UUIDs): one statement, one round trip.
            row = await self._put(
                conn,
                sql.CREATE_WITH_VALUES,
                kind,
                area_id,
                kind.value,
                area_id,
                label,
                owner,
                ttl,
                new.expires_at,
                *arrays,
            )
            if row is not None:
                return _area(row)
            # The id is taken: Conflict, unless the area under it expired and may be taken over.
            async with conn.transaction():
                info = await self._claim(conn, new, now)
                if info is None:
                    raise Conflict(f"{kind.value} {area_id} already exists")
                await self._put(conn, sql.PUT_VALUES, kind, area_id, kind.value, area_id, *arrays)
        return info

    async def write(
        self,
        area_id: str,
        *,
        kind: AreaKind,
        owner: str | None,
        values: Mapping[str, Value],
        ttl: int | None = None,
        create: bool = False,
    ) -> AreaInfo:
        now = self.store.clock.now()
        arrays = _value_arrays(values)
        async with self.store.connection() as conn:
            if not create:
                row = await self._put(
                    conn,
                    sql.TOUCH_WITH_VALUES,
                    kind,
                    area_id,
                    kind.value,
                    area_id,
                    now,
                    owner,
                    ttl,
                    *arrays,
                )
                if row is None:
                    raise AreaNotFound(f"{kind.value} {area_id} not found")
                return _area(row)
            # A custom id: a new one, or a live area of the caller's, in one statement.
            new_ttl = ttl or 30
            row = await self._put(
                conn,
                sql.CLAIM_OWNED_WITH_VALUES,
                kind,
                area_id,
                kind.value,
                area_id,
                now,
                owner,
                ttl,
                new_ttl,
                *arrays,
            )
            if row is not None:
                return _area(row)
            # Expired (taken over), someone else's (Conflict), or changed since: decided under
            # the row lock that CLAIM takes either way.
            async with conn.transaction():
                new = AreaInfo(area_id, kind, "", owner, new_ttl, now + new_ttl)
                info = await self._claim(conn, new, now)
                if info is None:
                    row = await conn.fetchrow(sql.TOUCH_OWNED, kind.value, area_id, now, owner, ttl)
                    if row is None:
                        raise Conflict(f"{kind.value} {area_id} belongs to another gms_user")
                    info = _area(row)
                await self._put(conn, sql.PUT_VALUES, kind, area_id, kind.value, area_id, *arrays)
        return info

    async def info(self, area_id: str, *, kind: AreaKind, owner: str | None) -> AreaInfo:
        async with self.store.connection() as conn:
            row = await conn.fetchrow(sql.INFO, *self._where(area_id, kind, owner))
        if row is None:
            raise AreaNotFound(f"{kind.value} {area_id} not found")
        return _area(row)

    async def read_strings(
        self, area_id: str, *, kind: AreaKind, owner: str | None
    ) -> dict[str, str]:
        async with self.store.connection() as conn:
            rows = await conn.fetch(sql.READ_STRINGS, *self._where(area_id, kind, owner))
        if not rows:
            raise AreaNotFound(f"{kind.value} {area_id} not found")
        return {bytes(k).decode(): bytes(v).decode() for k, v in rows if k is not None}

    async def read_value(
        self, area_id: str, key: str, *, kind: AreaKind, owner: str | None
    ) -> Value:
        async with self.store.connection() as conn:
            row = await conn.fetchrow(
                sql.READ_VALUE, *self._where(area_id, kind, owner), _key_hash(key)
            )
        if row is None:
            raise AreaNotFound(f"{kind.value} {area_id} not found")
        found, text, data, content_type, filename = row
        if not found:
            raise KeyNotFound(f"key {key!r} not found")
        if text is not None:
            return bytes(text).decode()
        return Binary(bytes(data), content_type, filename)

    async def delete_keys(
        self, area_id: str, keys: list[str] | None, *, kind: AreaKind, owner: str | None
    ) -> None:
        async with self.store.transaction() as conn:
            # The touch comes first: it checks visibility and locks the area row.
            if await conn.fetchrow(sql.TOUCH, *self._where(area_id, kind, owner), None) is None:
                raise AreaNotFound(f"{kind.value} {area_id} not found")
            if keys is None:
                await conn.execute(sql.CLEAR_VALUES, kind.value, area_id)
            else:
                await conn.execute(
                    sql.DELETE_VALUES, kind.value, area_id, [_key_hash(key) for key in keys]
                )

    async def delete(self, area_id: str, *, kind: AreaKind, owner: str | None) -> None:
        async with self.store.connection() as conn:
            row = await conn.fetchrow(sql.DELETE_AREA, *self._where(area_id, kind, owner))
        if row is None:
            raise AreaNotFound(f"{kind.value} {area_id} not found")


class PostgresReservationStore:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def reserve(self, reservation: Reservation) -> bool:
        r = reservation
        now = self.store.clock.now()
        async with self.store.connection() as conn:
            row = await conn.fetchrow(
                sql.RESERVE, r.number, r.code or "", r.service_id, r.created_at, r.expires_at, now
            )
        return row is not None

    async def take(self, number: str, code: str | None) -> Reservation | None:
        now = self.store.clock.now()
        async with self.store.connection() as conn:
            if code is None:
                row = await conn.fetchrow(sql.TAKE_NEWEST, number, now)
            else:
                row = await conn.fetchrow(sql.TAKE_CODE, number, code, now)
        return None if row is None else _reservation(row)

    async def release_service(self, service_id: str) -> None:
        async with self.store.connection() as conn:
            await conn.execute("DELETE FROM reservations WHERE service_id = $1", service_id)


class PostgresFlagStore:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def get(self, name: str) -> str | None:
        async with self.store.connection() as conn:
            value: str | None = await conn.fetchval(sql.GET_FLAG, name)
        return value

    async def set(self, name: str, value: str) -> None:
        async with self.store.connection() as conn:
            await conn.execute(sql.SET_FLAG, name, value)
