"""Rows <-> records, shared by the SQL backends (a row is any sequence: a sqlite3 tuple or an
asyncpg Record, both indexable by position, in the column order below)."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from cxgate.journey.models import ItemRecord, JsonObject, Kind, ServiceRecord

SERVICE_COLUMNS = (
    "s.id, s.customer_id, s.contact_key, s.props, s.started, s.completed, s.data, s.started_at"
)
ITEM_COLUMNS = "service_id, item_id, ref_id, props, started, completed, data"
# Item tables by kind: the only way a table name enters SQL text.
TABLES = {Kind.STATE: "cs_states", Kind.TASK: "cs_tasks"}


class Row(Protocol):
    """A result row: a sqlite3 tuple or an asyncpg Record."""

    def __getitem__(self, index: int, /) -> Any: ...


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def service(row: Row) -> ServiceRecord:
    return ServiceRecord(
        service_id=row[0],
        customer_id=row[1],
        contact_key=row[2],
        props=loads(row[3]),
        started=loads(row[4]),
        completed=loads(row[5]),
        data=loads(row[6]),
        started_at=row[7],
    )


def item(kind: Kind, row: Row) -> ItemRecord:
    return ItemRecord(
        kind=kind,
        service_id=row[0],
        item_id=row[1],
        ref_id=row[2],
        props=loads(row[3]),
        started=loads(row[4]),
        completed=loads(row[5]),
        data=loads(row[6]),
    )


def merged(stored: str, update: JsonObject) -> str:
    """Attached data (or event fields) with `update`'s keys added or replaced; untouched keys
    keep their place and their exact value."""
    if not update:
        return stored
    current: JsonObject = loads(stored)
    current.update(update)
    return dumps(current)


def cascade_end(completed: JsonObject) -> str:
    """The end event of a state or task that ends because its service does: the same time,
    none of the service's disposition."""
    return dumps({"timestamp": completed["timestamp"]})


def attach(services: list[ServiceRecord], kind: Kind, items: list[ItemRecord]) -> None:
    by_service: dict[str, list[ItemRecord]] = {s.service_id: [] for s in services}
    for one in items:
        by_service[one.service_id].append(one)
    for record in services:
        if kind is Kind.STATE:
            record.states = by_service[record.service_id]
        else:
            record.tasks = by_service[record.service_id]


def attach_tasks(states: list[ItemRecord], tasks: list[ItemRecord]) -> None:
    """Each state's own tasks (those whose state_id names it)."""
    by_state: dict[int, list[ItemRecord]] = {s.item_id: [] for s in states}
    for task in tasks:
        if task.ref_id in by_state:
            by_state[task.ref_id].append(task)
    for state in states:
        state.tasks = by_state[state.item_id]
