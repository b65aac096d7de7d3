"""Query parameters -> a typed, whitelisted form (`ServiceQuery`, `ItemFilter`, `Nested`,
`Extensions`) that each backend compiles into parameterised SQL.

List parameters (`service_types`, `state_types`, `task_types`, `extensions`) may be a comma list
or repeated; both mean the union. On the customer and anonymous lists, every parameter that is
not one of ours filters on attached data (a repeated one matches any of its values). Paging:
`limit` (default `[cs] page_size`, 100; at most `[cs] max_page_size`, 1000) and `offset`.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from cxgate.errors import BadRequest
from cxgate.journey.events import integer, item_id, text
from cxgate.journey.models import (
    AttachedEquals,
    ItemFilter,
    Nested,
    ServiceQuery,
    Space,
    Status,
)
from cxgate.journey.times import parse_time
from cxgate.journey.views import Extensions, parse_extensions

Params = Sequence[tuple[str, str]]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_LIST = 100  # values in one list parameter
MAX_ATTACHED = 20  # attached-data filters in one query

_FLAGS = ("active_states", "completed_states", "active_tasks", "completed_tasks")
_TIMES = ("started_from", "started_to", "completed_from", "completed_to")
_LISTS = ("service_types", "state_types", "task_types", "extensions")
OWN_PARAMETERS = frozenset((*_FLAGS, *_TIMES, *_LISTS, "limit", "offset", "state_id"))


def values(params: Params, name: str) -> tuple[str, ...]:
    """Every value of a list parameter, comma lists and repeats together, in order, once."""
    found: dict[str, None] = {}
    for key, value in params:
        if key == name:
            for part in value.split(","):
                if part.strip():
                    found[text(part.strip(), name)] = None
    if len(found) > MAX_LIST:
        raise BadRequest(f"{name} may list at most {MAX_LIST} values")
    return tuple(found)


def _last(params: Params, name: str) -> str | None:
    found = None
    for key, value in params:
        if key == name:
            found = value
    return found


def flag(params: Params, name: str) -> bool:
    raw = _last(params, name)
    if raw is None or raw.strip().lower() in ("", "false"):
        return False
    if raw.strip().lower() == "true":
        return True
    raise BadRequest(f"{name} must be true or false")


def time_param(params: Params, name: str) -> int | None:
    raw = _last(params, name)
    return None if raw is None or not raw.strip() else parse_time(raw, field=name)


def extensions(params: Params) -> Extensions:
    return parse_extensions(values(params, "extensions"))


def nested(params: Params) -> Nested:
    return Nested(
        active_states=flag(params, "active_states"),
        completed_states=flag(params, "completed_states"),
        active_tasks=flag(params, "active_tasks"),
        completed_tasks=flag(params, "completed_tasks"),
        state_types=values(params, "state_types"),
        task_types=values(params, "task_types"),
    )


def item_filter(params: Params, status: Status, *, tasks: bool) -> ItemFilter:
    """Which states (`state_types`) or tasks (`task_types`, `state_id`) a list returns."""
    raw_state = _last(params, "state_id") if tasks else None
    return ItemFilter(
        status,
        values(params, "task_types" if tasks else "state_types"),
        None if raw_state is None else item_id(raw_state, "state_id"),
    )


def _paging(params: Params, page_size: int, max_page_size: int) -> tuple[int, int]:
    raw_limit, raw_offset = _last(params, "limit"), _last(params, "offset")
    limit = page_size if raw_limit is None else integer(raw_limit, "limit", minimum=1)
    if limit > max_page_size:
        raise BadRequest(f"limit may be at most {max_page_size}; page on with offset")
    offset = 0 if raw_offset is None else integer(raw_offset, "offset", minimum=0)
    return limit, offset


def _attached(params: Params) -> tuple[AttachedEquals, ...]:
    wanted: dict[str, dict[str, None]] = {}
    for key, value in params:
        if key not in OWN_PARAMETERS:
            text(key, "an attached-data filter name")
            wanted.setdefault(key, {})[text(value, key)] = None
    if len(wanted) > MAX_ATTACHED:
        raise BadRequest(f"at most {MAX_ATTACHED} attached-data filters per query")
    if any(len(v) > MAX_LIST for v in wanted.values()):
        raise BadRequest(f"an attached-data filter may list at most {MAX_LIST} values")
    return tuple(AttachedEquals(key, tuple(vals)) for key, vals in wanted.items())


def service_query(
    params: Params,
    *,
    space: Space,
    status: Status,
    customer_id: str | None = None,
    contact_key: str | None = None,
    page_size: int = DEFAULT_LIMIT,
    max_page_size: int = MAX_LIMIT,
) -> ServiceQuery:
    limit, offset = _paging(params, page_size, max_page_size)
    started_from, started_to, completed_from, completed_to = (
        time_param(params, name) for name in _TIMES
    )
    return ServiceQuery(
        space=space,
        customer_id=customer_id,
        contact_key=contact_key,
        status=status,
        started_from=started_from,
        started_to=started_to,
        completed_from=completed_from,
        completed_to=completed_to,
        service_types=values(params, "service_types"),
        attached=_attached(params),
        limit=limit,
        offset=offset,
    )


def number_literal(value: str) -> int | float | None:
    """The number a filter value names when it reads as a JSON number, else None."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, bool) or not isinstance(parsed, int | float):
        return None
    return parsed
