"""The fast paths of each backend, and the slow paths they fall back to.

PostgreSQL writes a new area, or an existing one, with its values in one statement, and takes the
two-step path (under the area's row lock) only to take over an expired id or to refuse one; its
pool resets nothing on release. SQLite never checkpoints its WAL on the event loop: a thread of
its own does. Redis runs its scripts by hash over a pipelined connection and reloads them when
the server lost them. The contract tests hold for every path; these tests make sure each path is
taken and behaves.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cxgate.backends.base import AreaKind, Binary
from cxgate.backends.url import open_store
from cxgate.errors import AreaNotFound, ConfigError, Conflict, KeyNotFound, StoreUnavailable
from tests.backends import REQUIRED, FakeClock, Harness, harness, unavailable_reason

STORAGE = AreaKind.STORAGE
SERVICE = AreaKind.SERVICE


def needs(backend: str) -> pytest.MarkDecorator:
    reason = unavailable_reason(backend)
    return pytest.mark.skipif(backend not in REQUIRED and reason is not None, reason=str(reason))


def new_id() -> str:
    return str(uuid.uuid4())


@asynccontextmanager
async def second_node(h: Harness, options: str = "") -> AsyncIterator[Any]:
    """Another store on the same URL (plus `options`) and clock, as another node opens it."""
    url = h.url + (("&" if "?" in h.url else "?") + options if options else "")
    store = open_store(url, clock=h.clock)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


# --- every backend: the paths around the fast ones ---


async def test_create_over_an_expired_id_takes_it_over_without_its_keys(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    old = {"a": "old", "gone": "x", "file": Binary(b"old", "text/plain", "o.txt")}
    await areas.create(area_id, kind=SERVICE, label="old", owner="ann", ttl=2, values=old)
    await backend.advance(3)
    info = await areas.create(
        area_id, kind=SERVICE, label="new", owner=None, ttl=60, values={"a": "new", "b": "2"}
    )
    assert (info.label, info.owner, info.ttl) == ("new", None, 60)
    assert info.expires_at == pytest.approx(backend.clock.now() + 60)
    assert await areas.read_strings(area_id, kind=SERVICE, owner=None) == {"a": "new", "b": "2"}
    for key in ("gone", "file"):
        with pytest.raises(KeyNotFound):
            await areas.read_value(area_id, key, kind=SERVICE, owner=None)


async def test_create_without_values_and_with_both_kinds_of_value(backend: Harness) -> None:
    areas = backend.store.areas
    empty, mixed = new_id(), new_id()
    await areas.create(empty, kind=STORAGE, label="", owner=None, ttl=60, values={})
    assert await areas.read_strings(empty, kind=STORAGE, owner=None) == {}
    pdf = Binary(b"%PDF\x00", "application/pdf", None)
    values = {"s": "", "b": pdf, "u": "\x00ü🔑"}
    await areas.create(mixed, kind=STORAGE, label="", owner="ann", ttl=60, values=values)
    for key, value in values.items():
        assert await areas.read_value(mixed, key, kind=STORAGE, owner="ann") == value
    info = await areas.write(mixed, kind=STORAGE, owner="ann", values={"b": "now a string"})
    assert info.owner == "ann"
    assert await areas.read_strings(mixed, kind=STORAGE, owner="ann") == {
        "s": "",
        "b": "now a string",
        "u": "\x00ü🔑",
    }


async def test_write_restarts_the_ttl_of_the_area_it_returns(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=SERVICE, label="svc", owner=None, ttl=10, values={})
    await backend.advance(4)
    info = await areas.write(area_id, kind=SERVICE, owner="anyone", values={"k": "v"})
    assert (info.label, info.owner, info.ttl) == ("svc", None, 10)
    assert info.expires_at == pytest.approx(backend.clock.now() + 10)
    info = await areas.write(area_id, kind=SERVICE, owner=None, values={}, ttl=99)
    assert info.ttl == 99
    assert info.expires_at == pytest.approx(backend.clock.now() + 99)


async def test_custom_write_by_its_owner_keeps_the_area_and_restarts_its_ttl(
    backend: Harness,
) -> None:
    areas = backend.store.areas
    first = await areas.write("c", kind=STORAGE, owner="ann", values={"a": "1"}, create=True)
    assert (first.label, first.owner, first.ttl) == ("", "ann", 30)  # the default ttl
    await backend.advance(20)
    again = await areas.write("c", kind=STORAGE, owner="ann", values={"b": "2"}, create=True)
    assert again.ttl == 30
    assert again.expires_at == pytest.approx(backend.clock.now() + 30)
    longer = await areas.write(
        "c", kind=STORAGE, owner="ann", values={"a": "3"}, ttl=500, create=True
    )
    assert longer.ttl == 500
    assert await areas.read_strings("c", kind=STORAGE, owner="ann") == {"a": "3", "b": "2"}


async def test_custom_write_over_the_callers_expired_area_starts_afresh(backend: Harness) -> None:
    areas = backend.store.areas
    await areas.write("c", kind=STORAGE, owner="ann", values={"old": "1"}, ttl=2, create=True)
    await backend.advance(3)
    info = await areas.write("c", kind=STORAGE, owner="ann", values={"new": "2"}, create=True)
    assert (info.owner, info.ttl) == ("ann", 30)
    assert await areas.read_strings("c", kind=STORAGE, owner="ann") == {"new": "2"}


async def test_custom_write_over_a_live_foreign_or_anonymous_area_changes_nothing(
    backend: Harness,
) -> None:
    areas = backend.store.areas
    await areas.write("f", kind=STORAGE, owner="ann", values={"a": "1"}, ttl=60, create=True)
    await areas.create("n", kind=STORAGE, label="", owner=None, ttl=60, values={"a": "1"})
    before = {k: await areas.info(k, kind=STORAGE, owner="ann") for k in ("f", "n")}
    await backend.advance(5)
    for area_id in ("f", "n"):
        with pytest.raises(Conflict):
            await areas.write(
                area_id, kind=STORAGE, owner="bob", values={"b": "2"}, ttl=600, create=True
            )
        assert await areas.read_strings(area_id, kind=STORAGE, owner="ann") == {"a": "1"}
        assert await areas.info(area_id, kind=STORAGE, owner="ann") == before[area_id]


async def test_nodes_racing_for_an_expired_custom_id_leave_one_owner_and_no_old_keys(
    backend: Harness,
) -> None:
    await backend.store.areas.write(
        "x", kind=STORAGE, owner="old", values={"stale": "1"}, ttl=2, create=True
    )
    await backend.advance(3)
    async with second_node(backend) as other:
        results = await asyncio.gather(
            *(
                node.areas.write(
                    "x", kind=STORAGE, owner=f"u{i}", values={"k": f"{i}"}, ttl=60, create=True
                )
                for i, node in enumerate((backend.store, other) * 4)
            ),
            return_exceptions=True,
        )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in results if r is not winners[0])
    owner = winners[0].owner
    assert await backend.store.areas.read_strings("x", kind=STORAGE, owner=owner) == {
        "k": owner.removeprefix("u")
    }


async def test_nodes_racing_to_create_one_id_leave_one_area(backend: Harness) -> None:
    area_id = new_id()
    async with second_node(backend) as other:
        results = await asyncio.gather(
            *(
                node.areas.create(
                    area_id, kind=SERVICE, label=f"l{i}", owner=None, ttl=60, values={"k": str(i)}
                )
                for i, node in enumerate((backend.store, other) * 4)
            ),
            return_exceptions=True,
        )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in results if r is not winners[0])
    label = winners[0].label
    assert await backend.store.areas.read_strings(area_id, kind=SERVICE, owner=None) == {
        "k": label.removeprefix("l")
    }


async def test_writes_racing_a_delete_never_resurrect_the_area(backend: Harness) -> None:
    areas = backend.store.areas
    for _ in range(5):
        area_id = new_id()
        await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values={"a": "1"})
        results = await asyncio.gather(
            *(
                areas.write(area_id, kind=STORAGE, owner=None, values={f"k{i}": "v"})
                for i in range(5)
            ),
            areas.delete(area_id, kind=STORAGE, owner=None),
            *(
                areas.write(area_id, kind=STORAGE, owner=None, values={f"m{i}": "v"})
                for i in range(5)
            ),
            return_exceptions=True,
        )
        assert all(
            r is None or not isinstance(r, BaseException) or isinstance(r, AreaNotFound)
            for r in results
        ), results
        with pytest.raises(AreaNotFound):
            await areas.read_strings(area_id, kind=STORAGE, owner=None)


# --- PostgreSQL ---

needs_postgres = needs("postgres")


@needs_postgres
async def test_postgres_common_writes_are_one_statement_and_release_runs_nothing(
    tmp_path: Path,
) -> None:
    """No reset query on release (asyncpg's default sends one after every call), and a create of
    a new id, a write, a custom write and a read are each one statement: one round trip."""
    async with harness("postgres", tmp_path) as h, second_node(h, "pool_min=1&pool_max=1") as one:
        logged: list[str] = []
        async with one.pool.acquire() as conn:
            conn.add_query_logger(lambda record: logged.append(record.query))
        areas = one.areas

        async def calls() -> None:
            area_id = new_id()
            await areas.create(
                area_id, kind=SERVICE, label="s", owner=None, ttl=60, values={"a": "1"}
            )
            await areas.write(area_id, kind=SERVICE, owner=None, values={"b": "2", "c": "3"})
            await areas.write(area_id, kind=STORAGE, owner="ann", values={"a": "1"}, create=True)
            await areas.write(area_id, kind=STORAGE, owner="ann", values={"b": "2"}, create=True)
            assert await areas.read_value(area_id, "b", kind=SERVICE, owner=None) == "2"
            await asyncio.sleep(0.05)  # the logger runs from call_soon

        await calls()  # the first use of a statement prepares it (and asyncpg learns its types)
        logged.clear()
        await calls()
        from cxgate.backends import postgres_sql as sql

        assert logged == [
            sql.CREATE_WITH_VALUES,
            sql.TOUCH_WITH_VALUES,
            sql.CLAIM_OWNED_WITH_VALUES,
            sql.CLAIM_OWNED_WITH_VALUES,
            sql.READ_VALUE,
        ]


@needs_postgres
async def test_postgres_session_state_survives_a_release(tmp_path: Path) -> None:
    """The pool's reset does nothing, so the next call on the connection finds what the last one
    left: which is why no call may leave anything (no SET, LISTEN or session advisory lock)."""
    async with harness("postgres", tmp_path) as h, second_node(h, "pool_min=1&pool_max=1") as one:
        async with one.connection() as conn:
            await conn.execute("SET application_name = 'cxgate-kept'")
        async with one.connection() as conn:
            assert await conn.fetchval("SHOW application_name") == "cxgate-kept"
        # A transaction left open is still rolled back on release (asyncpg does that itself).
        async with one.connection() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMP TABLE t (x int)")
        async with one.connection() as conn:
            assert await conn.fetchval("SELECT to_regclass('pg_temp.t')") is None


@needs_postgres
def test_postgres_calls_take_connections_in_the_order_they_asked(tmp_path: Path) -> None:
    """A call that asks for a connection again right after its last one queues behind the calls
    already waiting. asyncpg's pool alone lets it jump the queue (on uvloop, as cxgate runs):
    a busy node then serves most calls at once and keeps a few waiting for very long."""
    import uvloop

    async def scenario() -> int:
        async with (
            harness("postgres", tmp_path) as h,
            second_node(h, "pool_min=4&pool_max=4") as store,
        ):
            await store.areas.create("a", kind=STORAGE, label="", owner=None, ttl=60, values={})
            done: list[int] = []

            async def caller() -> None:
                for round_ in range(5):
                    await store.areas.info("a", kind=STORAGE, owner=None)
                    done.append(round_)

            await asyncio.gather(*(caller() for _ in range(64)))
            # A call of a later round that ends before one of an earlier round: a few at the
            # boundaries (four connections answer at their own pace), about a hundred when
            # calls jump the queue.
            return sum(1 for a, b in itertools.pairwise(done) if a > b)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        inversions = runner.run(scenario())
    assert inversions <= 32, inversions


# --- SQLite ---


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cxgate-sqlite-checkpoint")]


async def _fill(store: Any, count: int, prefix: str) -> None:
    """About `count` * 10 kB in `count` write transactions, several times SQLite's own checkpoint
    threshold (1000 pages of 4 kB). Between two writes the loop runs other callbacks, as a
    server's does between requests."""
    big = "x" * 10_000
    for i in range(count):
        await store.areas.create(
            f"{prefix}{i}", kind=STORAGE, label="", owner=None, ttl=60, values={"v": big}
        )
        await asyncio.sleep(0)


def _wal_pages(path: Path) -> int:
    """How many pages the WAL holds since it last started over (a PASSIVE checkpoint of its
    own reports that, and changes nothing that matters here)."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        db.close()


async def test_sqlite_the_loop_never_checkpoints_the_thread_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxgate.backends import sqlite as sqlite_store

    # Only an explicit wake-up, so that the test sees who copies the WAL into the database.
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 3600.0)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_AFTER_WRITES", 10**9)
    path = tmp_path / "c.db"
    store = open_store(f"sqlite:///{path}", clock=FakeClock())
    await store.open()
    try:
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        checkpointer = store.checkpointer
        assert checkpointer.running
        size = path.stat().st_size
        await _fill(store, 400, "a")  # 4 MB of WAL
        assert path.stat().st_size == size  # no checkpoint on the loop
        assert Path(f"{path}-wal").stat().st_size > 4_000_000
        checkpointer.wake()
        # Past RESTART_WAL_PAGES: checkpoints, then one with writes held back, and the WAL
        # starts over.
        await _wait(lambda: checkpointer.restarts == 1)
        assert checkpointer.checkpoints >= 2
        assert path.stat().st_size > size + 4_000_000
        assert store.db.execute("SELECT restarts FROM wal_restart").fetchone()[0] == 1
        assert _wal_pages(path) < 10
        assert await store.areas.read_value("a7", "v", kind=STORAGE, owner=None) == "x" * 10_000
        await _fill(store, 10, "b")  # writes go on after the hold
    finally:
        await store.close()
    assert not checkpointer.running
    assert not _checkpoint_threads()


async def test_sqlite_wal_stays_bounded_under_steady_writes(tmp_path: Path) -> None:
    """A checkpoint racing writes never copies the whole WAL, so without the held-back round the
    WAL would never start over and grow without end (here past 40 MB)."""
    async with harness("sqlite", tmp_path) as h:
        await _fill(h.store, 4000, "w")
        assert h.store.checkpointer.restarts >= 2
        wal = Path(f"{h.store.path}-wal").stat().st_size
        assert wal < 20_000_000, wal


async def test_sqlite_held_writes_wait_without_blocking_reads(tmp_path: Path) -> None:
    """While the checkpoint thread holds writes back, a write awaits (the loop runs on), reads
    are served, and the write goes through once released."""
    async with harness("sqlite", tmp_path) as h:
        store, areas = h.store, h.store.areas
        await areas.create("a", kind=STORAGE, label="", owner=None, ttl=60, values={"k": "1"})
        held = threading.Event()
        store._hold_writes(held)  # what the thread asks of the loop
        assert held.is_set()
        write = asyncio.create_task(areas.write("a", kind=STORAGE, owner=None, values={"k": "2"}))
        await asyncio.sleep(0.05)
        assert not write.done()
        assert await areas.read_value("a", "k", kind=STORAGE, owner=None) == "1"
        store._writes_go.set()  # what the thread's release does
        await write
        assert await areas.read_value("a", "k", kind=STORAGE, owner=None) == "2"


async def test_sqlite_checkpoints_after_many_writes_and_stops_on_close(tmp_path: Path) -> None:
    async with harness("sqlite", tmp_path) as h:
        store = h.store
        checkpointer = store.checkpointer
        assert checkpointer.running
        await _fill(store, 300, "b")  # more than CHECKPOINT_AFTER_WRITES commits
        await _wait(lambda: checkpointer.checkpoints >= 1)
        await store.close()
        assert not checkpointer.running
        assert not _checkpoint_threads()
        assert store.checkpointer is None
        # Closing the last connection checkpointed everything and removed the WAL.
        assert not Path(str(store.path) + "-wal").exists()
        await store.open()  # a new thread; the harness closes the store again
        assert store.checkpointer.running
        assert await store.areas.read_value("b9", "v", kind=STORAGE, owner=None) == "x" * 10_000
    assert not _checkpoint_threads()


async def test_sqlite_close_does_not_wait_for_a_loop_that_never_holds_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread asks the loop to hold writes back; the loop, busy closing the store, never
    answers: close() still returns at once, and writes are not left held."""
    from cxgate.backends import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "RESTART_WAL_PAGES", 1)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.01)
    async with harness("sqlite", tmp_path) as h:
        store = h.store
        for round_ in range(20):
            await _fill(store, 3, f"r{round_}-")
            started = asyncio.get_running_loop().time()
            await store.close()  # blocks the loop while the thread may wait for it
            assert asyncio.get_running_loop().time() - started < 0.5
            await store.open()
            assert store._writes_go.is_set()


