"""The FlagStore contract, run against every backend."""

from __future__ import annotations

from tests.backends import Harness


async def test_unset_flag_is_none(backend: Harness) -> None:
    assert await backend.store.flags.get("maintenance") is None


async def test_set_then_get_and_overwrite(backend: Harness) -> None:
    flags = backend.store.flags
    await flags.set("maintenance", "true")
    assert await flags.get("maintenance") == "true"
    await flags.set("maintenance", "false")
    assert await flags.get("maintenance") == "false"


async def test_flags_do_not_expire(backend: Harness) -> None:
    await backend.store.flags.set("maintenance", "true")
    await backend.advance(10 * 365 * 24 * 3600)
    await backend.store.sweep()
    assert await backend.store.flags.get("maintenance") == "true"
