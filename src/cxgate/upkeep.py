"""Keeping stores going in the background: opening one until it answers, and sweeping the GMS
store's expired rows. (Context Services' own sweeper is `cxgate.journey.upkeep`.)"""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog

from cxgate.backends.base import Store
from cxgate.errors import StoreUnavailable

log = structlog.get_logger("cxgate.upkeep")

RETRY_SECONDS = 2.0


class Openable(Protocol):
    async def open(self) -> None: ...


async def open_until_ready(store: Openable, *, name: str) -> None:
    """Keep trying to open `store`; its APIs (and the node API) answer 503 meanwhile."""
    while True:
        try:
            await store.open()
        except StoreUnavailable as exc:
            log.warning(f"{name} not reachable yet; retrying", detail=exc.message)
            await asyncio.sleep(RETRY_SECONDS)
        else:
            log.info(f"{name} ready")
            return


async def sweep_forever(store: Store, interval: float) -> None:
    """Physically delete expired GMS data every `interval` seconds (SQL stores need it)."""
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await store.sweep()
        except StoreUnavailable as exc:
            log.warning("expiry sweep failed", detail=exc.message)
        else:
            if removed:
                log.info("expired data swept", records=removed)