async def test_sqlite_checkpoints_every_interval_without_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxgate.backends import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.05)
    async with harness("sqlite", tmp_path) as h:
        await _fill(h.store, 5, "c")
        await _wait(lambda: h.store.checkpointer.checkpoints >= 3)


async def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


# --- Redis ---

needs_redis = needs("redis")


class FakeRedis:
    """A TCP server that speaks enough RESP for the Redis store, under the test's control: it
    answers PING, SCRIPT LOAD and GET (with the key itself as the value, so that each reply
    names its command), answers EVALSHA with "no such area", and can stall (answer nothing
    until `resume()`, then everything in order, as a SIGSTOPped Redis after SIGCONT), answer
    late, refuse a script once (NOSCRIPT), or close the connection."""

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.running.set()
        self.delay = 0.0
        self.noscript_once = False
        self.close_on: str | None = None  # a command name
        self.commands: list[list[bytes]] = []
        self.connections = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> FakeRedis:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    def stall(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import hiredis

        self.connections += 1
        self.writers.add(writer)
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    self.commands.append(command)
                    name = command[0].upper().decode()
                    if self.close_on == name:
                        writer.close()
                        return
                    await self.running.wait()
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    writer.write(self._reply(name, command))
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _reply(self, name: str, command: list[bytes]) -> bytes:
        import hashlib

        if name == "PING":
            return b"+PONG\r\n"
        if name == "SCRIPT":
            sha = hashlib.sha1(command[2]).hexdigest().encode()
            return b"$40\r\n" + sha + b"\r\n"
        if name == "GET":
            return b"$%d\r\n%s\r\n" % (len(command[1]), command[1])
        if name == "EVALSHA":
            if self.noscript_once:
                self.noscript_once = False
                return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
            return b"*1\r\n:1\r\n"  # NO_AREA
        return b"-ERR unknown command\r\n"

    def count(self, name: str) -> int:
        return sum(1 for c in self.commands if c[0].upper() == name.encode())


async def _opened(url: str) -> Any:
    store = open_store(url, clock=FakeClock())
    await store.open()
    return store


async def test_redis_replies_reach_their_own_callers_even_after_a_cancel() -> None:
    async with FakeRedis() as fake:
        store = await _opened(fake.url + "?prefix=p")
        try:
            fake.delay = 0.02
            abandoned = asyncio.create_task(store.flags.get("first"))
            await asyncio.sleep(0.005)  # sent, not yet answered
            abandoned.cancel()
            names = [f"n{i}" for i in range(20)]  # fewer than PIPELINE_DEPTH
            got = await asyncio.gather(*(store.flags.get(n) for n in names))
            assert got == [f"p:flag:{n}" for n in names]
            assert fake.connections == 1  # all of it on one pipelined connection
        finally:
            await store.close()


async def test_redis_a_hung_server_is_unavailable_within_the_timeout_then_recovers() -> None:
    async with FakeRedis() as fake:
        store = await _opened(fake.url + "?timeout=0.3")
        try:
            fake.stall()
            loop = asyncio.get_running_loop()
            started = loop.time()
            calls = [store.areas.info(f"a{i}", kind=STORAGE, owner=None) for i in range(10)]
            results = await asyncio.gather(*calls, return_exceptions=True)
            took = loop.time() - started
            assert all(isinstance(r, StoreUnavailable) for r in results), results
            assert "did not answer" in str(results[0])
            assert 0.25 < took < 1.0, took
            fake.resume()
            with pytest.raises(AreaNotFound):  # a new connection, and the reply of the fake
                await store.areas.info("a", kind=STORAGE, owner=None)
            assert fake.connections == 2
        finally:
            await store.close()


async def test_redis_a_late_command_fails_alone_and_the_later_ones_are_answered() -> None:
    """As on a connection of its own: each command fails at its own deadline, not when an
    older one on the same connection does; the connection then takes no new command."""
    async with FakeRedis() as fake:
        store = await _opened(fake.url + "?timeout=0.3&prefix=p")
        try:
            fake.stall()
            first = asyncio.create_task(store.flags.get("first"))
            await asyncio.sleep(0.2)
            second = asyncio.create_task(store.flags.get("second"))
            with pytest.raises(StoreUnavailable, match="did not answer"):
                await first
            assert not second.done()
            fake.resume()  # answers both, in order; the first reply goes nowhere
            assert await second == "p:flag:second"
            assert await store.flags.get("third") == "p:flag:third"
            assert fake.connections == 2  # the third on a new one
        finally:
            await store.close()


async def test_redis_a_connect_that_hangs_is_bounded_by_the_timeout() -> None:
    async with FakeRedis() as fake:
        fake.stall()  # accepts the connection, never answers PING
        store = open_store(fake.url + "?timeout=0.2", clock=FakeClock())
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreUnavailable, match=r"did not answer within 0\.2 s"):
            await store.open()
        assert asyncio.get_running_loop().time() - started < 1.0


