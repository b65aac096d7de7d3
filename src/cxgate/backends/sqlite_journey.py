"""The Context Services store on SQLite: its own connection to the file (WAL), its own tables and
migrations (recorded in `journey_migrations`: `PRAGMA user_version` belongs to the GMS store,
which may share the file).

Like the GMS store, calls run on the event loop thread. `_SqliteTx` only looks asynchronous: its
methods never suspend, so a whole transaction runs without yielding to the loop and two
requests can never interleave on the one connection. BEGIN IMMEDIATE takes the write lock up
front, so a read-then-write (a composite find-or-create) is never overtaken, even by another
process on the same file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from cxgate.backends.migrations import migrations_for
from cxgate.backends.url import BackendURL
from cxgate.clock import Clock
from cxgate.errors import StoreUnavailable
from cxgate.journey.filters import number_literal
from cxgate.journey.models import AttachedEquals
from cxgate.journey.rows import Row
from cxgate.journey.sql import Args
from cxgate.journey.sql_store import SqlJourneyStore
from cxgate.journey.store import JourneyStore

_MIGRATIONS_TABLE = """
    CREATE TABLE IF NOT EXISTS journey_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"""


class _SqliteTx:
    def __init__(self, cur: sqlite3.Cursor) -> None:
        self.cur = cur

    async def rows(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return self.cur.execute(sql, args).fetchall()

    async def row(self, sql: str, args: Sequence[Any]) -> Row | None:
        found: Row | None = self.cur.execute(sql, args).fetchone()
        return found

    async def run(self, sql: str, args: Sequence[Any]) -> int:
        return int(self.cur.execute(sql, args).rowcount)


class SqliteJourneyStore(SqlJourneyStore):
    def __init__(self, url: BackendURL, *, clock: Clock) -> None:
        self.path = url.sqlite_path
        self.clock = clock
        self.busy_timeout_ms = int(url.options.get("busy_timeout_ms", "5000"))
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db = db
            db.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms:d}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")  # states and tasks go with their service
            async with self.transaction() as tx:
                await tx.run(_MIGRATIONS_TABLE, ())
                applied = {
                    r[0] for r in await tx.rows("SELECT version FROM journey_migrations", ())
                }
                for migration in migrations_for("journey_sqlite"):
                    if migration.version in applied:
                        continue
                    for statement in migration.sql.split(";"):
                        if statement.strip():
                            await tx.run(statement, ())
                    await tx.run(
                        "INSERT INTO journey_migrations VALUES (?, ?, ?)",
                        (migration.version, migration.name, self.clock.now()),
                    )
        except (sqlite3.Error, OSError, StoreUnavailable) as exc:
            await self.close()
            raise StoreUnavailable(f"cannot open the journey store at {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> None:
        async with self.transaction(write=False) as tx:
            await tx.row("SELECT 1", ())

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[_SqliteTx]:
        if self._db is None:
            raise StoreUnavailable("the SQLite journey store is not open")
        cur = self._db.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _SqliteTx(cur)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the SQLite journey store failed: {exc}") from exc
        finally:
            cur.close()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[_SqliteTx]:
        """The connection outside BEGIN: each statement is its own transaction."""
        if self._db is None:
            raise StoreUnavailable("the SQLite journey store is not open")
        cur = self._db.cursor()
        try:
            yield _SqliteTx(cur)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the SQLite journey store failed: {exc}") from exc
        finally:
            cur.close()

    def attached(self, arg: Args, wanted: AttachedEquals) -> str:
        # json_each walks the top-level keys of the attached data: any key, with no JSON path
        # to quote, and the value typed (text / integer / real / true / false / null).
        matches = []
        key = arg(wanted.key)
        for value in wanted.values:
            matches.append(f"(j.type = 'text' AND j.value = {arg(value)})")
            number = number_literal(value)
            if number is not None:
                matches.append(f"(j.type IN ('integer', 'real') AND j.value = {arg(number)})")
            if value in ("true", "false", "null"):
                matches.append(f"j.type = {arg(value)}")
        return (
            "EXISTS (SELECT 1 FROM json_each(s.data) AS j "
            f"WHERE j.key = {key} AND ({' OR '.join(matches)}))"
        )


if TYPE_CHECKING:

    def _conforms(store: SqliteJourneyStore) -> JourneyStore:
        return store  # mypy checks here that the class meets the protocol
