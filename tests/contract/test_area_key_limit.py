"""The per-area key limit (`max_area_keys`), run against every backend.

Each test opens the harness's store again with a limit, as a node configured with
`[server] max_area_keys` would, on the same data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from cxgate.backends.base import AreaKind, Binary
from cxgate.backends.url import open_store
from cxgate.errors import AreaNotFound, TooManyKeys
from tests.backends import Harness

STORAGE = AreaKind.STORAGE
SERVICE = AreaKind.SERVICE


def new_id() -> str:
    return str(uuid.uuid4())


@asynccontextmanager
async def limited(h: Harness, max_area_keys: int) -> AsyncIterator[Any]:
    store = open_store(h.url, clock=h.clock, max_area_keys=max_area_keys)
    await store.open()
    try:
        yield store.areas
    finally:
        await store.close()


def keys(prefix: str, count: int) -> dict[str, str]:
    return {f"{prefix}{i}": str(i) for i in range(count)}


async def test_writes_up_to_the_limit_pass_and_the_one_past_it_changes_nothing(
    backend: Harness,
) -> None:
    async with limited(backend, 5) as areas:
        area_id = new_id()
        await areas.create(
            area_id, kind=SERVICE, label="s", owner=None, ttl=60, values=keys("a", 3)
        )
        await areas.write(area_id, kind=SERVICE, owner=None, values=keys("b", 2))
        before = await areas.info(area_id, kind=SERVICE, owner=None)
        await backend.advance(10)
        with pytest.raises(
            TooManyKeys, match=r"service .* may hold at most 5 keys; this write adds more"
        ):
            await areas.write(area_id, kind=SERVICE, owner=None, values={"a0": "new", "c": "1"})
        # Nothing of the refused write landed: not the new key, not the replaced value, not the
        # restarted TTL.
        assert await areas.read_strings(area_id, kind=SERVICE, owner=None) == {
            **keys("a", 3),
            **keys("b", 2),
        }
        after = await areas.info(area_id, kind=SERVICE, owner=None)
        assert after.expires_at == before.expires_at


async def test_replacing_keys_of_a_full_area_is_not_adding(backend: Harness) -> None:
    async with limited(backend, 3) as areas:
        area_id = new_id()
        await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values=keys("k", 3))
        pdf = Binary(b"%PDF", "application/pdf", "a.pdf")
        await areas.write(area_id, kind=STORAGE, owner=None, values={"k0": "x", "k1": pdf})
        assert await areas.read_value(area_id, "k1", kind=STORAGE, owner=None) == pdf
        assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {"k0": "x", "k2": "2"}


async def test_deleted_keys_make_room(backend: Harness) -> None:
    async with limited(backend, 2) as areas:
        area_id = new_id()
        await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values=keys("k", 2))
        await areas.delete_keys(area_id, ["k0"], kind=STORAGE, owner=None)
        await areas.write(area_id, kind=STORAGE, owner=None, values={"new": "1"})
        assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {
            "k1": "1",
            "new": "1",
        }


async def test_binary_values_count_too(backend: Harness) -> None:
    async with limited(backend, 2) as areas:
        area_id = new_id()
        files = {"f": Binary(b"1"), "g": Binary(b"2")}
        await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values=files)
        with pytest.raises(TooManyKeys):
            await areas.write(area_id, kind=STORAGE, owner=None, values={"s": "text"})
        with pytest.raises(TooManyKeys):
            await areas.write(area_id, kind=STORAGE, owner=None, values={"h": Binary(b"3")})
        assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {}


async def test_a_create_past_the_limit_leaves_no_area(backend: Harness) -> None:
    async with limited(backend, 4) as areas:
        area_id = new_id()
        with pytest.raises(TooManyKeys, match="may hold at most 4 keys"):
            await areas.create(
                area_id, kind=SERVICE, label="s", owner="ann", ttl=60, values=keys("k", 5)
            )
        with pytest.raises(AreaNotFound):
            await areas.info(area_id, kind=SERVICE, owner="ann")
        custom = "my-area-" + new_id()
        with pytest.raises(TooManyKeys):
            await areas.write(
                custom, kind=STORAGE, owner="ann", values=keys("k", 5), ttl=60, create=True
            )
        with pytest.raises(AreaNotFound):
            await areas.info(custom, kind=STORAGE, owner="ann")
        # The same id then takes a write within the limit as a fresh area.
        await areas.write(
            custom, kind=STORAGE, owner="ann", values=keys("k", 4), ttl=60, create=True
        )
        assert len(await areas.read_strings(custom, kind=STORAGE, owner="ann")) == 4


async def test_an_expired_area_taken_over_starts_from_no_keys(backend: Harness) -> None:
    async with limited(backend, 3) as areas:
        custom = "my-area-" + new_id()
        await areas.write(
            custom, kind=STORAGE, owner="ann", values=keys("old", 3), ttl=5, create=True
        )
        await backend.advance(10)
        await areas.write(
            custom, kind=STORAGE, owner="ann", values=keys("new", 3), ttl=5, create=True
        )
        assert await areas.read_strings(custom, kind=STORAGE, owner="ann") == keys("new", 3)


async def test_simultaneous_writers_never_take_an_area_past_the_limit(backend: Harness) -> None:
    """Twenty writers, on two nodes, each add two keys of their own to an area of ten: exactly
    five succeed, whatever the interleaving, and the area holds exactly their keys."""
    async with limited(backend, 10) as node_a, limited(backend, 10) as node_b:
        area_id = new_id()
        await node_a.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values={})

        async def add(writer: int) -> bool:
            node = node_a if writer % 2 else node_b
            values = {f"w{writer}-a": "1", f"w{writer}-b": "2"}
            try:
                await node.write(area_id, kind=STORAGE, owner=None, values=values)
            except TooManyKeys:
                return False
            return True

        landed = await asyncio.gather(*(add(writer) for writer in range(20)))
        assert sum(landed) == 5
        stored = await node_a.read_strings(area_id, kind=STORAGE, owner=None)
        expected = {f"w{w}-{s}" for w, ok in enumerate(landed) if ok for s in "ab"}
        assert set(stored) == expected


async def test_without_a_limit_an_area_takes_any_number_of_keys(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values=keys("a", 300))
    await areas.write(area_id, kind=STORAGE, owner=None, values=keys("b", 300))
    assert len(await areas.read_strings(area_id, kind=STORAGE, owner=None)) == 600


async def test_the_count_follows_deletes_takeovers_and_replacements(backend: Harness) -> None:
    """Every path that adds or removes keys keeps the count the limit is checked against (the
    PostgreSQL store keeps it in a table of its own): after any mix of them, the area takes
    exactly as many new keys as it has room for."""
    async with limited(backend, 4) as areas:
        area_id = new_id()
        await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values=keys("a", 4))
        await areas.write(area_id, kind=STORAGE, owner=None, values=keys("a", 4))  # replaced
        await areas.delete_keys(area_id, ["a0", "a1", "missing"], kind=STORAGE, owner=None)
        await areas.write(area_id, kind=STORAGE, owner=None, values=keys("b", 2))
        with pytest.raises(TooManyKeys):
            await areas.write(area_id, kind=STORAGE, owner=None, values={"c": "1"})
        await areas.delete_keys(area_id, None, kind=STORAGE, owner=None)
        await areas.write(area_id, kind=STORAGE, owner=None, values=keys("c", 4))
        assert set(await areas.read_strings(area_id, kind=STORAGE, owner=None)) == set(keys("c", 4))

        custom = "my-area-" + new_id()
        await areas.write(
            custom, kind=STORAGE, owner="ann", values=keys("a", 4), ttl=5, create=True
        )
        await backend.advance(10)
        await backend.store.sweep()
        await areas.write(
            custom, kind=STORAGE, owner="ann", values=keys("n", 4), ttl=5, create=True
        )
        with pytest.raises(TooManyKeys):
            await areas.write(custom, kind=STORAGE, owner="ann", values={"x": "1"}, create=True)
        await areas.delete(custom, kind=STORAGE, owner="ann")
        await areas.write(
            custom, kind=STORAGE, owner="ann", values=keys("z", 4), ttl=5, create=True
        )
