"""Query parameters -> the typed, whitelisted forms (journey/filters.py, journey/views.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxgate.errors import BadRequest
from cxgate.journey import filters
from cxgate.journey.models import AttachedEquals, ItemRecord, Kind, Space, Status
from cxgate.journey.views import parse_extensions, render_item

SPACE = Space("", "")


def test_list_parameters_union_comma_and_repeats() -> None:
    params = [("service_types", "1,3"), ("service_types", "45"), ("service_types", " 3 ,,")]
    assert filters.values(params, "service_types") == ("1", "3", "45")


@given(st.lists(st.text(alphabet="abc123", min_size=1, max_size=4), min_size=1, max_size=10))
def test_comma_list_and_repeats_mean_the_same(names: list[str]) -> None:
    joined = filters.values([("t", ",".join(names))], "t")
    repeated = filters.values([("t", n) for n in names], "t")
    assert joined == repeated == tuple(dict.fromkeys(names))


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("TRUE", True), ("false", False)])
def test_flags(raw: str, value: bool) -> None:
    assert filters.flag([("active_states", raw)], "active_states") is value


def test_bad_flag() -> None:
    with pytest.raises(BadRequest, match="active_states"):
        filters.flag([("active_states", "yes")], "active_states")


def test_service_query_sorts_parameters_into_their_places() -> None:
    params = [
        ("started_from", "2016-3-7T4:5:6.634Z"),
        ("service_types", "a,b"),
        ("active_states", "true"),
        ("extensions", "*"),
        ("limit", "10"),
        ("offset", "20"),
        ("color", "red"),
        ("color", "blue"),
        ("size", "5"),
    ]
    query = filters.service_query(params, space=SPACE, status=Status.ACTIVE, customer_id="c")
    assert query.started_from == 1_457_323_506_634
    assert query.service_types == ("a", "b")
    assert (query.limit, query.offset) == (10, 20)
    assert query.attached == (
        AttachedEquals("color", ("red", "blue")),
        AttachedEquals("size", ("5",)),
    )


@pytest.mark.parametrize(
    "params",
    [
        [("limit", "1001")],
        [("limit", "0")],
        [("offset", "-1")],
        [("limit", "x")],
        [("started_to", "yesterday")],
        [("service_types", ",".join(str(n) for n in range(101)))],
        [(f"k{n}", "v") for n in range(21)],
    ],
)
def test_bad_queries(params: list[tuple[str, str]]) -> None:
    with pytest.raises(BadRequest):
        filters.service_query(params, space=SPACE, status=Status.ALL, customer_id="c")


def test_default_page() -> None:
    query = filters.service_query([], space=SPACE, status=Status.ALL, contact_key="k")
    assert (query.limit, query.offset) == (100, 0)


@pytest.mark.parametrize(
    ("value", "number"),
    [("5", 5), ("5.0", 5.0), ("-1e3", -1000.0), ("abc", None), ("true", None), ("05", None)],
)
def test_number_literal(value: str, number: object) -> None:
    assert filters.number_literal(value) == number


def test_extension_selection() -> None:
    ext = parse_extensions(("Feedback", "State.rating", "Task", "*x"))
    data = {"Feedback": 1, "rating": 2, "other": 3, "*x": 4}
    assert ext.own.pick(data) == {"Feedback": 1, "*x": 4}
    assert ext.state.pick(data) == {"rating": 2}
    assert ext.task.pick(data) == data
    everything = parse_extensions(("*",))
    assert everything.own.pick(data) == everything.state.pick(data) == data
    assert parse_extensions(("State.*",)).state.every


def test_top_level_item_takes_own_and_kind_selection() -> None:
    state = ItemRecord(
        Kind.STATE, "1-x", 3, {"state_type": 1}, {"timestamp": "t"}, None, {"a": 1, "b": 2}
    )
    shown = render_item(state, parse_extensions(("a", "State.b")))
    assert shown == {
        "service_id": "1-x",
        "state_id": 3,
        "state_type": 1,
        "started": {"timestamp": "t"},
        "a": 1,
        "b": 2,
    }
    listed = render_item(state, parse_extensions(()), with_service_id=False)
    assert "service_id" not in listed
    assert "a" not in listed
