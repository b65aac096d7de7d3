"""What the shared contract tests cannot see: several nodes on one store, reopening, migrations,
unreachable servers, and the storage details of each backend (PostgreSQL, Redis)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cxgate.backends.base import AreaKind, Binary, Reservation
from cxgate.backends.migrations import migrations_for
from cxgate.backends.url import open_store
from cxgate.errors import AreaNotFound, ConfigError, Conflict, StoreUnavailable
from tests.backends import PG_URL, REQUIRED, FakeClock, Harness, harness, unavailable_reason

STORAGE = AreaKind.STORAGE


def needs(backend: str) -> pytest.MarkDecorator:
    """Skip when the server is unreachable, unless CI requires the backend (as conftest does)."""
    reason = unavailable_reason(backend)
    return pytest.mark.skipif(backend not in REQUIRED and reason is not None, reason=str(reason))


needs_postgres = needs("postgres")
needs_redis = needs("redis")


def held(h: Harness, number: str, code: str | None, service: str, ttl: float = 60) -> Reservation:
    now = h.clock.now()
    return Reservation(number, code, service, now, now + ttl)


@asynccontextmanager
async def second_node(h: Harness) -> AsyncIterator[Any]:
    """Another store on the same URL and clock, as a second cxgate node would open it."""
    store = open_store(h.url, clock=h.clock)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_any_unicode_and_exact_bytes_round_trip(backend: Harness) -> None:
    areas = backend.store.areas
    values: dict[str, Any] = {
        "nul\x00key": "nul\x00value",
        "a:b:str": "colon keys stay keys",
        # 1000 distinct emoji: 4000 bytes that do not compress, past PostgreSQL's btree limit
        "".join(chr(0x1F300 + i) for i in range(1000)): "🔑" * 100_000,
        "file": Binary(b"\n\x00\xff\r\n" * 1000, 'text/x-"odd"\n', "naïve\nname.bin"),
        "plain": Binary(b""),
    }
    await areas.create("a:b", kind=STORAGE, label="", owner=None, ttl=60, values=values)
    strings = {k: v for k, v in values.items() if isinstance(v, str)}
    assert await areas.read_strings("a:b", kind=STORAGE, owner=None) == strings
    for key, value in values.items():
        assert await areas.read_value("a:b", key, kind=STORAGE, owner=None) == value
    with pytest.raises(AreaNotFound):
        await areas.info("a", kind=STORAGE, owner=None)


async def test_empty_owner_is_an_owner(backend: Harness) -> None:
    areas = backend.store.areas
    await areas.write("e", kind=STORAGE, owner="", values={"a": "1"}, ttl=60, create=True)
    assert (await areas.info("e", kind=STORAGE, owner="")).owner == ""
    with pytest.raises(AreaNotFound):
        await areas.info("e", kind=STORAGE, owner=None)


async def test_info_reports_the_clock(backend: Harness) -> None:
    areas = backend.store.areas
    start = backend.clock.now()
    info = await areas.create("t", kind=STORAGE, label="", owner="ann", ttl=30, values={})
    assert (info.expires_at, info.owner) == (start + 30, "ann")
    await backend.advance(10)
    await areas.delete_keys("t", None, kind=STORAGE, owner="ann")
    info = await areas.info("t", kind=STORAGE, owner="ann")
    assert (info.ttl, info.expires_at) == (30, start + 40)


async def test_reopening_keeps_data(backend: Harness) -> None:
    areas = backend.store.areas
    await areas.create("keep", kind=STORAGE, label="", owner=None, ttl=60, values={"a": "1"})
    assert await backend.store.reservations.reserve(held(backend, "800", "1", "s1"))
    await backend.store.close()
    with pytest.raises(StoreUnavailable):
        await backend.store.ping()
    await backend.store.open()  # applies no migration twice
    assert await areas.read_strings("keep", kind=STORAGE, owner=None) == {"a": "1"}
    taken = await backend.store.reservations.take("800", "1")
    assert taken is not None
    assert taken.service_id == "s1"


async def test_two_nodes_share_areas_and_reservations(backend: Harness) -> None:
    async with second_node(backend) as other:
        await backend.store.areas.write(
            "c", kind=STORAGE, owner="ann", values={"a": "1"}, ttl=60, create=True
        )
        with pytest.raises(Conflict):
            await other.areas.write(
                "c", kind=STORAGE, owner="bob", values={"a": "2"}, ttl=60, create=True
            )
        assert await other.areas.read_strings("c", kind=STORAGE, owner="ann") == {"a": "1"}
        assert await backend.store.reservations.reserve(held(backend, "800", None, "s1"))
        assert not await other.reservations.reserve(held(backend, "800", None, "s2"))
        for i in range(10):
            await other.reservations.reserve(held(backend, "801", f"{i}", f"s{i}"))
        nodes = (backend.store, other) * 8
        taken = await asyncio.gather(*(node.reservations.take("801", None) for node in nodes))
        services = sorted(t.service_id for t in taken if t is not None)
        assert services == sorted(f"s{i}" for i in range(10))


async def test_a_burst_larger_than_the_pool_waits_for_connections(backend: Harness) -> None:
    url = backend.url + ("&" if "?" in backend.url else "?") + "pool_max=2"
    store = open_store(url, clock=backend.clock)
    await store.open()
    try:
        await store.areas.create("b", kind=STORAGE, label="", owner=None, ttl=60, values={})
        await asyncio.gather(
            *(
                store.areas.write("b", kind=STORAGE, owner=None, values={f"k{i}": "v"})
                for i in range(200)
            )
        )
        assert len(await store.areas.read_strings("b", kind=STORAGE, owner=None)) == 200
    finally:
        await store.close()


async def test_concurrent_claims_of_one_custom_id_have_one_owner(backend: Harness) -> None:
    async with second_node(backend) as other:
        results = await asyncio.gather(
            *(
                node.areas.write(
                    "x", kind=STORAGE, owner=f"u{i}", values={"k": f"{i}"}, ttl=60, create=True
                )
                for i, node in enumerate((backend.store, other) * 5)
            ),
            return_exceptions=True,
        )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if r is not winners[0])
    owner = winners[0].owner
    assert await backend.store.areas.read_strings("x", kind=STORAGE, owner=owner) == {
        "k": owner.removeprefix("u")
    }


async def test_take_by_number_skips_an_expired_newer_reservation(backend: Harness) -> None:
    res = backend.store.reservations
    await res.reserve(held(backend, "800", "1", "old", ttl=60))
    await backend.advance(1)
    await res.reserve(held(backend, "800", "2", "new", ttl=5))
    await backend.advance(10)
    taken = await res.take("800", None)
    assert taken is not None
    assert (taken.service_id, taken.code) == ("old", "1")


async def test_release_spares_a_pair_reserved_again_by_another_service(backend: Harness) -> None:
    res = backend.store.reservations
    await res.reserve(held(backend, "800", "1", "s1", ttl=5))
    await backend.advance(6)
    assert await res.reserve(held(backend, "800", "1", "s2"))
    await res.release_service("s1")
    taken = await res.take("800", None)
    assert taken is not None
    assert taken.service_id == "s2"


async def test_a_closed_store_is_unavailable(backend: Harness) -> None:
    await backend.store.close()
    with pytest.raises(StoreUnavailable):
        await backend.store.areas.info("a", kind=STORAGE, owner=None)
    with pytest.raises(StoreUnavailable):
        await backend.store.reservations.take("800", None)


@pytest.mark.parametrize(
    "template",
    ["postgresql://postgres@127.0.0.1:{port}/test?timeout=2", "redis://127.0.0.1:{port}/13"],
    ids=["postgres", "redis"],
)
async def test_open_raises_store_unavailable_when_unreachable(template: str) -> None:
    store = open_store(template.format(port=closed_port()), clock=FakeClock())
    with pytest.raises(StoreUnavailable):
        await store.open()
    with pytest.raises(StoreUnavailable):
        await store.ping()
    await store.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://127.0.0.1/test?pool_min=two",
        "postgresql://127.0.0.1/test?pool_min=5&pool_max=2",
        "postgresql://127.0.0.1/test?timeout=soon",
        "redis://127.0.0.1/13?timeout=soon",
        "redis://127.0.0.1/thirteen",
    ],
)
def test_bad_url_options_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url, clock=FakeClock())


async def _pg_fetch(sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@needs_postgres
async def test_postgres_migrations_apply_once_when_nodes_start_together() -> None:
    schema = "t_" + uuid.uuid4().hex[:12]  # absent: open() creates it
    stores = [open_store(f"{PG_URL}?schema={schema}", clock=FakeClock()) for _ in range(6)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        rows = await _pg_fetch(f"SELECT version, name FROM {schema}.schema_migrations")
        expected = [(m.version, m.name) for m in migrations_for("postgres")]
        assert sorted(tuple(row) for row in rows) == expected
    finally:
        for store in stores:
            await store.close()
        await _pg_fetch(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@needs_postgres
async def test_postgres_replaces_a_connection_the_server_dropped() -> None:
    schema = "t_" + uuid.uuid4().hex[:12]
    app = "cxgate_" + uuid.uuid4().hex[:8]  # other query options reach the driver
    url = f"{PG_URL}?schema={schema}&pool_min=1&pool_max=1&application_name={app}"
    store = open_store(url, clock=FakeClock())
    await store.open()
    try:
        dropped = await _pg_fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            app,
        )
        assert [row[0] for row in dropped] == [True]
        await asyncio.sleep(0.1)  # let the driver see the socket close
        await store.ping()
    finally:
        await store.close()
        await _pg_fetch(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@needs_postgres
async def test_postgres_timeout_is_store_unavailable_then_recovers() -> None:
    import asyncpg

    schema = "t_" + uuid.uuid4().hex[:12]
    store = open_store(f"{PG_URL}?schema={schema}&timeout=0.3", clock=FakeClock())
    await store.open()
    blocker = await asyncpg.connect(PG_URL)
    try:
        async with blocker.transaction():
            await blocker.execute(f"LOCK TABLE {schema}.areas IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreUnavailable):
                await store.areas.info("a", kind=STORAGE, owner=None)
        with pytest.raises(AreaNotFound):
            await store.areas.info("a", kind=STORAGE, owner=None)
    finally:
        await blocker.close()
        await store.close()
        await _pg_fetch(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@needs_redis
async def test_redis_keys_all_expire(tmp_path: Path) -> None:
    async with harness("redis", tmp_path) as backend:
        await _fill_and_check_redis_ttls(backend)


async def _fill_and_check_redis_ttls(backend: Harness) -> None:
    areas, res = backend.store.areas, backend.store.reservations
    await areas.create("r", kind=STORAGE, label="", owner="ann", ttl=30, values={"f": Binary(b"x")})
    await areas.write("r", kind=STORAGE, owner="ann", values={"s": "1", "t": "2"})
    await res.reserve(held(backend, "800", None, "s1", ttl=10))
    await res.reserve(held(backend, "800", "9", "s1", ttl=20))
    await backend.advance(5)
    await areas.delete_keys("r", ["t"], kind=STORAGE, owner="ann")
    client, prefix = backend.store.client, backend.store.prefix
    ttls = {
        key.decode(): await client.pttl(key) async for key in client.scan_iter(match=f"{prefix}:*")
    }
    assert len(ttls) == 7  # meta, str, bin; two reservations, the number's and the service's set
    assert all(0 < ttl <= 30_000 for ttl in ttls.values()), ttls
    area_ttls = [ttl for key, ttl in ttls.items() if key.startswith(f"{prefix}:storage:r:")]
    assert min(area_ttls) > 29_000  # delete_keys restarted the TTL of every key of the area