async def test_redis_a_dropped_connection_fails_its_calls_and_the_next_call_reconnects() -> None:
    async with FakeRedis() as fake:
        store = await _opened(fake.url)
        try:
            fake.close_on = "EVALSHA"
            with pytest.raises(StoreUnavailable, match="closed the connection"):
                await store.areas.info("a", kind=STORAGE, owner=None)
            fake.close_on = None
            with pytest.raises(AreaNotFound):
                await store.areas.info("a", kind=STORAGE, owner=None)
            assert fake.connections == 2
        finally:
            await store.close()


async def test_redis_noscript_loads_the_script_and_runs_it_once() -> None:
    async with FakeRedis() as fake:
        store = await _opened(fake.url)
        try:
            loads = fake.count("SCRIPT")  # open() loads every script
            fake.noscript_once = True
            with pytest.raises(AreaNotFound):
                await store.areas.info("a", kind=STORAGE, owner=None)
            assert fake.count("SCRIPT") == loads + 1
            assert fake.count("EVALSHA") == 2  # refused, then run
        finally:
            await store.close()


async def test_redis_calls_on_a_closed_store_are_unavailable() -> None:
    async with FakeRedis() as fake:
        store = await _opened(fake.url)
        fake.stall()
        pending = asyncio.create_task(store.flags.get("x"))
        await asyncio.sleep(0.01)
        await store.close()
        with pytest.raises(StoreUnavailable):
            await pending
        with pytest.raises(StoreUnavailable):
            await store.flags.get("x")


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0?socket_timeout=3", "redis://127.0.0.1:6379/0?retry_on_timeout=1"],
)
def test_redis_options_it_does_not_read_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        open_store(url, clock=FakeClock())


