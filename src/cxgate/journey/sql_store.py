"""The JourneyStore operations on SQL (`sql.py` has the building blocks and the rules).

A backend subclasses `SqlJourneyStore` and fills in the dialect hooks of `SqlBase`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from cxgate.errors import AlreadyEnded, NotFound
from cxgate.journey import rows
from cxgate.journey.models import (
    EVERYTHING,
    Association,
    CompositeEntry,
    CompositeOutcome,
    Ending,
    ItemFilter,
    ItemRecord,
    Json,
    Kind,
    Nested,
    NewItem,
    NewService,
    PurgeOperation,
    ServiceQuery,
    ServiceRecord,
    Space,
    SweepResult,
    TimeWindow,
    Touch,
)
from cxgate.journey.sql import Args, SqlBase, Tx, status_clause
from cxgate.journey.times import format_time


class SqlJourneyStore(SqlBase):
    """The JourneyStore protocol (journey/store.py) for an SQL backend."""

    # -- services -----------------------------------------------------------------------------
    async def start_service(self, space: Space, new: NewService) -> None:
        async with self.autocommit() as tx:
            await self._insert_service(tx, space, new)

    async def end_service(
        self, space: Space, service_id: str, ending: Ending, touch: Touch
    ) -> None:
        async with self.transaction() as tx:
            await self._touch(tx, space, service_id, touch)
            arg = self._args()
            sql = (
                f"UPDATE cs_services SET ended_at = {arg(ending.ended_at)}, "
                f"completed = {arg(rows.dumps(ending.completed))}, complete_at = NULL"
            )
            if ending.data:  # else the stored attached data stays as it is, unread
                data = await self._column(tx, "data", service_id)
                sql += f", data = {arg(rows.merged(data, ending.data))}"
            sql += f" WHERE id = {arg(service_id)} AND ended_at IS NULL"
            if await tx.run(sql, arg.values) != 1:
                raise AlreadyEnded(f"service {service_id} has already ended")
            await self._end_items(
                tx, service_id, ending.ended_at, rows.cascade_end(ending.completed)
            )

    async def get_service(self, space: Space, service_id: str, nested: Nested) -> ServiceRecord:
        async with self._reading(nested) as tx:
            record = await self._service(tx, space, service_id)
            await self._nest(tx, [record], nested)
        return record

    async def delete_service(self, space: Space, service_id: str) -> None:
        arg = self._args()
        sql = f"DELETE FROM cs_services AS s WHERE {self._live(arg, space, service_id)}"
        async with self.autocommit() as tx:
            if await tx.run(sql, arg.values) != 1:
                raise NotFound(f"service {service_id} not found")

    async def set_expiry(self, space: Space, service_id: str, touch: Touch) -> None:
        async with self.autocommit() as tx:
            await self._touch(tx, space, service_id, touch)

    async def associate(
        self, space: Space, service_id: str, association: Association, touch: Touch
    ) -> None:
        async with self.transaction() as tx:
            await self._touch(tx, space, service_id, touch)
            started = await self._column(tx, "started", service_id)
            data = await self._column(tx, "data", service_id)
            arg = self._args()
            sql = (
                f"UPDATE cs_services SET customer_id = {arg(association.customer_id)}, "
                f"started = {arg(rows.merged(started, association.started))}, "
                f"data = {arg(rows.merged(data, association.data))} "
                f"WHERE id = {arg(service_id)}"
            )
            await tx.run(sql, arg.values)

    async def put_extension(
        self,
        space: Space,
        service_id: str,
        item: tuple[Kind, int] | None,
        name: str,
        value: Json,
        touch: Touch,
    ) -> None:
        async with self.transaction() as tx:
            await self._touch(tx, space, service_id, touch)
            table = "cs_services" if item is None else rows.TABLES[item[0]]

            def where(arg: Args) -> str:
                if item is None:
                    return f"id = {arg(service_id)}"
                return f"service_id = {arg(service_id)} AND item_id = {arg(item[1])}"

            arg = self._args()
            found = await tx.row(f"SELECT data FROM {table} WHERE {where(arg)}", arg.values)
            if found is None:
                assert item is not None  # the touch found the service
                raise NotFound(f"{item[0]} {item[1]} not found in service {service_id}")
            arg = self._args()
            new_data = arg(rows.merged(found[0], {name: value}))
            await tx.run(f"UPDATE {table} SET data = {new_data} WHERE {where(arg)}", arg.values)

    async def query_services(self, query: ServiceQuery, nested: Nested) -> list[ServiceRecord]:
        arg = self._args()
        sql = self._compile(arg, query)
        async with self._reading(nested) as tx:
            found = [rows.service(row) for row in await tx.rows(sql, arg.values)]
            await self._nest(tx, found, nested)
        return found

    def _reading(self, nested: Nested) -> AbstractAsyncContextManager[Tx]:
        """Services alone come from one statement, which needs no transaction; with nested
        items, one read-only transaction gives all statements the same snapshot."""
        if nested.states is None and nested.tasks is None:
            return self.autocommit()
        return self.transaction(write=False)

    def _compile(self, arg: Args, query: ServiceQuery) -> str:
        space = query.space
        sql = (
            f"SELECT {rows.SERVICE_COLUMNS} FROM cs_services AS s "
            f"WHERE s.tenant = {arg(space.tenant)} AND s.grp = {arg(space.group)}"
        )
        if query.customer_id is not None:
            sql += f" AND s.customer_id = {arg(query.customer_id)}"
        else:
            sql += f" AND s.customer_id IS NULL AND s.contact_key = {arg(query.contact_key)}"
        sql += f" AND s.expires_at > {arg(self._now())}" + status_clause(query.status, "s.")
        for column, operator, bound in (
            ("started_at", ">=", query.started_from),
            ("started_at", "<", query.started_to),
            ("ended_at", ">=", query.completed_from),
            ("ended_at", "<", query.completed_to),
        ):
            if bound is not None:
                sql += f" AND s.{column} {operator} {arg(bound)}"
        if query.service_types:
            sql += f" AND s.service_type IN ({arg.each(query.service_types)})"
        for wanted in query.attached:
            sql += f" AND {self.attached(arg, wanted)}"
        return (
            sql + " ORDER BY s.started_at DESC, s.id DESC "
            f"LIMIT {arg(query.limit)} OFFSET {arg(query.offset)}"
        )

    # -- states and tasks ---------------------------------------------------------------------
    async def start_item(self, space: Space, service_id: str, new: NewItem, touch: Touch) -> int:
        async with self.transaction() as tx:
            return await self._add_item(tx, space, service_id, new, touch)

    async def end_item(
        self,
        space: Space,
        service_id: str,
        kind: Kind,
        item_id: int,
        ending: Ending,
        touch: Touch,
    ) -> None:
        async with self.transaction() as tx:
            await self._touch(tx, space, service_id, touch)
            await self._end_item(tx, service_id, kind, item_id, ending)

    async def transition(
        self,
        space: Space,
        service_id: str,
        from_state: int,
        ending: Ending,
        new: NewItem,
        touch: Touch,
    ) -> int:
        async with self.transaction() as tx:
            number = await self._touch(tx, space, service_id, touch, bump=1)
            await self._end_item(tx, service_id, Kind.STATE, from_state, ending)
            await self._put_item(tx, service_id, number, new)
        return number

    async def get_item(
        self, space: Space, service_id: str, kind: Kind, item_id: int, tasks: ItemFilter | None
    ) -> ItemRecord:
        async with self.transaction(write=False) as tx:
            await self._service(tx, space, service_id)
            arg = self._args()
            sql = (
                f"SELECT {rows.ITEM_COLUMNS} FROM {rows.TABLES[kind]} "
                f"WHERE service_id = {arg(service_id)} AND item_id = {arg(item_id)}"
            )
            found = await tx.row(sql, arg.values)
            if found is None:
                raise NotFound(f"{kind} {item_id} not found in service {service_id}")
            record = rows.item(kind, found)
            if tasks is not None:
                own = await self._items(tx, Kind.TASK, [service_id], tasks)
                rows.attach_tasks([record], own)
        return record

    async def list_items(
        self,
        space: Space,
        service_id: str,
        kind: Kind,
        which: ItemFilter,
        tasks: ItemFilter | None,
    ) -> list[ItemRecord]:
        async with self.transaction(write=False) as tx:
            await self._service(tx, space, service_id)
            found = await self._items(tx, kind, [service_id], which)
            if tasks is not None:
                rows.attach_tasks(found, await self._items(tx, Kind.TASK, [service_id], tasks))
        return found

    # -- composite start ----------------------------------------------------------------------
    async def composite_start(
        self, space: Space, entries: list[CompositeEntry], touch: Touch
    ) -> list[CompositeOutcome]:
        async with self.transaction() as tx:
            await self.lock_composite(tx, space, entries)
            return [await self._composite_entry(tx, space, entry, touch) for entry in entries]

    async def _composite_entry(
        self, tx: Tx, space: Space, entry: CompositeEntry, touch: Touch
    ) -> CompositeOutcome:
        new = entry.service
        arg = self._args()
        sql = f"SELECT id FROM cs_services WHERE tenant = {arg(space.tenant)} "
        sql += f"AND grp = {arg(space.group)} AND "
        if new.customer_id is None:  # the same index paths as the queries
            sql += f"customer_id IS NULL AND contact_key = {arg(new.contact_key)}"
        else:
            sql += f"customer_id = {arg(new.customer_id)} "
            sql += f"AND contact_key {self.same} {arg(new.contact_key)}"
        sql += (
            f" AND service_type {self.same} {arg(new.type_key)} AND ended_at IS NULL "
            f"AND expires_at > {arg(self._now())} ORDER BY started_at DESC, id DESC LIMIT 1"
        )
        found = await tx.row(sql, arg.values)
        if found is None:
            await self._insert_service(tx, space, new)
            service_id = new.service_id
        else:
            service_id = found[0]
            await self._touch(tx, space, service_id, touch)
        state_id = task_id = None
        state_created = task_created = False
        if entry.state is not None:
            state_id, state_created = await self._find_or_add(
                tx, space, service_id, entry.state, touch
            )
        if entry.task is not None:
            task = entry.task
            if entry.associate_state_task:
                task = replace(task, ref_id=state_id, props={**task.props, "state_id": state_id})
            task_id, task_created = await self._find_or_add(tx, space, service_id, task, touch)
        return CompositeOutcome(
            service_id, found is None, state_id, state_created, task_id, task_created
        )

    async def _find_or_add(
        self, tx: Tx, space: Space, service_id: str, new: NewItem, touch: Touch
    ) -> tuple[int, bool]:
        arg = self._args()
        sql = (
            f"SELECT item_id FROM {rows.TABLES[new.kind]} WHERE service_id = {arg(service_id)} "
            f"AND item_type {self.same} {arg(new.type_key)} AND ended_at IS NULL"
        )
        if new.kind is Kind.TASK and new.ref_id is not None:
            sql += f" AND ref_id = {arg(new.ref_id)}"
        found = await tx.row(sql + " ORDER BY item_id DESC LIMIT 1", arg.values)
        if found is not None:
            return int(found[0]), False
        return await self._add_item(tx, space, service_id, new, touch), True

    # -- maintenance --------------------------------------------------------------------------
    async def purge(
        self, space: Space, operation: PurgeOperation, started_before: int, batch: int
    ) -> int:
        arg = self._args()
        chosen = (
            f"SELECT id FROM cs_services WHERE tenant = {arg(space.tenant)} "
            f"AND grp = {arg(space.group)} AND started_at < {arg(started_before)} "
            f"AND expires_at > {arg(self._now())}" + status_clause(operation.status)
        )
        if operation.anonymous_only:
            chosen += " AND customer_id IS NULL"
        sql = f"DELETE FROM cs_services WHERE id IN ({chosen} LIMIT {arg(batch)})"
        async with self.autocommit() as tx:
            return await tx.run(sql, arg.values)

    async def export_page(
        self, space: Space, window: TimeWindow, after: tuple[int, str] | None, limit: int
    ) -> list[ServiceRecord]:
        arg = self._args()
        sql = (
            f"SELECT {rows.SERVICE_COLUMNS} FROM cs_services AS s "
            f"WHERE s.tenant = {arg(space.tenant)} AND s.grp = {arg(space.group)} "
            f"AND s.expires_at > {arg(self._now())}"
        )
        if window.start is not None:
            sql += f" AND s.started_at >= {arg(window.start)}"
        if window.end is not None:
            sql += f" AND s.started_at < {arg(window.end)}"
        if after is not None:
            sql += f" AND (s.started_at, s.id) > ({arg(after[0])}, {arg(after[1])})"
        sql += f" ORDER BY s.started_at, s.id LIMIT {arg(limit)}"
        async with self.transaction(write=False) as tx:
            found = [rows.service(row) for row in await tx.rows(sql, arg.values)]
            await self._nest(tx, found, EVERYTHING)
        return found

    async def sweep(self, *, batch: int) -> SweepResult:
        now = self._now()
        arg = self._args()
        sql = (
            "DELETE FROM cs_services WHERE id IN (SELECT id FROM cs_services "
            f"WHERE expires_at <= {arg(now)} LIMIT {arg(batch)})"
        )
        async with self.autocommit() as tx:
            deleted = await tx.run(sql, arg.values)
        completed = 0
        async for service_id, complete_at in self._idle(now, batch):
            async with self.transaction() as tx:
                completed += await self._auto_complete(tx, service_id, complete_at, now)
        return SweepResult(deleted, completed)

    async def _idle(self, now: int, batch: int) -> AsyncIterator[tuple[str, int]]:
        arg = self._args()
        sql = (
            f"SELECT id, complete_at FROM cs_services WHERE complete_at <= {arg(now)} "
            f"AND ended_at IS NULL AND expires_at > {arg(now)} LIMIT {arg(batch)}"
        )
        async with self.autocommit() as tx:
            found = await tx.rows(sql, arg.values)
        for row in found:
            yield row[0], row[1]

    async def _auto_complete(self, tx: Tx, service_id: str, complete_at: int, now: int) -> int:
        """End an idle service as of the moment it became idle, unless (another node, a
        request) ended it or showed activity since it was found."""
        completed = rows.dumps({"timestamp": format_time(complete_at)})
        arg = self._args()
        sql = (
            f"UPDATE cs_services SET ended_at = complete_at, completed = {arg(completed)}, "
            f"complete_at = NULL WHERE id = {arg(service_id)} AND ended_at IS NULL "
            f"AND complete_at = {arg(complete_at)} AND expires_at > {arg(now)}"
        )
        if await tx.run(sql, arg.values) != 1:
            return 0
        await self._end_items(tx, service_id, complete_at, completed)
        return 1
