"""The building blocks of the JourneyStore on SQL, shared by the SQLite and PostgreSQL backends.

Every statement is built here from fixed fragments; values (every user string among them) only
ever travel as parameters, through `Args`, which also writes the dialect's placeholders. A
backend supplies its connection, its transactions (`Tx`) and a few dialect fragments.

Concurrency, the same on both: every write to a service starts with `_touch`, an UPDATE of the
service row, which both checks that the service is live in the space and locks the row until
commit (SQLite: BEGIN IMMEDIATE locks the whole file). Writes to one service therefore queue
behind each other, and the checks that follow (is this state still active?) cannot be overtaken.
Ends also carry `ended_at IS NULL` in their UPDATE and check the row count. (PostgreSQL does its
hot writes in one statement each instead, in the same lock order: see `pg_writes.py`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from cxgate.clock import Clock
from cxgate.errors import AlreadyEnded, NotFound
from cxgate.journey import rows
from cxgate.journey.models import (
    AttachedEquals,
    CompositeEntry,
    Ending,
    ItemFilter,
    ItemRecord,
    Kind,
    Nested,
    NewItem,
    NewService,
    ServiceRecord,
    Space,
    Status,
    Touch,
)
from cxgate.journey.rows import Row
from cxgate.journey.times import now_ms

# Why `s.tenant || ''` (the same text) where a service is looked up by id: with a bare
# `s.tenant = ?`, PostgreSQL (tables never analysed, as autovacuum may be off) took the index on
# (tenant, grp, started_at, id) for `id = ?` too, scanning every service of the space for each
# write: 33 pages for 2,000 services instead of 3, and worse as the space grows. The expression
# leaves the primary key as the only index that the lookup can use.
_STATUS = {
    Status.ALL: "",
    Status.ACTIVE: " AND {p}ended_at IS NULL",
    Status.COMPLETED: " AND {p}ended_at IS NOT NULL",
}


class Tx(Protocol):
    """One transaction of a backend."""

    async def rows(self, sql: str, args: Sequence[Any]) -> list[Row]: ...

    async def row(self, sql: str, args: Sequence[Any]) -> Row | None: ...

    async def run(self, sql: str, args: Sequence[Any]) -> int:
        """Execute; return how many rows it changed."""
        ...


class Args:
    """Parameters in order, handing out the dialect's placeholder for each: `?` or `$n`."""

    def __init__(self, numbered: bool) -> None:
        self.numbered = numbered
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self.numbered else "?"

    def each(self, values: Sequence[Any]) -> str:
        return ", ".join(self(value) for value in values)


def status_clause(status: Status, prefix: str = "") -> str:
    return _STATUS[status].format(p=prefix)