@needs_redis
async def test_redis_recovers_from_script_flush(tmp_path: Path) -> None:
    async with harness("redis", tmp_path) as h:
        areas = h.store.areas
        await areas.create("a", kind=STORAGE, label="", owner=None, ttl=60, values={"k": "v"})
        await h.store.client.script_flush()
        # Several calls at once all find the scripts gone; each loads and runs its own.
        got = await asyncio.gather(
            *(areas.read_value("a", "k", kind=STORAGE, owner=None) for _ in range(20)),
            areas.write("a", kind=STORAGE, owner=None, values={"k2": "v2"}),
        )
        assert got[:20] == ["v"] * 20
        assert await areas.read_strings("a", kind=STORAGE, owner=None) == {"k": "v", "k2": "v2"}


@needs_redis
async def test_redis_reconnects_after_the_server_kills_its_connection(tmp_path: Path) -> None:
    async with harness("redis", tmp_path) as h:
        name = "cxt-" + uuid.uuid4().hex[:8]
        async with second_node(h, f"client_name={name}") as store:
            await store.areas.create("a", kind=STORAGE, label="", owner=None, ttl=60, values={})
            killed = await h.store.client.execute_command("CLIENT", "KILL", "USER", "default")
            assert killed >= 1  # ours among them; every client reconnects on its own
            await asyncio.sleep(0.05)
            assert await store.areas.read_strings("a", kind=STORAGE, owner=None) == {}
            clients = await h.store.client.client_list()
            assert [c for c in clients if c["name"] == name]


