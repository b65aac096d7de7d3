"""The JourneyStore contract (journey/store.py), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest

from cxgate.errors import AlreadyEnded, NotFound
from cxgate.journey.models import (
    EVERYTHING,
    Association,
    AttachedEquals,
    CompositeEntry,
    Ending,
    ItemFilter,
    Kind,
    Nested,
    NewItem,
    NewService,
    PurgeOperation,
    ServiceQuery,
    Space,
    Status,
    TimeWindow,
    Touch,
)
from cxgate.journey.times import format_time, now_ms
from tests.backends import Harness

HERE = Space("acme", "")
ELSEWHERE = Space("globex", "")
WEEK = 7 * 86400 * 1000


def service(h: Harness, *, at: int | None = None, ttl_ms: int = WEEK, **fields: Any) -> NewService:
    now = now_ms(h.clock)
    started_at = now if at is None else at
    defaults: dict[str, Any] = {
        "service_id": f"{now // 1000}-{uuid.uuid4()}",
        "customer_id": "cust",
        "contact_key": None,
        "type_key": None,
        "props": {},
        "started_at": started_at,
        "started": {"timestamp": format_time(started_at)},
        "data": {},
        "expires_at": now + ttl_ms,
        "auto_complete_after": None,
    }
    return NewService(**{**defaults, **fields})


def item(
    kind: Kind, type_key: str | None = None, ref_id: int | None = None, **data: Any
) -> NewItem:
    return NewItem(kind, type_key, ref_id, {}, 0, {"timestamp": format_time(0)}, data)


def ending(h: Harness, **fields: Any) -> Ending:
    now = now_ms(h.clock)
    return Ending(now, {"timestamp": format_time(now), **fields})


def touch(h: Harness, expires_at: int | None = None) -> Touch:
    return Touch(now_ms(h.clock), expires_at)


async def start(h: Harness, space: Space = HERE, **fields: Any) -> str:
    new = service(h, **fields)
    await h.store.start_service(space, new)
    return new.service_id


async def ids(h: Harness, space: Space = HERE, **query: Any) -> list[str]:
    found = await h.store.query_services(ServiceQuery(space=space, **query), Nested())
    return [s.service_id for s in found]


async def test_attached_data_is_kept_exactly(journey_backend: Harness) -> None:
    h = journey_backend
    data = {
        "z": 1,
        "a": [1, 2.5, "x", None, True, {"deep": {"deeper": []}}],
        "unicode": "Grüße ✓ \U0001f600",
        "nul": "a\x00b",
        "big": 9_007_199_254_740_993,
        "float": 0.1,
        "exp": 1e300,
        "neg0": -0.0,
        "empty": {},
    }
    sid = await start(h, data=data, props={"service_type": 10})
    got = await h.store.get_service(HERE, sid, Nested())
    assert got.data == data
    assert list(got.data) == list(data)  # key order too
    assert got.props == {"service_type": 10}


async def test_ids_are_unique_within_a_service_and_ended_services_take_items(
    journey_backend: Harness,
) -> None:
    h = journey_backend
    sid = await start(h)
    first = await h.store.start_item(HERE, sid, item(Kind.STATE, "a"), touch(h))
    task = await h.store.start_item(HERE, sid, item(Kind.TASK, "t", first), touch(h))
    await h.store.end_service(HERE, sid, ending(h), touch(h))
    late = await h.store.start_item(HERE, sid, item(Kind.STATE, "b"), touch(h))
    assert len({first, task, late}) == 3
    assert all(isinstance(n, int) for n in (first, task, late))
    states = await h.store.list_items(HERE, sid, Kind.STATE, ItemFilter(), None)
    assert [(s.item_id, s.completed is None) for s in states] == [(first, False), (late, True)]


async def test_end_service_cascades_and_only_once(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h, data={"keep": 1})
    state = await h.store.start_item(HERE, sid, item(Kind.STATE), touch(h))
    done = await h.store.start_item(HERE, sid, item(Kind.TASK), touch(h))
    await h.store.end_item(HERE, sid, Kind.TASK, done, ending(h, disposition=1), touch(h))
    h.clock.advance(5)
    end = replace(ending(h, disposition="ok"), data={"outcome": "sold"})
    await h.store.end_service(HERE, sid, end, touch(h))
    got = await h.store.get_service(HERE, sid, EVERYTHING)
    assert got.completed == end.completed
    assert got.data == {"keep": 1, "outcome": "sold"}
    assert got.states is not None
    assert got.tasks is not None
    assert got.states[0].completed == {"timestamp": end.completed["timestamp"]}
    assert got.tasks[0].completed is not None
    assert got.tasks[0].completed["disposition"] == 1
    with pytest.raises(AlreadyEnded):
        await h.store.end_service(HERE, sid, ending(h, disposition="again"), touch(h))
    again = await h.store.get_service(HERE, sid, Nested())
    assert again.completed == end.completed
    assert state == got.states[0].item_id


async def test_failed_transition_changes_nothing(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h)
    state = await h.store.start_item(HERE, sid, item(Kind.STATE, "ivr"), touch(h))
    with pytest.raises(NotFound):  # the next state names a state that does not exist
        await h.store.transition(
            HERE, sid, state, ending(h), item(Kind.STATE, "agent", ref_id=99), touch(h)
        )
    with pytest.raises(NotFound):
        await h.store.transition(HERE, sid, 42, ending(h), item(Kind.STATE, "x"), touch(h))
    states = await h.store.list_items(HERE, sid, Kind.STATE, ItemFilter(), None)
    assert [(s.item_id, s.completed) for s in states] == [(state, None)]
    new = await h.store.transition(
        HERE, sid, state, ending(h), item(Kind.STATE, "agent", ref_id=state), touch(h)
    )
    with pytest.raises(AlreadyEnded):
        await h.store.transition(
            HERE, sid, state, ending(h), item(Kind.STATE, "y", ref_id=state), touch(h)
        )
    states = await h.store.list_items(HERE, sid, Kind.STATE, ItemFilter(), None)
    assert [(s.item_id, s.completed is None) for s in states] == [(state, False), (new, True)]
    assert new == state + 1  # the failed attempts gave out no id


async def test_racing_transitions_on_one_state_exactly_one_wins(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h)
    state = await h.store.start_item(HERE, sid, item(Kind.STATE, "ivr"), touch(h))

    async def move(n: int) -> int | BaseException:
        try:
            return int(
                await h.store.transition(
                    HERE, sid, state, ending(h), item(Kind.STATE, f"s{n}", ref_id=state), touch(h)
                )
            )
        except AlreadyEnded as exc:
            return exc

    outcomes = await asyncio.gather(*(move(n) for n in range(8)))
    won = [o for o in outcomes if isinstance(o, int)]
    assert len(won) == 1
    assert all(isinstance(o, AlreadyEnded) for o in outcomes if not isinstance(o, int))
    active = await h.store.list_items(HERE, sid, Kind.STATE, ItemFilter(Status.ACTIVE), None)
    assert [s.item_id for s in active] == won


async def test_racing_ends_of_one_task(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h)
    task = await h.store.start_item(HERE, sid, item(Kind.TASK), touch(h))
    results = await asyncio.gather(
        *(
            h.store.end_item(HERE, sid, Kind.TASK, task, ending(h, disposition=n), touch(h))
            for n in range(6)
        ),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, AlreadyEnded) for r in results if r is not None)


async def test_racing_composite_starts_create_one_of_each(journey_backend: Harness) -> None:
    h = journey_backend

    def entry() -> CompositeEntry:
        new = service(h, customer_id="ann", contact_key="555", type_key="billing")
        return CompositeEntry(new, item(Kind.STATE, "ivr"), item(Kind.TASK, "auth"), True)

    outcomes = await asyncio.gather(
        *(h.store.composite_start(HERE, [entry()], touch(h)) for _ in range(10))
    )
    flat = [o[0] for o in outcomes]
    assert len({o.service_id for o in flat}) == 1
    assert sum(o.service_created for o in flat) == 1
    assert len({o.state_id for o in flat}) == 1
    assert sum(o.state_created for o in flat) == 1
    assert len({o.task_id for o in flat}) == 1
    assert sum(o.task_created for o in flat) == 1
    got = await h.store.get_service(HERE, flat[0].service_id, EVERYTHING)
    assert got.tasks is not None
    assert got.tasks[0].ref_id == flat[0].state_id
    assert await ids(h, customer_id="ann") == [flat[0].service_id]


async def test_composite_matches_customer_contact_and_type_null_safely(
    journey_backend: Harness,
) -> None:
    h = journey_backend
    variants = [
        {"customer_id": None, "contact_key": "555", "type_key": None},
        {"customer_id": None, "contact_key": "555", "type_key": "x"},
        {"customer_id": "ann", "contact_key": None, "type_key": "x"},
        {"customer_id": "ann", "contact_key": "555", "type_key": "x"},
    ]
    first = [
        (
            await h.store.composite_start(
                HERE, [CompositeEntry(service(h, **v), None, None, False)], touch(h)
            )
        )[0]
        for v in variants
    ]
    assert all(o.service_created for o in first)
    again = [
        (
            await h.store.composite_start(
                HERE, [CompositeEntry(service(h, **v), None, None, False)], touch(h)
            )
        )[0]
        for v in variants
    ]
    assert [o.service_id for o in again] == [o.service_id for o in first]
    assert not any(o.service_created for o in again)
    other = await h.store.composite_start(
        ELSEWHERE, [CompositeEntry(service(h, **variants[0]), None, None, False)], touch(h)
    )
    assert other[0].service_created  # another space never reuses this one's service


async def test_expired_services_vanish_at_once_and_sweep_removes_them(
    journey_backend: Harness,
) -> None:
    h = journey_backend
    sid = await start(h, ttl_ms=10_000, contact_key="k")
    state = await h.store.start_item(HERE, sid, item(Kind.STATE), touch(h))
    await h.advance(10)
    for call in (
        h.store.get_service(HERE, sid, Nested()),
        h.store.end_service(HERE, sid, ending(h), touch(h)),
        h.store.delete_service(HERE, sid),
        h.store.start_item(HERE, sid, item(Kind.TASK), touch(h)),
        h.store.end_item(HERE, sid, Kind.STATE, state, ending(h), touch(h)),
        h.store.get_item(HERE, sid, Kind.STATE, state, None),
        h.store.list_items(HERE, sid, Kind.STATE, ItemFilter(), None),
        h.store.set_expiry(HERE, sid, touch(h, now_ms(h.clock) + WEEK)),
    ):
        with pytest.raises(NotFound):
            await call
    assert await ids(h, customer_id="cust") == []
    assert await h.store.export_page(HERE, TimeWindow(), None, 10) == []
    result = await h.store.sweep(batch=100)
    assert result.deleted == 1
    assert (await h.store.sweep(batch=100)).deleted == 0


async def test_set_expiry_moves_it_both_ways(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h, ttl_ms=10_000)
    await h.store.set_expiry(HERE, sid, touch(h, now_ms(h.clock) + 60_000))
    await h.advance(30)
    await h.store.get_service(HERE, sid, Nested())
    await h.store.set_expiry(HERE, sid, touch(h, now_ms(h.clock)))  # now: gone
    with pytest.raises(NotFound):
        await h.store.get_service(HERE, sid, Nested())


async def test_auto_complete_after_idle_time(journey_backend: Harness) -> None:
    h = journey_backend
    idle = await start(h, auto_complete_after=60)
    busy = await start(h, auto_complete_after=60)
    never = await start(h)
    state = await h.store.start_item(HERE, idle, item(Kind.STATE), touch(h))
    await h.advance(45)
    await h.store.start_item(HERE, busy, item(Kind.TASK), touch(h))  # activity restarts it
    await h.advance(20)
    result = await h.store.sweep(batch=100)
    assert (result.deleted, result.completed) == (0, 1)
    got = await h.store.get_service(HERE, idle, EVERYTHING)
    assert got.completed == {"timestamp": format_time(got.started_at + 60_000)}
    assert got.states is not None
    assert got.states[0].item_id == state
    assert got.states[0].completed == got.completed
    for sid in (busy, never):
        assert (await h.store.get_service(HERE, sid, Nested())).completed is None
    await h.advance(60)
    assert (await h.store.sweep(batch=100)).completed == 1  # busy, in turn
    assert (await h.store.get_service(HERE, never, Nested())).completed is None


async def test_queries_filter_order_and_page(journey_backend: Harness) -> None:
    h = journey_backend
    t0 = now_ms(h.clock)
    made = []
    for n in range(6):
        made.append(
            await start(
                h,
                at=t0 + n * 1000,
                type_key="a" if n % 2 else "b",
                data={"n": n, "tag": "x" if n < 3 else "y", "flag": n == 4, "none": None},
            )
        )
    await h.store.end_service(HERE, made[1], ending(h), touch(h))
    newest_first = list(reversed(made))
    assert await ids(h, customer_id="cust") == newest_first
    assert await ids(h, customer_id="cust", limit=2, offset=1) == newest_first[1:3]
    assert await ids(h, customer_id="cust", status=Status.COMPLETED) == [made[1]]
    assert made[1] not in await ids(h, customer_id="cust", status=Status.ACTIVE)
    assert await ids(h, customer_id="cust", started_from=t0 + 2000, started_to=t0 + 4000) == [
        made[3],
        made[2],
    ]
    assert await ids(h, customer_id="cust", completed_from=now_ms(h.clock)) == [made[1]]
    assert await ids(h, customer_id="cust", completed_to=now_ms(h.clock)) == []
    assert await ids(h, customer_id="cust", service_types=("a",)) == [made[5], made[3], made[1]]

    async def where(*wanted: AttachedEquals) -> list[str]:
        return await ids(h, customer_id="cust", attached=wanted)

    assert await where(AttachedEquals("tag", ("y",))) == [made[5], made[4], made[3]]
    assert await where(AttachedEquals("n", ("2", "4.0"))) == [made[4], made[2]]
    assert await where(AttachedEquals("flag", ("true",))) == [made[4]]
    assert await where(AttachedEquals("none", ("null",))) == newest_first
    assert await where(AttachedEquals("tag", ("y",)), AttachedEquals("n", ("3",))) == [made[3]]
    assert await where(AttachedEquals("missing", ("x",))) == []
    assert await where(AttachedEquals("n", ("'; DROP TABLE cs_services; --",))) == []


async def test_attached_filter_ignores_containers_and_survives_nul(
    journey_backend: Harness,
) -> None:
    h = journey_backend
    listed = await start(h, data={"k": ["v"], "s": "v"})
    odd = await start(h, data={"k": "v", "nul": "\x00"})
    found = await ids(h, customer_id="cust", attached=(AttachedEquals("k", ("v",)),))
    assert listed not in found  # only scalars compare
    # PostgreSQL cannot look inside attached data holding U+0000; the query must still work.
    assert found in ([odd], [])


async def test_anonymous_lists_and_association(journey_backend: Harness) -> None:
    h = journey_backend
    anon = await start(h, customer_id=None, contact_key="408-832-7799")
    known = await start(h, customer_id="bob", contact_key="408-832-7799")
    assert await ids(h, contact_key="408-832-7799") == [anon]
    association = Association("ann", {"session_id": "s2"}, {"vip": True})
    await h.store.associate(HERE, anon, association, touch(h))
    assert await ids(h, contact_key="408-832-7799") == []
    assert await ids(h, customer_id="ann") == [anon]
    got = await h.store.get_service(HERE, anon, Nested())
    assert got.started["session_id"] == "s2"
    assert next(iter(got.started)) == "timestamp"
    assert got.data == {"vip": True}
    await h.store.associate(HERE, anon, Association("carl", {}, {}), touch(h))
    assert await ids(h, customer_id="ann") == []
    assert await ids(h, customer_id="carl") == [anon]
    assert await ids(h, customer_id="bob") == [known]


async def test_extensions_replace_one_key(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h, data={"a": 1, "b": 2})
    state = await h.store.start_item(HERE, sid, item(Kind.STATE, x=1), touch(h))
    await h.store.put_extension(HERE, sid, None, "a", {"new": [1]}, touch(h))
    await h.store.put_extension(HERE, sid, (Kind.STATE, state), "x", "y", touch(h))
    with pytest.raises(NotFound):
        await h.store.put_extension(HERE, sid, (Kind.TASK, state), "x", 1, touch(h))
    got = await h.store.get_service(HERE, sid, EVERYTHING)
    assert got.data == {"a": {"new": [1]}, "b": 2}
    assert got.states is not None
    assert got.states[0].data == {"x": "y"}


async def test_items_filter_and_nest(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h)
    s1 = await h.store.start_item(HERE, sid, item(Kind.STATE, "a"), touch(h))
    s2 = await h.store.start_item(HERE, sid, item(Kind.STATE, "b"), touch(h))
    t1 = await h.store.start_item(HERE, sid, item(Kind.TASK, "x", s1), touch(h))
    t2 = await h.store.start_item(HERE, sid, item(Kind.TASK, "y", s2), touch(h))
    await h.store.end_item(HERE, sid, Kind.TASK, t2, ending(h), touch(h))
    with pytest.raises(NotFound):
        await h.store.start_item(HERE, sid, item(Kind.TASK, "z", 999), touch(h))
    listed = await h.store.list_items(HERE, sid, Kind.STATE, ItemFilter(types=("b",)), None)
    assert [s.item_id for s in listed] == [s2]
    by_state = await h.store.list_items(HERE, sid, Kind.TASK, ItemFilter(state_id=s2), None)
    assert [t.item_id for t in by_state] == [t2]
    with_tasks = await h.store.list_items(
        HERE, sid, Kind.STATE, ItemFilter(), ItemFilter(Status.ACTIVE)
    )
    assert [[t.item_id for t in s.tasks or []] for s in with_tasks] == [[t1], []]
    one = await h.store.get_item(HERE, sid, Kind.STATE, s2, ItemFilter(Status.COMPLETED))
    assert [t.item_id for t in one.tasks or []] == [t2]
    nested = await h.store.get_service(HERE, sid, Nested(active_tasks=True, state_types=("a",)))
    assert nested.states is None
    assert [t.item_id for t in nested.tasks or []] == [t1]


async def test_another_space_sees_and_touches_nothing(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h, contact_key="k", customer_id=None)
    state = await h.store.start_item(HERE, sid, item(Kind.STATE), touch(h))
    for space in (ELSEWHERE, Space("acme", "sales"), Space("", "")):
        for call in (
            h.store.get_service(space, sid, Nested()),
            h.store.end_service(space, sid, ending(h), touch(h)),
            h.store.delete_service(space, sid),
            h.store.set_expiry(space, sid, touch(h, 0)),
            h.store.associate(space, sid, Association("x", {}, {}), touch(h)),
            h.store.put_extension(space, sid, None, "a", 1, touch(h)),
            h.store.start_item(space, sid, item(Kind.STATE), touch(h)),
            h.store.end_item(space, sid, Kind.STATE, state, ending(h), touch(h)),
            h.store.get_item(space, sid, Kind.STATE, state, None),
            h.store.list_items(space, sid, Kind.STATE, ItemFilter(), None),
        ):
            with pytest.raises(NotFound):
                await call
        assert await ids(h, space, contact_key="k") == []
        assert await h.store.export_page(space, TimeWindow(), None, 10) == []
        assert await h.store.purge(space, PurgeOperation.ALL, now_ms(h.clock) + 1, 100) == 0
    got = await h.store.get_service(HERE, sid, EVERYTHING)
    assert got.completed is None
    assert got.customer_id is None
    assert got.data == {}
    assert got.states is not None
    assert len(got.states) == 1
    assert got.states[0].completed is None


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (PurgeOperation.ALL, {"anon_open", "anon_done", "known_open", "known_done"}),
        (PurgeOperation.STARTED, {"anon_open", "known_open"}),
        (PurgeOperation.STARTED_ANONYMOUS, {"anon_open"}),
        (PurgeOperation.COMPLETED, {"anon_done", "known_done"}),
        (PurgeOperation.COMPLETED_ANONYMOUS, {"anon_done"}),
    ],
)
async def test_purge_operations(
    journey_backend: Harness, operation: PurgeOperation, expected: set[str]
) -> None:
    h = journey_backend
    t0 = now_ms(h.clock)
    made = {}
    for name in ("anon_open", "anon_done", "known_open", "known_done"):
        customer = None if name.startswith("anon") else "cust"
        made[name] = await start(h, at=t0 - 1000, customer_id=customer, contact_key="k")
        if name.endswith("done"):
            await h.store.end_service(HERE, made[name], ending(h), touch(h))
    late = await start(h, at=t0 + 1000)
    foreign = await start(h, ELSEWHERE, at=t0 - 1000)
    assert await h.store.purge(HERE, operation, t0, 1000) == len(expected)
    for name, sid in made.items():
        if name in expected:
            with pytest.raises(NotFound):
                await h.store.get_service(HERE, sid, Nested())
        else:
            await h.store.get_service(HERE, sid, Nested())
    await h.store.get_service(HERE, late, Nested())
    await h.store.get_service(ELSEWHERE, foreign, Nested())


async def test_purge_and_export_page_in_batches(journey_backend: Harness) -> None:
    h = journey_backend
    t0 = now_ms(h.clock)
    made = [await start(h, at=t0 + (n // 2) * 1000) for n in range(7)]  # ties on start time
    seen: list[str] = []
    after = None
    while page := await h.store.export_page(HERE, TimeWindow(t0, t0 + 3000), after, 2):
        assert all(p.states == [] and p.tasks == [] for p in page)
        seen += [p.service_id for p in page]
        after = (page[-1].started_at, page[-1].service_id)
    assert sorted(seen) == sorted(made[:6])
    assert len(seen) == 6
    assert [await h.store.purge(HERE, PurgeOperation.ALL, t0 + 10_000, 3) for _ in range(4)] == [
        3,
        3,
        1,
        0,
    ]


async def test_ends_without_attached_data_keep_it_and_with_some_merge_it(
    journey_backend: Harness,
) -> None:
    h = journey_backend
    sid = await start(h, data={"keep": 1, "z": [1, 2]})
    state = await h.store.start_item(HERE, sid, item(Kind.STATE, menu=2, a="x"), touch(h))
    task = await h.store.start_item(HERE, sid, item(Kind.TASK, "t", state, note="n"), touch(h))
    done = ending(h, disposition="done")
    await h.store.end_item(HERE, sid, Kind.TASK, task, done, touch(h))
    merge = replace(ending(h), data={"menu": 3, "b": True})
    await h.store.end_item(HERE, sid, Kind.STATE, state, merge, touch(h))
    closed = ending(h, disposition="ok")
    await h.store.end_service(HERE, sid, closed, touch(h))
    got = await h.store.get_service(HERE, sid, EVERYTHING)
    assert got.completed == closed.completed
    assert list(got.data.items()) == [("keep", 1), ("z", [1, 2])]
    assert got.states is not None
    assert got.tasks is not None
    assert list(got.states[0].data.items()) == [("menu", 3), ("a", "x"), ("b", True)]
    assert got.tasks[0].data == {"note": "n"}
    assert got.tasks[0].completed == done.completed


async def test_writes_move_the_expiry_and_failed_writes_move_nothing(
    journey_backend: Harness,
) -> None:
    h = journey_backend
    sid = await start(h, ttl_ms=10_000)
    t0 = now_ms(h.clock)
    later, much_later = t0 + 20_000, t0 + 60_000
    with pytest.raises(NotFound):  # names a state that does not exist
        await h.store.start_item(HERE, sid, item(Kind.TASK, ref_id=99), touch(h, much_later))
    with pytest.raises(NotFound):
        await h.store.end_item(HERE, sid, Kind.TASK, 7, ending(h), touch(h, much_later))
    state = await h.store.start_item(HERE, sid, item(Kind.STATE), touch(h, later))
    task = await h.store.start_item(HERE, sid, item(Kind.TASK, ref_id=state), touch(h, later))
    await h.store.end_item(HERE, sid, Kind.TASK, task, ending(h), touch(h, later))
    with pytest.raises(AlreadyEnded):
        await h.store.end_item(HERE, sid, Kind.TASK, task, ending(h), touch(h, much_later))
    assert task == state + 1  # the failed start gave out no id
    await h.advance(15)
    await h.store.get_service(HERE, sid, Nested())  # the writes moved the expiry
    await h.advance(10)
    with pytest.raises(NotFound):  # and the failed ones did not
        await h.store.get_service(HERE, sid, Nested())


async def test_service_end_moves_the_expiry_unless_it_fails(journey_backend: Harness) -> None:
    h = journey_backend
    sid = await start(h, ttl_ms=10_000)
    t0 = now_ms(h.clock)
    await h.store.end_service(HERE, sid, ending(h), touch(h, t0 + 20_000))
    with pytest.raises(AlreadyEnded):
        await h.store.end_service(HERE, sid, ending(h), touch(h, t0 + 60_000))
    await h.advance(15)
    assert (await h.store.get_service(HERE, sid, Nested())).completed is not None
    await h.advance(10)
    with pytest.raises(NotFound):
        await h.store.get_service(HERE, sid, Nested())
