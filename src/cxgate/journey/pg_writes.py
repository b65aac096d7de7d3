"""The journey's hot writes on PostgreSQL, one statement (so one round trip) each.

`SqlJourneyStore` writes in a transaction of several statements (a task end was BEGIN, touch,
SELECT, UPDATE, COMMIT: five round trips, each costing cxgate and postgres CPU). Here a
service end, a state or task start or end is one statement that commits by itself: whole or
not at all. Its steps are chained by data-modifying CTEs, each fed by the one before, so a step
runs only when the one before did (no touch without the end it belongs to).

The rules of `sql.py` still hold:
- Lock order: the service row first, then items, as in every transaction of `sql.py`, so no two
  writes can deadlock. A start's touch locks it; an item end locks it with FOR UPDATE before its
  item, and records the activity only once the item has ended.
- One statement sees one snapshot, taken when it starts. The row it locks after waiting for
  another writer is re-read at its newest version, but nothing else is. So wherever the
  snapshot could be stale, the statement refuses to act (it changes nothing and returns no
  row), and `_diagnose` then reads afresh: missing or ended gives the error, otherwise the
  statement is simply run again. Stale means: an item committed after the snapshot (a start
  naming a state, an end naming an item, that it cannot see yet), or attached data changed
  under a read-merge-write (compare-and-set on the stored text), or items started under a
  service end (its cascade would miss them: the end only proceeds when `next_id` in its
  snapshot equals that of the row it locked, and every item start moves `next_id`).
"""

from __future__ import annotations

from typing import Any

from cxgate.errors import AlreadyEnded, NotFound, StoreUnavailable
from cxgate.journey import rows
from cxgate.journey.models import Ending, Kind, NewItem, Space, Touch
from cxgate.journey.sql import Tx
from cxgate.journey.sql_store import SqlJourneyStore

# Retries happen only when another writer committed to the same service during the statement;
# a service under such constant fire that this many runs all lose is reported, not looped on.
ATTEMPTS = 50

# $1 service id, $2 tenant, $3 group, $4 now: the service is live in the space (found by its
# primary key alone: `|| ''` keeps the space's indexes out of it, see `SqlBase._live`).
_LIVE = (
    "s.id = $1::text AND s.tenant || '' = $2::text AND s.grp || '' = $3::text "
    "AND s.expires_at > $4::bigint"
)
# The activity of a write ($5 its time, $6 a new expiry or NULL), as `SqlBase._touch` records it.
_TOUCH = (
    "complete_at = CASE WHEN s.ended_at IS NULL AND s.auto_complete_after IS NOT NULL "
    "THEN $5::bigint + s.auto_complete_after * 1000 END, "
    "expires_at = COALESCE($6::bigint, s.expires_at)"
)
# $7 the state that the new item names (NULL: none), $8.. the item's columns; returns its id.
_START = f"""
    WITH touched AS (
        UPDATE cs_services AS s SET next_id = s.next_id + 1, {_TOUCH}
        WHERE {_LIVE} AND ($7::bigint IS NULL OR EXISTS (
            SELECT 1 FROM cs_states AS r WHERE r.service_id = $1::text AND r.item_id = $7::bigint))
        RETURNING s.next_id)
    INSERT INTO {{table}} (service_id, item_id, item_type, ref_id, started_at, props, started, data)
    SELECT $1::text, touched.next_id, $8::text, $7::bigint, $9::bigint, $10::text, $11::text,
        $12::text
    FROM touched
    RETURNING item_id"""
# $7 item id, $8 ended_at, $9 completed; $10 the new attached data and $11 the stored text it
# was merged from (both NULL: the data stays). The touch applies only if the item ended here.
_END = f"""
    WITH locked AS MATERIALIZED (
        SELECT s.id FROM cs_services AS s WHERE {_LIVE} FOR UPDATE),
    ended AS (
        UPDATE {{table}} AS i SET ended_at = $8::bigint, completed = $9::text,
            data = COALESCE($10::text, i.data)
        WHERE i.service_id = (SELECT id FROM locked) AND i.item_id = $7::bigint
            AND i.ended_at IS NULL AND ($11::text IS NULL OR i.data = $11::text)
        RETURNING i.service_id)
    UPDATE cs_services AS s SET {_TOUCH}
    WHERE s.id = (SELECT service_id FROM ended)"""
# $5 item id: no row, the service is not live here; else is the item active (NULL: no such
# item), its attached data, and does the state $6 exist (for a start that names one).
_ITEM_NOW = f"""
    SELECT CASE WHEN i.item_id IS NOT NULL THEN i.ended_at IS NULL END, i.data,
        $6::bigint IS NOT NULL AND EXISTS (
            SELECT 1 FROM cs_states AS r WHERE r.service_id = s.id AND r.item_id = $6::bigint)
    FROM cs_services AS s
        LEFT JOIN {{table}} AS i ON i.service_id = s.id AND i.item_id = $5::bigint
    WHERE {_LIVE}"""