class SqlBase:
    """What the operations (`sql_store.SqlJourneyStore`) build on: the dialect hooks that a
    backend fills in, and the statements that several operations share."""

    clock: Clock
    numbered = False  # `$n` placeholders instead of `?`
    same = "IS"  # null-safe equality

    # -- dialect ------------------------------------------------------------------------------
    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    def autocommit(self) -> AbstractAsyncContextManager[Tx]:
        """A connection on which each statement is its own transaction: for work that is one
        statement (atomic and one snapshot by itself), without BEGIN and COMMIT around it."""
        raise NotImplementedError

    def attached(self, arg: Args, wanted: AttachedEquals) -> str:
        """SQL true when attached data `wanted.key` equals one of `wanted.values`."""
        raise NotImplementedError

    async def lock_composite(self, tx: Tx, space: Space, entries: list[CompositeEntry]) -> None:
        """Serialise racing composite starts for the same services (SQLite: its write lock)."""

    # -- helpers ------------------------------------------------------------------------------
    def _args(self) -> Args:
        return Args(self.numbered)

    def _now(self) -> int:
        return now_ms(self.clock)

    def _live(self, arg: Args, space: Space, service_id: str) -> str:
        """SQL true for the service while it is live in `space`. Its row is found by the primary
        key alone: see the comment above `_STATUS`."""
        return (
            f"s.id = {arg(service_id)} AND s.tenant || '' = {arg(space.tenant)} "
            f"AND s.grp || '' = {arg(space.group)} AND s.expires_at > {arg(self._now())}"
        )

    async def _touch(
        self, tx: Tx, space: Space, service_id: str, touch: Touch, bump: int = 0
    ) -> int:
        """Check the service is live here, lock it, record activity, apply a new expiry and,
        with `bump`, hand out the next state or task id."""
        arg = self._args()
        sql = (
            f"UPDATE cs_services AS s SET next_id = next_id + {arg(bump)}, "
            "complete_at = CASE WHEN ended_at IS NULL AND auto_complete_after IS NOT NULL "
            f"THEN {arg(touch.now)} + auto_complete_after * 1000 END, "
            f"expires_at = COALESCE({arg(touch.expires_at)}, expires_at) "
            f"WHERE {self._live(arg, space, service_id)} RETURNING next_id"
        )
        row = await tx.row(sql, arg.values)
        if row is None:
            raise NotFound(f"service {service_id} not found")
        return int(row[0])

    async def _service(self, tx: Tx, space: Space, service_id: str) -> ServiceRecord:
        arg = self._args()
        sql = f"SELECT {rows.SERVICE_COLUMNS} FROM cs_services AS s WHERE "
        found = await tx.row(sql + self._live(arg, space, service_id), arg.values)
        if found is None:
            raise NotFound(f"service {service_id} not found")
        return rows.service(found)

    async def _column(self, tx: Tx, column: str, service_id: str) -> Any:
        """One column (named by this package, never by a request) of a touched service."""
        arg = self._args()
        sql = f"SELECT {column} FROM cs_services WHERE id = {arg(service_id)}"
        found = await tx.row(sql, arg.values)
        assert found is not None  # the caller touched (and so locked) the service
        return found[0]

    async def _items(
        self, tx: Tx, kind: Kind, service_ids: list[str], which: ItemFilter
    ) -> list[ItemRecord]:
        if not service_ids:
            return []
        arg = self._args()
        sql = (
            f"SELECT {rows.ITEM_COLUMNS} FROM {rows.TABLES[kind]} "
            f"WHERE service_id IN ({arg.each(service_ids)}){status_clause(which.status)}"
        )
        if which.types:
            sql += f" AND item_type IN ({arg.each(which.types)})"
        if which.state_id is not None:
            sql += f" AND ref_id = {arg(which.state_id)}"
        found = await tx.rows(sql + " ORDER BY service_id, item_id", arg.values)
        return [rows.item(kind, row) for row in found]

    async def _nest(self, tx: Tx, services: list[ServiceRecord], nested: Nested) -> None:
        ids = [s.service_id for s in services]
        for kind, which in ((Kind.STATE, nested.states), (Kind.TASK, nested.tasks)):
            if which is not None:
                rows.attach(services, kind, await self._items(tx, kind, ids, which))

    async def _end_item(
        self, tx: Tx, service_id: str, kind: Kind, item_id: int, ending: Ending
    ) -> None:
        """End an item of a touched (so locked, nothing can overtake) service. Its stored
        attached data is read only when the ending brings some to merge into it."""
        table = rows.TABLES[kind]
        arg = self._args()
        sql = (
            f"UPDATE {table} SET ended_at = {arg(ending.ended_at)}, "
            f"completed = {arg(rows.dumps(ending.completed))}"
        )
        if ending.data:
            stored = await self._item_data(tx, service_id, kind, item_id)
            sql += f", data = {arg(rows.merged(stored, ending.data))}"
        sql += (
            f" WHERE service_id = {arg(service_id)} AND item_id = {arg(item_id)} "
            "AND ended_at IS NULL"
        )
        if await tx.run(sql, arg.values) != 1:
            await self._item_data(tx, service_id, kind, item_id)  # raises NotFound if missing
            raise AlreadyEnded(f"{kind} {item_id} has already ended")

    async def _item_data(self, tx: Tx, service_id: str, kind: Kind, item_id: int) -> str:
        arg = self._args()
        sql = (
            f"SELECT data FROM {rows.TABLES[kind]} "
            f"WHERE service_id = {arg(service_id)} AND item_id = {arg(item_id)}"
        )
        found = await tx.row(sql, arg.values)
        if found is None:
            raise NotFound(f"{kind} {item_id} not found in service {service_id}")
        return str(found[0])

    async def _end_items(self, tx: Tx, service_id: str, ended_at: int, completed: str) -> None:
        for table in rows.TABLES.values():
            arg = self._args()
            sql = (
                f"UPDATE {table} SET ended_at = {arg(ended_at)}, completed = {arg(completed)} "
                f"WHERE service_id = {arg(service_id)} AND ended_at IS NULL"
            )
            await tx.run(sql, arg.values)

    async def _put_item(self, tx: Tx, service_id: str, number: int, new: NewItem) -> None:
        if new.ref_id is not None:
            arg = self._args()
            sql = (
                f"SELECT 1 FROM cs_states WHERE service_id = {arg(service_id)} "
                f"AND item_id = {arg(new.ref_id)}"
            )
            if await tx.row(sql, arg.values) is None:
                raise NotFound(f"state {new.ref_id} not found in service {service_id}")
        arg = self._args()
        values = (
            service_id,
            number,
            new.type_key,
            new.ref_id,
            new.started_at,
            rows.dumps(new.props),
            rows.dumps(new.started),
            rows.dumps(new.data),
        )
        sql = (
            f"INSERT INTO {rows.TABLES[new.kind]} (service_id, item_id, item_type, ref_id, "
            f"started_at, props, started, data) VALUES ({arg.each(values)})"
        )
        await tx.run(sql, arg.values)

    async def _add_item(
        self, tx: Tx, space: Space, service_id: str, new: NewItem, touch: Touch
    ) -> int:
        number = await self._touch(tx, space, service_id, touch, bump=1)
        await self._put_item(tx, service_id, number, new)
        return number

    async def _insert_service(self, tx: Tx, space: Space, new: NewService) -> None:
        complete_at = None
        if new.auto_complete_after is not None:
            complete_at = self._now() + new.auto_complete_after * 1000
        arg = self._args()
        values = (
            new.service_id,
            space.tenant,
            space.group,
            new.customer_id,
            new.contact_key,
            new.type_key,
            new.started_at,
            new.expires_at,
            new.auto_complete_after,
            complete_at,
            rows.dumps(new.props),
            rows.dumps(new.started),
            rows.dumps(new.data),
        )
        sql = (
            "INSERT INTO cs_services (id, tenant, grp, customer_id, contact_key, service_type, "
            "started_at, expires_at, auto_complete_after, complete_at, props, started, data) "
            f"VALUES ({arg.each(values)})"
        )
        await tx.run(sql, arg.values)
