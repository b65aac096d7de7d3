"""`POST /maintenance/purge`: delete a space's services started before a time, in batches so
that a large purge never holds one long transaction (or, on SQLite, the event loop)."""

from __future__ import annotations

import asyncio

from cxgate.errors import BadRequest
from cxgate.journey.context import JourneyContext
from cxgate.journey.events import as_object
from cxgate.journey.models import Json, PurgeOperation, Space
from cxgate.journey.times import parse_time

BATCH = 1000


async def purge(ctx: JourneyContext, *, space: Space, body: Json) -> int:
    """`{"limit": time, "operation": "purge.service.all" | ...}` -> how many services went."""
    document = as_object(body)
    if document.get("limit") is None:
        raise BadRequest("limit is required: services started before it are purged")
    started_before = parse_time(document["limit"], field="limit")
    raw = str(document.get("operation"))
    try:
        operation = PurgeOperation(raw)
    except ValueError as exc:
        known = ", ".join(op.value for op in PurgeOperation)
        raise BadRequest(f"unknown purge operation {raw[:80]!r}; use one of {known}") from exc
    total = 0
    while True:
        purged = await ctx.store.purge(space, operation, started_before, BATCH)
        total += purged
        if purged < BATCH:
            return total
        await asyncio.sleep(0)  # let other requests in between batches
