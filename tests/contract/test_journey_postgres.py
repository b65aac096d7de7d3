"""What only the PostgreSQL journey store has: one-statement writes (journey/pg_writes.py), which
must see what another writer committed while they waited for the service row, and the
connection lanes (journey/pg_lanes.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from cxgate.errors import NotFound
from cxgate.journey.models import ItemFilter, Kind, Status
from cxgate.journey.pg_lanes import Lanes
from tests.backends import PG_URL, REQUIRED, Harness, journey_harness, unavailable_reason
from tests.conftest import backend_param
from tests.contract.test_journey_store import HERE, ending, item, start, touch

HELD = 0.2  # seconds another writer keeps the service row locked


@pytest.fixture(params=[backend_param("postgres")])
async def pg(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with journey_harness(request.param, tmp_path) as h:
        yield h


async def test_an_end_waiting_for_the_service_sees_the_item_started_meanwhile(pg: Harness) -> None:
    h, store = pg, pg.store
    sid = await start(h)
    async with store.transaction() as tx:  # another writer, holding the service row
        task = await store._add_item(tx, HERE, sid, item(Kind.TASK), touch(h))
        end = asyncio.create_task(store.end_item(HERE, sid, Kind.TASK, task, ending(h), touch(h)))
        await asyncio.sleep(HELD)
        assert not end.done()  # it waits for the row, with a snapshot that lacks the task
    await end
    done = await store.get_item(HERE, sid, Kind.TASK, task, None)
    assert done.completed is not None


async def test_a_start_waiting_for_the_service_takes_the_next_id(pg: Harness) -> None:
    h, store = pg, pg.store
    sid = await start(h)
    state = await store.start_item(HERE, sid, item(Kind.STATE), touch(h))
    async with store.transaction() as tx:
        other = await store._add_item(tx, HERE, sid, item(Kind.TASK), touch(h))
        task = asyncio.create_task(
            store.start_item(HERE, sid, item(Kind.TASK, ref_id=state), touch(h))
        )
        await asyncio.sleep(HELD)
        assert not task.done()
    assert await task == other + 1  # the id of the row it waited for, not of its snapshot
    with pytest.raises(NotFound):  # and a state that is missing is still refused
        await store.start_item(HERE, sid, item(Kind.TASK, ref_id=state + 5), touch(h))


async def test_a_service_end_ends_the_items_started_while_it_waited(pg: Harness) -> None:
    h, store = pg, pg.store
    sid = await start(h, data={"a": 1})
    async with store.transaction() as tx:
        late = await store._add_item(tx, HERE, sid, item(Kind.TASK), touch(h))
        end = asyncio.create_task(store.end_service(HERE, sid, ending(h), touch(h)))
        await asyncio.sleep(HELD)
    await end
    active = await store.list_items(HERE, sid, Kind.TASK, ItemFilter(Status.ACTIVE), None)
    assert active == []
    ended = await store.get_item(HERE, sid, Kind.TASK, late, None)
    assert ended.completed is not None


# -- lanes: on real asyncpg pools ------------------------------------------------------------


@asynccontextmanager
async def real_pool(max_size: int, dsn: str = PG_URL) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=max_size, timeout=2)
    try:
        yield pool
    finally:
        pool.terminate()


def pool_holds_idle(pool: asyncpg.Pool) -> int:
    """Connections given back to asyncpg's pool (the lanes keep theirs otherwise)."""
    return int(pool.get_idle_size())


@pytest.fixture
def needs_postgres(request: pytest.FixtureRequest) -> None:
    reason = unavailable_reason("postgres")
    if reason is not None and "postgres" not in REQUIRED:
        pytest.skip(reason)


@pytest.mark.usefixtures("needs_postgres")
async def test_lanes_lend_in_order_and_reuse_connections() -> None:
    async with real_pool(2) as pool:
        lanes = Lanes(pool, 2, timeout=1.0)
        first, second = await lanes.take(), await lanes.take()
        assert first is not second
        waiters = [asyncio.create_task(lanes.take()) for _ in range(2)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        await lanes.give_back(second, None)
        await lanes.give_back(first, NotFound("cxgate's own errors leave the connection good"))
        assert [await w for w in waiters] == [second, first]  # in the order they asked
        assert pool.get_size() == 2
        assert pool_holds_idle(pool) == 0  # nothing went back to asyncpg's pool
        assert await first.fetchval("SELECT 1") == 1


@pytest.mark.usefixtures("needs_postgres")
async def test_lanes_return_doubtful_connections_to_the_pool() -> None:
    async with real_pool(1) as pool:
        lanes = Lanes(pool, 1, timeout=1.0)
        conn = await lanes.take()
        waiter = asyncio.create_task(lanes.take())
        await asyncio.sleep(0)
        await lanes.give_back(conn, OSError("connection reset"))
        fresh = await waiter  # the lane opened again for the one waiting
        assert fresh is not conn
        assert await fresh.fetchval("SELECT 1") == 1
        transaction = fresh.transaction()
        await transaction.start()  # a call that left a transaction open
        await lanes.give_back(fresh, NotFound("x"))
        assert lanes.held == 0
        assert pool_holds_idle(pool) == 1  # back in asyncpg's pool, which rolled it back
        again = await lanes.take()
        assert not again.is_in_transaction()
        await lanes.give_back(again, None)
        assert lanes.held == 1


@pytest.mark.usefixtures("needs_postgres")
async def test_lanes_time_out_and_survive_cancelled_waiters() -> None:
    async with real_pool(1) as pool:
        lanes = Lanes(pool, 1, timeout=0.05)
        conn = await lanes.take()
        with pytest.raises(TimeoutError):
            await lanes.take()
        cancelled = asyncio.create_task(lanes.take())
        waiting = asyncio.create_task(lanes.take())
        await asyncio.sleep(0)
        cancelled.cancel()
        await lanes.give_back(conn, None)
        assert await waiting is conn
        await lanes.give_back(conn, None)
        await lanes.close()
        assert lanes.held == 0
        assert pool_holds_idle(pool) == 1


async def test_lanes_that_cannot_open_let_the_next_caller_try() -> None:
    """A server that accepts and then hangs up (a real one on loopback): the caller opening
    the one lane fails, and the caller waiting for that lane is woken to try itself (and fails
    the same way) rather than left to time out."""
    answer = asyncio.Event()
    accepted = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await answer.wait()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with real_pool(1, f"postgresql://nobody@127.0.0.1:{port}/none") as pool:
            lanes = Lanes(pool, 1, timeout=5.0)
            opening = asyncio.create_task(lanes.take())
            while accepted < 1:  # it holds the one lane while it connects
                await asyncio.sleep(0.01)
            waiting = asyncio.create_task(lanes.take())
            await asyncio.sleep(0.05)
            assert not waiting.done()  # it waits for the lane
            answer.set()
            # The server hung up during the startup exchange (how asyncpg words it varies).
            hung_up = "connection_lost|Connection reset"
            with pytest.raises(ConnectionError, match=hung_up):
                await opening
            # The waiting caller tried the lane itself: no 5 s timeout.
            with pytest.raises(ConnectionError, match=hung_up):
                await asyncio.wait_for(waiting, 2.0)
            assert accepted == 2
            assert lanes.held == 0
    finally:
        server.close()
        await server.wait_closed()
