"""The embedded SQLite store: one file, WAL mode, the default for a single node.

Calls run directly on the event loop thread: each is a few microseconds on an indexed table, far
cheaper than a hop to a worker thread, and a single node has no lock contention worth waiting on.
`synchronous=NORMAL` under WAL keeps every committed transaction through a crash of cxgate itself
(SIGKILL included); only a power loss may drop the last commits. docs/operations.md says so.

The one slow step of WAL mode is the checkpoint, which copies the WAL into the database file and
fsyncs both: SQLite runs it inside the commit that takes the WAL past 1000 pages, which would
stall the event loop (every request, not only that write) for as long as the disk takes. So the
loop's connection never checkpoints (`wal_autocheckpoint=0`); a thread does, on a connection of
its own (`_Checkpointer`), and the event loop never waits for an fsync. Durability is unchanged:
a commit is in the WAL file before it is acknowledged, whoever checkpoints it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cxgate.backends.base import AreaInfo, AreaKind, Binary, Reservation, Value, too_many_keys
from cxgate.backends.migrations import migrations_for
from cxgate.backends.url import BackendURL
from cxgate.clock import Clock
from cxgate.errors import AreaNotFound, Conflict, KeyNotFound, StoreUnavailable

_AREA_COLUMNS = "kind, id, label, owner, ttl, expires_at"
_log = logging.getLogger(__name__)
# The checkpoint thread wakes this often, and sooner after this many write transactions (a few
# WAL pages each).
CHECKPOINT_INTERVAL = 1.0
CHECKPOINT_AFTER_WRITES = 100
# A WAL that has grown this many pages (4 kB each) without starting over gets a round with writes
# held back, which lets it start over. SQLite's own threshold: the WAL keeps the size it had, and
# the Context Services connection to the same file, which checkpoints by itself past it, seldom
# finds it that long.
RESTART_WAL_PAGES = 1000
# How long the thread waits for the event loop to hold writes back before it gives up this round.
_HOLD_WAIT = 1.0


class _Checkpointer:
    """Checkpoints the WAL from a thread of its own, on a connection of its own.

    `PRAGMA wal_checkpoint(PASSIVE)` copies the WAL pages into the database file and fsyncs it,
    without waiting for a lock and without making the store's connection wait: reads and writes
    go on meanwhile (the thread releases the GIL while SQLite works). It wakes every
    `CHECKPOINT_INTERVAL` seconds, or sooner when `wrote()` counted `CHECKPOINT_AFTER_WRITES`
    commits.

    The WAL file starts over from its beginning only once a checkpoint has copied all of it,
    which a checkpoint racing steady writes never manages: each one ends with the pages written
    while it ran, and the file would grow without end. So when the WAL reaches
    `RESTART_WAL_PAGES` the thread asks the event loop to hold new write transactions back
    (`hold`: they wait, asynchronously; reads and everything else go on), checkpoints the pages
    written since its last round, makes the first write after it (which starts the WAL over and
    fsyncs its new header: better here than in a request's commit, on the loop), and lets the
    writes go (`release`). With other processes writing to the file (several workers), that
    round may find new pages again, and the WAL then starts over at a later one.
    """

    def __init__(
        self,
        path: Path,
        busy_timeout_ms: int,
        loop: asyncio.AbstractEventLoop,
        hold: Callable[[threading.Event], None],
        release: Callable[[], None],
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.checkpoints = 0  # completed ones, restarts included
        self.restarts = 0  # checkpoints with writes held back
        self._loop = loop
        self._hold = hold
        self._release = release
        self._writes = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False
        self._held: threading.Event | None = None  # set when the loop holds writes back
        self._thread = threading.Thread(
            target=self._run, name=f"cxgate-sqlite-checkpoint:{path.name}", daemon=True
        )

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def wrote(self) -> None:
        """Count one write transaction (on the event loop: an increment, mostly)."""
        self._writes += 1
        if self._writes >= CHECKPOINT_AFTER_WRITES:
            self._writes = 0
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """End the thread; it finishes a checkpoint under way, but waits for nothing else."""
        with self._lock:
            self._stopping = True
            if self._held is not None:
                self._held.set()  # the thread then checks _stopping
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            _log.warning("SQLite store %s: no checkpoint connection: %s", self.path, exc)
            return
        try:
            db.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms:d}")
            db.execute("PRAGMA synchronous=NORMAL")  # the same syncs as the store's connection
            while True:
                self._wake.wait(CHECKPOINT_INTERVAL)
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    self._checkpoint(db)
                except sqlite3.Error as exc:  # the next round tries again
                    _log.warning("SQLite store %s: WAL checkpoint failed: %s", self.path, exc)
        finally:
            db.close()

    def _passive(self, db: sqlite3.Connection) -> tuple[int, int]:
        """One PASSIVE checkpoint: the WAL's length in pages, and how many are in the database."""
        _, pages, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        return int(pages), int(copied)

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        pages, _ = self._passive(db)
        if pages < RESTART_WAL_PAGES:
            return
        # The round with writes held back only has the pages written during this one to copy.
        with self._lock:
            if self._stopping:
                return
            self._held = held = threading.Event()
        try:
            self._loop.call_soon_threadsafe(self._hold, held)
        except RuntimeError:  # the loop is closed
            self._held = None
            return
        try:
            # Once the loop holds writes, none is under way: the loop runs each transaction
            # whole, without awaiting in between.
            if held.wait(_HOLD_WAIT) and not self._stopping:
                pages, copied = self._passive(db)
                if pages == copied:
                    # The first write after a complete checkpoint starts the WAL over (unless a
                    # reader still uses it) and syncs the new header.
                    db.execute("UPDATE wal_restart SET restarts = restarts + 1")
                    self.restarts += 1
        finally:
            self._held = None
            # Scheduled after the hold, so it runs after it, even if the loop was late.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._release)


# A live area the caller may see: kind, id, now, the caller's gms_user.
_VISIBLE = "a.kind = ? AND a.id = ? AND a.expires_at > ? AND (a.owner IS NULL OR a.owner = ?)"
_READ_STRINGS = f"""
    SELECT v.key, v.text_value FROM areas AS a LEFT JOIN area_values AS v
        ON v.kind = a.kind AND v.area_id = a.id AND v.text_value IS NOT NULL
    WHERE {_VISIBLE}"""
# The key comes first: it sits in the join, before the area's parameters.
_READ_VALUE = f"""
    SELECT v.key IS NOT NULL, v.text_value, v.data, v.content_type, v.filename
    FROM areas AS a LEFT JOIN area_values AS v
        ON v.kind = a.kind AND v.area_id = a.id AND v.key = ?
    WHERE {_VISIBLE}"""


def _visible(owner_of_area: str | None, caller: str | None) -> bool:
    return owner_of_area is None or owner_of_area == caller


def _area(row: Any) -> AreaInfo:
    return AreaInfo(row[1], AreaKind(row[0]), row[2], row[3], row[4], row[5])


class SqliteStore:
    needs_sweeper = True

    def __init__(self, url: BackendURL, *, clock: Clock, max_area_keys: int | None = None) -> None:
        self.path = url.sqlite_path
        self.clock = clock
        self.max_area_keys = max_area_keys
        self.busy_timeout_ms = int(url.options.get("busy_timeout_ms", "5000"))
        self._db: sqlite3.Connection | None = None
        self.checkpointer: _Checkpointer | None = None
        # Cleared while the checkpoint thread holds write transactions back.
        self._writes_go = asyncio.Event()
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
            db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread's work
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
            if self._db is not None:
                self._db.close()
                self._db = None
            raise StoreUnavailable(f"cannot open the SQLite store at {self.path}: {exc}") from exc
        self._writes_go = asyncio.Event()  # of this loop
        self._writes_go.set()
        self.checkpointer = _Checkpointer(
            self.path,
            self.busy_timeout_ms,
            asyncio.get_running_loop(),
            self._hold_writes,
            self._writes_go.set,
        )
        self.checkpointer.start()

    def _hold_writes(self, held: threading.Event) -> None:
        self._writes_go.clear()
        held.set()

    async def writable(self) -> None:
        """Return when a write transaction may start: at once, unless the checkpoint thread
        holds writes back for the moment it needs to let the WAL start over."""
        if not self._writes_go.is_set():
            await self._writes_go.wait()

    async def close(self) -> None:
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            # Before the store's connection: the last connection to close checkpoints the whole
            # WAL and removes it, which only the store's can then be.
            checkpointer.stop(timeout=self.busy_timeout_ms / 1000 + 5)
            self._writes_go.set()  # a hold the thread could not release
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> None:
        with self.transaction(write=False) as cur:
            cur.execute("SELECT 1").fetchone()

    async def sweep(self) -> int:
        await self.writable()
        now = self.clock.now()
        with self.transaction() as cur:
            areas = cur.execute("DELETE FROM areas WHERE expires_at <= ?", (now,)).rowcount
            held = cur.execute("DELETE FROM reservations WHERE expires_at <= ?", (now,)).rowcount
        return int(areas + held)

    def read(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        """One read statement, outside any explicit transaction: a single statement is its own
        consistent snapshot, and BEGIN and COMMIT would be two more statements to run."""
        try:
            return self.db.execute(statement, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the SQLite store failed: {exc}") from exc

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
            if write and self.checkpointer is not None:
                self.checkpointer.wrote()
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

    def _check_key_count(self, cur: sqlite3.Cursor, kind: AreaKind, area_id: str) -> None:
        """After a write, inside its transaction: past the limit, `TooManyKeys` rolls it back.
        The transaction holds the database's write lock, so the count is exact."""
        limit = self.store.max_area_keys
        if limit is None:
            return
        keys = cur.execute(
            "SELECT count(*) FROM area_values WHERE kind = ? AND area_id = ?",
            (kind.value, area_id),
        ).fetchone()[0]
        if keys > limit:
            raise too_many_keys(kind, area_id, limit)

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
        self._insert_new(cur, info)
        return info

    @staticmethod
    def _insert_new(cur: sqlite3.Cursor, info: AreaInfo) -> bool:
        """Insert the area's row unless its id is taken (then False, changing nothing)."""
        cur.execute(
            f"INSERT INTO areas ({_AREA_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO NOTHING",
            (info.kind.value, info.area_id, info.label, info.owner, info.ttl, info.expires_at),
        )
        return bool(cur.rowcount == 1)

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
        await self.store.writable()
        with self.store.transaction() as cur:
            # Ids are fresh UUIDs: one INSERT does it. Only a taken id (live: Conflict; expired:
            # taken over without its keys) needs the lookup.
            info = AreaInfo(area_id, kind, label, owner, ttl, self.store.clock.now() + ttl)
            if not self._insert_new(cur, info):
                if self._live(cur, area_id, kind) is not None:
                    raise Conflict(f"{kind.value} {area_id} already exists")
                info = self._insert(cur, area_id, kind, label, owner, ttl)
            limit = self.store.max_area_keys
            if limit is not None and len(values) > limit:  # a new area holds just these keys
                raise too_many_keys(kind, area_id, limit)
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
        await self.store.writable()
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
            self._check_key_count(cur, kind, area_id)
        return info

    async def info(self, area_id: str, *, kind: AreaKind, owner: str | None) -> AreaInfo:
        with self.store.transaction(write=False) as cur:
            return self._visible(cur, area_id, kind, owner)

    def _where(self, area_id: str, kind: AreaKind, owner: str | None) -> tuple[Any, ...]:
        """The parameters of `_VISIBLE`."""
        return (kind.value, area_id, self.store.clock.now(), owner)

    async def read_strings(
        self, area_id: str, *, kind: AreaKind, owner: str | None
    ) -> dict[str, str]:
        # The area check and its keys in one statement (one snapshot: they cannot disagree).
        rows = self.store.read(_READ_STRINGS, self._where(area_id, kind, owner))
        if not rows:
            raise AreaNotFound(f"{kind.value} {area_id} not found")
        return {key: text for key, text in rows if key is not None}

    async def read_value(
        self, area_id: str, key: str, *, kind: AreaKind, owner: str | None
    ) -> Value:
        rows = self.store.read(_READ_VALUE, (key, *self._where(area_id, kind, owner)))
        if not rows:
            raise AreaNotFound(f"{kind.value} {area_id} not found")
        found, text, data, content_type, filename = rows[0]
        if not found:
            raise KeyNotFound(f"key {key!r} not found")
        if text is not None:
            return str(text)
        return Binary(bytes(data), content_type, filename)

    async def delete_keys(
        self, area_id: str, keys: list[str] | None, *, kind: AreaKind, owner: str | None
    ) -> None:
        await self.store.writable()
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
        await self.store.writable()
        with self.store.transaction() as cur:
            self._visible(cur, area_id, kind, owner)
            cur.execute("DELETE FROM areas WHERE kind = ? AND id = ?", (kind.value, area_id))


class SqliteReservationStore:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def reserve(self, reservation: Reservation) -> bool:
        r = reservation
        await self.store.writable()
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
        await self.store.writable()
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
        await self.store.writable()
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
        await self.store.writable()
        with self.store.transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO flags (name, value) VALUES (?, ?)", (name, value))