@needs_redis
async def test_redis_selects_its_db_and_checks_a_password(tmp_path: Path) -> None:
    import redis.asyncio as aioredis

    from tests.backends import REDIS_URL

    async with harness("redis", tmp_path) as h:
        await h.store.flags.set("where", "here")
        db = int(urlsplit(REDIS_URL).path.strip("/") or 0)
        raw = aioredis.from_url(REDIS_URL.rsplit("/", 1)[0] + f"/{db}")
        try:
            assert await raw.get(f"{h.store.prefix}:flag:where") == b"here"
        finally:
            await raw.aclose()
        parts = urlsplit(REDIS_URL)
        wrong = parts._replace(netloc=f":not-the-password@{parts.netloc}").geturl()
        with pytest.raises(StoreUnavailable, match="AUTH"):
            await open_store(wrong, clock=FakeClock()).open()


@needs_redis
def test_redis_store_works_on_uvloop(tmp_path: Path) -> None:
    """cxgate serves on uvloop, whose transports are not asyncio's own classes."""
    import uvloop

    async def scenario() -> None:
        async with harness("redis", tmp_path) as h:
            areas = h.store.areas
            await areas.create("u", kind=STORAGE, label="", owner=None, ttl=60, values={"k": "v"})
            got = await asyncio.gather(
                *(areas.read_value("u", "k", kind=STORAGE, owner=None) for _ in range(100))
            )
            assert got == ["v"] * 100
            await h.store.client.script_flush()
            assert await areas.read_value("u", "k", kind=STORAGE, owner=None) == "v"

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())
