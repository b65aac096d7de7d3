"""The journey store's sweeper, which deletes expired services and completes idle ones, forever.

Expired services are invisible from the moment they expire (every query checks `expires_at`);
the sweeper only reclaims their space. It runs at least every 30 s so that both happen within a
minute whatever `[server] sweep_interval` says.
"""

from __future__ import annotations

import asyncio

import structlog

from cxgate.errors import StoreUnavailable
from cxgate.journey.context import JourneyContext
from cxgate.journey.models import SweepResult

log = structlog.get_logger("cxgate.journey")

BATCH = 1000
MAX_INTERVAL = 30.0


async def sweep(ctx: JourneyContext) -> SweepResult:
    """One full sweep, batch after batch until nothing is left to do."""
    deleted = completed = 0
    while True:
        result = await ctx.store.sweep(batch=BATCH)
        deleted += result.deleted
        completed += result.completed
        if result.deleted < BATCH and result.completed < BATCH:
            return SweepResult(deleted, completed)
        await asyncio.sleep(0)


async def sweep_forever(ctx: JourneyContext, interval: float) -> None:
    interval = min(interval, MAX_INTERVAL)
    while True:
        await asyncio.sleep(interval)
        try:
            result = await sweep(ctx)
        except StoreUnavailable as exc:
            log.warning("journey sweep failed", detail=exc.message)
        else:
            if result.deleted or result.completed:
                log.info("journey swept", expired=result.deleted, auto_completed=result.completed)