# $5 new expiry or NULL, $6 ended_at, $7 completed, $8 the items' completed; $9 the new attached
# data and $10 the stored text it was merged from (both NULL: the data stays). Returns a row
# only when the service ended here.
END_SERVICE = f"""
    WITH ended AS (
        UPDATE cs_services AS s SET ended_at = $6::bigint, completed = $7::text,
            data = COALESCE($9::text, s.data), complete_at = NULL,
            expires_at = COALESCE($5::bigint, s.expires_at)
        WHERE {_LIVE} AND s.ended_at IS NULL AND ($10::text IS NULL OR s.data = $10::text)
            AND s.next_id = (SELECT n.next_id FROM cs_services AS n WHERE n.id = $1::text)
        RETURNING s.id),
    states AS (
        UPDATE cs_states SET ended_at = $6::bigint, completed = $8::text
        WHERE service_id = (SELECT id FROM ended) AND ended_at IS NULL),
    tasks AS (
        UPDATE cs_tasks SET ended_at = $6::bigint, completed = $8::text
        WHERE service_id = (SELECT id FROM ended) AND ended_at IS NULL)
    SELECT id FROM ended"""
# No row: the service is not live here; else is it active, and its attached data.
SERVICE_NOW = f"SELECT s.ended_at IS NULL, s.data FROM cs_services AS s WHERE {_LIVE}"

START_ITEM = {kind: _START.format(table=table) for kind, table in rows.TABLES.items()}
END_ITEM = {kind: _END.format(table=table) for kind, table in rows.TABLES.items()}
ITEM_NOW = {kind: _ITEM_NOW.format(table=table) for kind, table in rows.TABLES.items()}


class OneStatementWrites(SqlJourneyStore):
    """`SqlJourneyStore` with its hot writes as single PostgreSQL statements (`autocommit`)."""

    async def start_item(self, space: Space, service_id: str, new: NewItem, touch: Touch) -> int:
        live = (service_id, space.tenant, space.group, self._now())
        args = (
            *live,
            touch.now,
            touch.expires_at,
            new.ref_id,
            new.type_key,
            new.started_at,
            rows.dumps(new.props),
            rows.dumps(new.started),
            rows.dumps(new.data),
        )
        async with self.autocommit() as tx:
            for _ in range(ATTEMPTS):
                found = await tx.row(START_ITEM[new.kind], args)
                if found is not None:
                    return int(found[0])
                # Missing, or a state this statement's snapshot was too old to see: look again.
                now = await self._diagnose(tx, ITEM_NOW[new.kind], (*live, None, new.ref_id))
                if new.ref_id is not None and not now[2]:
                    raise NotFound(f"state {new.ref_id} not found in service {service_id}")
        raise _contended(service_id)

    async def end_item(
        self, space: Space, service_id: str, kind: Kind, item_id: int, ending: Ending, touch: Touch
    ) -> None:
        live = (service_id, space.tenant, space.group, self._now())
        what = f"{kind} {item_id}"
        async with self.autocommit() as tx:
            for _ in range(ATTEMPTS):
                merge: tuple[str | None, str | None] = (None, None)
                if ending.data:
                    now = await self._item_now(tx, kind, live, item_id, what, service_id)
                    merge = (rows.merged(now[1], ending.data), now[1])
                args = (
                    *live,
                    touch.now,
                    touch.expires_at,
                    item_id,
                    ending.ended_at,
                    rows.dumps(ending.completed),
                    *merge,
                )
                if await tx.run(END_ITEM[kind], args) == 1:
                    return
                if not ending.data:  # raises unless the item is active: then run it again
                    await self._item_now(tx, kind, live, item_id, what, service_id)
        raise _contended(service_id)

    async def end_service(
        self, space: Space, service_id: str, ending: Ending, touch: Touch
    ) -> None:
        live = (service_id, space.tenant, space.group, self._now())
        async with self.autocommit() as tx:
            for _ in range(ATTEMPTS):
                merge: tuple[str | None, str | None] = (None, None)
                if ending.data:
                    now = await self._service_now(tx, live, service_id)
                    merge = (rows.merged(now[1], ending.data), now[1])
                args = (
                    *live,
                    touch.expires_at,
                    ending.ended_at,
                    rows.dumps(ending.completed),
                    rows.cascade_end(ending.completed),
                    *merge,
                )
                if await tx.row(END_SERVICE, args) is not None:
                    return
                if not ending.data:  # raises unless the service is active: then run it again
                    await self._service_now(tx, live, service_id)
        raise _contended(service_id)

    async def _diagnose(self, tx: Tx, sql: str, args: tuple[Any, ...]) -> Any:
        found = await tx.row(sql, args)
        if found is None:
            raise NotFound(f"service {args[0]} not found")
        return found

    async def _item_now(
        self,
        tx: Tx,
        kind: Kind,
        live: tuple[Any, ...],
        item_id: int,
        what: str,
        service_id: str,
    ) -> Any:
        """The item's row as it is now (active, data); NotFound or AlreadyEnded."""
        now = await self._diagnose(tx, ITEM_NOW[kind], (*live, item_id, None))
        if now[0] is None:
            raise NotFound(f"{what} not found in service {service_id}")
        if not now[0]:
            raise AlreadyEnded(f"{what} has already ended")
        return now

    async def _service_now(self, tx: Tx, live: tuple[Any, ...], service_id: str) -> Any:
        """The service as it is now (active, data); NotFound or AlreadyEnded."""
        now = await self._diagnose(tx, SERVICE_NOW, live)
        if not now[0]:
            raise AlreadyEnded(f"service {service_id} has already ended")
        return now


def _contended(service_id: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"service {service_id}: {ATTEMPTS} attempts in a row lost to concurrent writes"
    )
