"""The AreaStore contract, run against every backend."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from cxgate.backends.base import AreaKind, Binary
from cxgate.errors import AreaNotFound, Conflict, KeyNotFound
from tests.backends import Harness

SERVICE = AreaKind.SERVICE
STORAGE = AreaKind.STORAGE


def new_id() -> str:
    return str(uuid.uuid4())


async def test_create_then_read_strings_and_binary(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    pdf = Binary(b"%PDF\x00\xff binary", "application/pdf", "a.pdf")
    info = await areas.create(
        area_id,
        kind=SERVICE,
        label="store",
        owner=None,
        ttl=60,
        values={"name": "Ann", "empty": "", "file": pdf},
    )
    assert info.label == "store"
    assert info.ttl == 60
    assert await areas.read_strings(area_id, kind=SERVICE, owner=None) == {
        "name": "Ann",
        "empty": "",
    }
    assert await areas.read_value(area_id, "name", kind=SERVICE, owner=None) == "Ann"
    assert await areas.read_value(area_id, "file", kind=SERVICE, owner=None) == pdf
    with pytest.raises(KeyNotFound):
        await areas.read_value(area_id, "missing", kind=SERVICE, owner=None)


async def test_kinds_are_separate_id_spaces(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=SERVICE, label="s", owner=None, ttl=60, values={"a": "1"})
    with pytest.raises(AreaNotFound):
        await areas.read_strings(area_id, kind=STORAGE, owner=None)


async def test_unicode_and_long_keys_round_trip(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    values = {"ключ 🔑": "значение ✓", "k" * 1000: "v" * 100_000, "tab\tkey": "line\nbreak"}
    await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values=values)
    assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == values


async def test_write_adds_replaces_and_restarts_ttl(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=SERVICE, label="s", owner=None, ttl=10, values={"a": "1"})
    await backend.advance(8)
    info = await areas.write(area_id, kind=SERVICE, owner=None, values={"a": "2", "b": "3"})
    assert info.ttl == 10
    await backend.advance(8)  # 16 s after creation, 8 s after the write: still alive
    assert await areas.read_strings(area_id, kind=SERVICE, owner=None) == {"a": "2", "b": "3"}
    await backend.advance(3)
    with pytest.raises(AreaNotFound):
        await areas.read_strings(area_id, kind=SERVICE, owner=None)


async def test_write_with_new_ttl(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=5, values={})
    info = await areas.write(area_id, kind=STORAGE, owner=None, values={"x": "y"}, ttl=100)
    assert info.ttl == 100
    await backend.advance(50)
    assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {"x": "y"}


async def test_string_replaces_binary_and_back(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(
        area_id,
        kind=STORAGE,
        label="",
        owner=None,
        ttl=60,
        values={"k": Binary(b"\x01", "image/png", "p.png")},
    )
    await areas.write(area_id, kind=STORAGE, owner=None, values={"k": "text"})
    assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {"k": "text"}
    await areas.write(area_id, kind=STORAGE, owner=None, values={"k": Binary(b"\x02")})
    assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {}
    assert await areas.read_value(area_id, "k", kind=STORAGE, owner=None) == Binary(b"\x02")


async def test_write_missing_area_is_not_found(backend: Harness) -> None:
    with pytest.raises(AreaNotFound):
        await backend.store.areas.write(new_id(), kind=STORAGE, owner=None, values={"a": "b"})


async def test_expired_data_is_never_returned(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(
        area_id, kind=STORAGE, label="", owner=None, ttl=2, values={"a": "1", "f": Binary(b"x")}
    )
    await backend.advance(3)
    for call in (
        areas.read_strings(area_id, kind=STORAGE, owner=None),
        areas.read_value(area_id, "a", kind=STORAGE, owner=None),
        areas.info(area_id, kind=STORAGE, owner=None),
        areas.write(area_id, kind=STORAGE, owner=None, values={"b": "2"}),
        areas.delete_keys(area_id, None, kind=STORAGE, owner=None),
        areas.delete(area_id, kind=STORAGE, owner=None),
    ):
        with pytest.raises(AreaNotFound):
            await call


async def test_recreated_custom_area_does_not_inherit_expired_keys(backend: Harness) -> None:
    areas = backend.store.areas
    await areas.write(
        "custom-1", kind=STORAGE, owner="ann", values={"old": "1"}, ttl=2, create=True
    )
    await backend.advance(3)
    await areas.write(
        "custom-1", kind=STORAGE, owner="bob", values={"new": "2"}, ttl=60, create=True
    )
    assert await areas.read_strings("custom-1", kind=STORAGE, owner="bob") == {"new": "2"}


async def test_owner_isolation(backend: Harness) -> None:
    areas = backend.store.areas
    await areas.write(
        "mine", kind=STORAGE, owner="ann", values={"secret": "s"}, ttl=60, create=True
    )
    for owner in (None, "bob"):
        with pytest.raises(AreaNotFound):
            await areas.read_strings("mine", kind=STORAGE, owner=owner)
        with pytest.raises(AreaNotFound):
            await areas.read_value("mine", "secret", kind=STORAGE, owner=owner)
        with pytest.raises(AreaNotFound):
            await areas.write("mine", kind=STORAGE, owner=owner, values={"x": "y"})
        with pytest.raises(AreaNotFound):
            await areas.delete("mine", kind=STORAGE, owner=owner)
        with pytest.raises(AreaNotFound):
            await areas.delete_keys("mine", None, kind=STORAGE, owner=owner)
    with pytest.raises(Conflict):
        await areas.write("mine", kind=STORAGE, owner="bob", values={"x": "y"}, ttl=60, create=True)
    assert await areas.read_strings("mine", kind=STORAGE, owner="ann") == {"secret": "s"}


async def test_area_without_owner_is_open_to_all(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values={"a": "1"})
    assert await areas.read_strings(area_id, kind=STORAGE, owner="anyone") == {"a": "1"}


async def test_custom_write_by_owner_updates(backend: Harness) -> None:
    areas = backend.store.areas
    await areas.write("c", kind=STORAGE, owner="ann", values={"a": "1"}, ttl=60, create=True)
    await areas.write("c", kind=STORAGE, owner="ann", values={"b": "2"}, ttl=60, create=True)
    assert await areas.read_strings("c", kind=STORAGE, owner="ann") == {"a": "1", "b": "2"}


async def test_create_clash_is_conflict(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=SERVICE, label="s", owner=None, ttl=60, values={"a": "1"})
    with pytest.raises(Conflict):
        await areas.create(area_id, kind=SERVICE, label="s", owner=None, ttl=60, values={})
    assert await areas.read_strings(area_id, kind=SERVICE, owner=None) == {"a": "1"}


async def test_delete_keys_one_and_all(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(
        area_id,
        kind=SERVICE,
        label="s",
        owner=None,
        ttl=60,
        values={"a": "1", "b": "2", "f": Binary(b"x")},
    )
    await areas.delete_keys(area_id, ["a", "missing"], kind=SERVICE, owner=None)
    assert await areas.read_strings(area_id, kind=SERVICE, owner=None) == {"b": "2"}
    await areas.delete_keys(area_id, ["f"], kind=SERVICE, owner=None)
    with pytest.raises(KeyNotFound):
        await areas.read_value(area_id, "f", kind=SERVICE, owner=None)
    await areas.delete_keys(area_id, None, kind=SERVICE, owner=None)
    assert await areas.read_strings(area_id, kind=SERVICE, owner=None) == {}
    assert (await areas.info(area_id, kind=SERVICE, owner=None)).label == "s"


async def test_delete_area(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=SERVICE, label="s", owner=None, ttl=60, values={"a": "1"})
    await areas.delete(area_id, kind=SERVICE, owner=None)
    with pytest.raises(AreaNotFound):
        await areas.read_strings(area_id, kind=SERVICE, owner=None)
    with pytest.raises(AreaNotFound):
        await areas.delete(area_id, kind=SERVICE, owner=None)


async def test_concurrent_writes_of_different_keys_all_land(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values={})
    await asyncio.gather(
        *(
            areas.write(area_id, kind=STORAGE, owner=None, values={f"k{i}": str(i)})
            for i in range(50)
        )
    )
    assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {
        f"k{i}": str(i) for i in range(50)
    }


async def test_sweep_removes_expired_and_keeps_live(backend: Harness) -> None:
    areas = backend.store.areas
    await areas.create("old", kind=STORAGE, label="", owner=None, ttl=1, values={"a": "1"})
    await areas.create("new", kind=STORAGE, label="", owner=None, ttl=100, values={"a": "1"})
    await backend.advance(5)
    removed = await backend.store.sweep()
    assert removed >= (1 if backend.store.needs_sweeper else 0)
    assert await areas.read_strings("new", kind=STORAGE, owner=None) == {"a": "1"}


async def test_custom_id_over_an_anonymous_area_is_conflict(backend: Harness) -> None:
    areas = backend.store.areas
    area_id = new_id()
    await areas.create(area_id, kind=STORAGE, label="", owner=None, ttl=60, values={"a": "1"})
    with pytest.raises(Conflict):
        await areas.write(
            area_id, kind=STORAGE, owner="alice", values={"b": "2"}, ttl=60, create=True
        )
    assert await areas.read_strings(area_id, kind=STORAGE, owner=None) == {"a": "1"}
