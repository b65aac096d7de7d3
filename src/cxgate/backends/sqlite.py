"""The embedded SQLite store: one file, WAL mode, the default for a single node.

Calls run directly on the event loop thread: each is a few microseconds on an indexed table, far
cheaper than a hop to a worker thread, and a single node has no lock contention worth waiting on.
`synchronous=NORMAL` under WAL keeps every committed transaction through a crash of cxgate itself
(SIGKILL included); only a power loss may drop the last commits. docs/operations.md says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cxgate.backends.base import AreaInfo, AreaKind, Binary, Reservation, Value
from cxgate.backends.migrations import migrations_for
from cxgate.backends.url import BackendURL
from cxgate.clock import Clock
from cxgate.errors import AreaNotFound, Conflict, KeyNotFound, StoreUnavailable

_AREA_COLUMNS = "kind, id, label, owner, ttl, expires_at"


def _visible(owner_of_area: str | None, caller: str | None) -> bool:
    return owner_of_area is None or owner_of_area == caller


def _area(row: Any) -> AreaInfo:
    return AreaInfo(row[1], AreaKind(row[0]), row[2], row[3], row[4], row[5])


class SqliteStore:
    needs_sweeper = True

    def __init__(self, url: BackendURL, *, clock: Clock) -> None:
        self.path = url.sqlite_path
        self.clock = clock
        self.busy_timeout_ms = int(url.options.get("busy_timeout_ms", "5000"))
        self._db: sqlite3.Connection | None = None
        self.areas = SqliteAreaStore(self)
        self.reservations = SqliteReservationStore(self)
        self.flags = SqliteFlagStore(self)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("the SQLite store is not open")
        return self._db

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms:d}")
            self._db = db
            with self.transaction() as cur:
                current = cur.execute("PRAGMA user_version").fetchone()[0]
                for migration in migrations_for("sqlite"):
                    if migration.version > current:
                        for statement in migration.sql.split(";"):
                            if statement.strip():
                                cur.execute(statement)
                        cur.execute(f"PRAGMA user_version={migration.version:d}")
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open the SQLite store at {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> None:
        with self.transaction(write=False) as cur:
            cur.execute("SELECT 1").fetchone()

    async def sweep(self) -> int:
        now = self.clock.now()
        with self.transaction() as cur:
            areas = cur.execute("DELETE FROM areas WHERE expires_at <= ?", (now,)).rowcount
            held = cur.execute("DELETE FROM reservations WHERE expires_at <= ?", (now,)).rowcount
        return int(areas + held)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Cursor]:
        """One transaction; BEGIN IMMEDIATE takes the write lock up front so that a
        read-then-write can never be overtaken by another process."""
        cur = self.db.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the SQLite store failed: {exc}") from exc
        finally:
            cur.close()


class SqliteAreaStore:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def _live(self, cur: sqlite3.Cursor, area_id: str, kind: AreaKind) -> AreaInfo | None:
        row = cur.execute(
            f"SELECT {_AREA_COLUMNS} FROM areas WHERE kind = ? AND id = ? AND expires_at > ?",
            (kind.value, area_id, self.store.clock.now()),
        ).fetchone()
        return None if row is None else _area(row)

    def _visible(
        self, cur: sqlite3.Cursor, area_id: str, kind: AreaKind, owner: str | None
    ) -> AreaInfo:
        info = self._live(cur, area_id, kind)
        if info is None or not _visible(info.owner, owner):
            raise AreaNotFound(f"{kind.value} {area_id} not found")
        return info

    @staticmethod
    def _put_values(
        cur: sqlite3.Cursor, kind: AreaKind, area_id: str, values: Mapping[str, Value]
    ) -> None:
        rows: list[tuple[str, str, str, str | None, bytes | None, str | None, str | None]] = []
        for key, value in values.items():
            if isinstance(value, Binary):
                rows.append(
                    (kind.value, area_id, key, None, value.data, value.content_type, value.filename)
                )
            else:
                rows.append((kind.value, area_id, key, value, None, None, None))
        cur.executemany("INSERT OR REPLACE INTO area_values VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _touch(self, cur: sqlite3.Cursor, info: AreaInfo, ttl: int | None) -> AreaInfo:
        ttl = info.ttl if ttl is None else ttl
        expires_at = self.store.clock.now() + ttl
        cur.execute(
            "UPDATE areas SET ttl = ?, expires_at = ? WHERE kind = ? AND id = ?",
            (ttl, expires_at, info.kind.value, info.area_id),
        )
        return AreaInfo(info.area_id, info.kind, info.label, info.owner, ttl, expires_at)

    def _insert(
        self,
        cur: sqlite3.Cursor,
        area_id: str,
        kind: AreaKind,
        label: str,
        owner: str | None,
        ttl: int,
    ) -> AreaInfo:
        # An expired area under the same id must not lend its old keys to the new one.
        cur.execute("DELETE FROM areas WHERE kind = ? AND id = ?", (kind.value, area_id))
        info = AreaInfo(area_id, kind, label, owner, ttl, self.store.clock.now() + ttl)
        cur.execute(
            f"INSERT INTO areas ({_AREA_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (kind.value, area_id, label, owner, ttl, info.expires_at),
        )
        return info

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
        with self.store.transaction() as cur:
            if self._live(cur, area_id, kind) is not None:
                raise Conflict(f"{kind.value} {area_id} already exists")
            info = self._insert(cur, area_id, kind, label, owner, ttl)
            self._put_values(cur, kind, area_id, values)
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
        with self.store.transaction() as cur:
            info = self._live(cur, area_id, kind)
            if info is None and create:
                info = self._insert(cur, area_id, kind, "", owner, ttl or 30)
            elif (
                info is None or not _visible(info.owner, owner) or (create and info.owner != owner)
            ):
                # A custom id is claimed by its owner only, never by writing over an area that
                # is anonymous or someone else's.
                if info is not None and create:
                    raise Conflict(f"{kind.value} {area_id} belongs to another gms_user")
                raise AreaNotFound(f"{kind.value} {area_id} not found")
            else:
                info = self._touch(cur, info, ttl)
            self._put_values(cur, kind, area_id, values)
        return info

    async def info(self, area_id: str, *, kind: AreaKind, owner: str | None) -> AreaInfo:
        with self.store.transaction(write=False) as cur:
            return self._visible(cur, area_id, kind, owner)

    async def read_strings(
        self, area_id: str, *, kind: AreaKind, owner: str | None
    ) -> dict[str, str]:
        with self.store.transaction(write=False) as cur:
            self._visible(cur, area_id, kind, owner)
            rows = cur.execute(
                "SELECT key, text_value FROM area_values "
                "WHERE kind = ? AND area_id = ? AND text_value IS NOT NULL",
                (kind.value, area_id),
            ).fetchall()
        return dict(rows)

    async def read_value(
        self, area_id: str, key: str, *, kind: AreaKind, owner: str | None
    ) -> Value:
        with self.store.transaction(write=False) as cur:
            self._visible(cur, area_id, kind, owner)
            row = cur.execute(
                "SELECT text_value, data, content_type, filename FROM area_values "
                "WHERE kind = ? AND area_id = ? AND key = ?",
                (kind.value, area_id, key),
            ).fetchone()
        if row is None:
            raise KeyNotFound(f"key {key!r} not found")
        if row[0] is not None:
            return str(row[0])
        return Binary(bytes(row[1]), row[2], row[3])

    async def delete_keys(
        self, area_id: str, keys: list[str] | None, *, kind: AreaKind, owner: str | None
    ) -> None:
        with self.store.transaction() as cur:
            info = self._visible(cur, area_id, kind, owner)
            if keys is None:
                cur.execute(
                    "DELETE FROM area_values WHERE kind = ? AND area_id = ?", (kind.value, area_id)
                )
            else:
                cur.executemany(
                    "DELETE FROM area_values WHERE kind = ? AND area_id = ? AND key = ?",
                    [(kind.value, area_id, key) for key in keys],
                )
            self._touch(cur, info, None)

    async def delete(self, area_id: str, *, kind: AreaKind, owner: str | None) -> None:
        with self.store.transaction() as cur:
            self._visible(cur, area_id, kind, owner)
            cur.execute("DELETE FROM areas WHERE kind = ? AND id = ?", (kind.value, area_id))


class SqliteReservationStore:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def reserve(self, reservation: Reservation) -> bool:
        r = reservation
        with self.store.transaction() as cur:
            # The primary key (number, code) is what makes two reservations of the same pair
            # impossible; an expired holder is overwritten in the same statement.
            cur.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (number, code) DO UPDATE SET service_id = excluded.service_id, "
                "created_at = excluded.created_at, expires_at = excluded.expires_at "
                "WHERE reservations.expires_at <= ?",
                (
                    r.number,
                    r.code or "",
                    r.service_id,
                    r.created_at,
                    r.expires_at,
                    self.store.clock.now(),
                ),
            )
            return cur.rowcount == 1

    async def take(self, number: str, code: str | None) -> Reservation | None:
        now = self.store.clock.now()
        with self.store.transaction() as cur:
            if code is None:
                row = cur.execute(
                    "SELECT number, code, service_id, created_at, expires_at FROM reservations "
                    "WHERE number = ? AND expires_at > ? ORDER BY created_at DESC LIMIT 1",
                    (number, now),
                ).fetchone()
            else:
                row = cur.execute(
                    "SELECT number, code, service_id, created_at, expires_at FROM reservations "
                    "WHERE number = ? AND code = ? AND expires_at > ?",
                    (number, code, now),
                ).fetchone()
            if row is None:
                return None
            cur.execute("DELETE FROM reservations WHERE number = ? AND code = ?", (row[0], row[1]))
        return Reservation(row[0], row[1] or None, row[2], row[3], row[4])

    async def release_service(self, service_id: str) -> None:
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM reservations WHERE service_id = ?", (service_id,))


class SqliteFlagStore:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def get(self, name: str) -> str | None:
        with self.store.transaction(write=False) as cur:
            row = cur.execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    async def set(self, name: str, value: str) -> None:
        with self.store.transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO flags (name, value) VALUES (?, ?)", (name, value))
