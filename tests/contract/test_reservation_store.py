"""The ReservationStore contract, run against every backend."""

from __future__ import annotations

import asyncio

from cxgate.backends.base import Reservation
from tests.backends import Harness


def held(h: Harness, number: str, code: str | None, service: str, ttl: float = 60) -> Reservation:
    now = h.clock.now()
    return Reservation(number, code, service, now, now + ttl)


async def test_same_number_and_code_cannot_be_held_twice(backend: Harness) -> None:
    res = backend.store.reservations
    assert await res.reserve(held(backend, "800", "123456", "s1"))
    assert not await res.reserve(held(backend, "800", "123456", "s2"))
    assert await res.reserve(held(backend, "800", "654321", "s2"))
    assert await res.reserve(held(backend, "801", "123456", "s3"))


async def test_number_without_code_is_held_by_one_service(backend: Harness) -> None:
    res = backend.store.reservations
    assert await res.reserve(held(backend, "800", None, "s1"))
    assert not await res.reserve(held(backend, "800", None, "s2"))


async def test_take_by_number_and_code_releases(backend: Harness) -> None:
    res = backend.store.reservations
    await res.reserve(held(backend, "800", "111111", "s1"))
    await res.reserve(held(backend, "800", "222222", "s2"))
    taken = await res.take("800", "222222")
    assert taken is not None
    assert (taken.service_id, taken.code) == ("s2", "222222")
    assert await res.take("800", "222222") is None
    assert await res.reserve(held(backend, "800", "222222", "s3"))


async def test_take_by_number_alone_gives_most_recent(backend: Harness) -> None:
    res = backend.store.reservations
    await res.reserve(held(backend, "800", None, "s1"))
    await backend.advance(1)
    await res.reserve(held(backend, "801", "333333", "s2"))
    await backend.advance(1)
    await res.reserve(held(backend, "801", "444444", "s3"))
    taken = await res.take("801", None)
    assert taken is not None
    assert taken.service_id == "s3"
    only = await res.take("800", None)
    assert only is not None
    assert (only.service_id, only.code) == ("s1", None)
    assert await res.take("800", None) is None


async def test_expired_reservation_is_not_matched_and_can_be_reused(backend: Harness) -> None:
    res = backend.store.reservations
    await res.reserve(held(backend, "800", "123456", "s1", ttl=5))
    await backend.advance(6)
    assert await res.take("800", "123456") is None
    assert await res.take("800", None) is None
    assert await res.reserve(held(backend, "800", "123456", "s2"))
    taken = await res.take("800", "123456")
    assert taken is not None
    assert taken.service_id == "s2"


async def test_release_service(backend: Harness) -> None:
    res = backend.store.reservations
    await res.reserve(held(backend, "800", "1", "s1"))
    await res.reserve(held(backend, "801", None, "s1"))
    await res.reserve(held(backend, "802", None, "s2"))
    await res.release_service("s1")
    assert await res.take("800", "1") is None
    assert await res.take("801", None) is None
    assert await res.take("802", None) is not None


async def test_concurrent_reserve_of_one_pair_has_one_winner(backend: Harness) -> None:
    res = backend.store.reservations
    results = await asyncio.gather(
        *(res.reserve(held(backend, "800", "777777", f"s{i}")) for i in range(20))
    )
    assert results.count(True) == 1


async def test_concurrent_take_returns_each_reservation_once(backend: Harness) -> None:
    res = backend.store.reservations
    for i in range(10):
        await res.reserve(held(backend, "800", f"{i:06d}", f"s{i}"))
    taken = await asyncio.gather(*(res.take("800", None) for _ in range(15)))
    services = [t.service_id for t in taken if t is not None]
    assert sorted(services) == sorted(f"s{i}" for i in range(10))
