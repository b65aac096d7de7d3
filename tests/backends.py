"""One table of backends for every test that needs a store (STYLE.md: one fixture, all backends).

Each harness opens a fresh, private store (a SQLite file in tmp_path, a PostgreSQL schema of its
own, a Redis db index flushed first) and knows how to move time forward for its backend:
SQL backends read the injected clock; Redis expires keys by itself, so its harness shortens the
remaining TTL of every key instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxgate.backends.url import open_journey_store, open_store

PG_URL = os.environ.get("CXGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CXGATE_TEST_REDIS", "redis://127.0.0.1:6379/13")
ALL_BACKENDS = ("sqlite", "postgres", "redis")
REQUIRED = {b for b in os.environ.get("CXGATE_REQUIRE_BACKENDS", "").split(",") if b}
SKIPPED: dict[str, str] = {}
# Redis tests share one db, so each test's keys carry a prefix of its own (no FLUSHDB): test
# runs and tests never see each other's data.
REDIS_PREFIX = "cxt" + uuid.uuid4().hex[:8]


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def unavailable_reason(backend: str) -> str | None:
    """Why a backend cannot run here, or None when it can."""
    if backend == "postgres" and not _reachable("127.0.0.1", 5432):
        return "PostgreSQL is not reachable on 127.0.0.1:5432"
    if backend == "redis" and not _reachable("127.0.0.1", 6379):
        return "Redis is not reachable on 127.0.0.1:6379"
    return None


@dataclass
class Harness:
    backend: str
    url: str
    store: Any
    clock: FakeClock
    extra: dict[str, Any] = field(default_factory=dict)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        if self.backend == "redis":
            await _shorten_redis_ttls(self.store, seconds)


async def _shorten_redis_ttls(store: Any, seconds: float) -> None:
    client = store.client
    delta_ms = int(seconds * 1000)
    async for key in client.scan_iter(match=store.prefix + ":*", count=1000):
        remaining = await client.pttl(key)
        if remaining < 0:
            continue
        if remaining <= delta_ms:
            await client.delete(key)
        else:
            await client.pexpire(key, remaining - delta_ms)
    if hasattr(store, "after_time_travel"):
        await store.after_time_travel()


async def fresh_url(backend: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """A URL naming an empty, private store of this backend, and what cleanup needs."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/cxgate.db", {}
    if backend == "postgres":
        import asyncpg

        schema = "t_" + uuid.uuid4().hex[:12]
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f"CREATE SCHEMA {schema}")
        finally:
            await conn.close()
        return f"{PG_URL}?schema={schema}", {"schema": schema}
    if backend == "redis":
        prefix = f"{REDIS_PREFIX}{uuid.uuid4().hex[:8]}"
        return f"{REDIS_URL}?prefix={prefix}", {"prefix": prefix}
    raise ValueError(backend)


async def drop_url(backend: str, extra: dict[str, Any]) -> None:
    if backend == "redis":
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        try:
            async for key in client.scan_iter(match=extra["prefix"] + ":*", count=1000):
                await client.delete(key)
        finally:
            await client.aclose()
    if backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {extra['schema']} CASCADE")
        finally:
            await conn.close()


@asynccontextmanager
async def harness(backend: str, tmp_path: Path) -> AsyncIterator[Harness]:
    url, extra = await fresh_url(backend, tmp_path)
    clock = FakeClock()
    store = open_store(url, clock=clock)
    await store.open()
    try:
        yield Harness(backend, url, store, clock, extra)
    finally:
        await store.close()
        await drop_url(backend, extra)


# --- Context Services: the journey store lives on the SQL backends only ---

JOURNEY_BACKENDS = ("sqlite", "postgres")


@asynccontextmanager
async def journey_harness(backend: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A fresh, opened journey store of this backend; `.store` is the JourneyStore."""
    url, extra = await fresh_url(backend, tmp_path)
    clock = FakeClock()
    store = open_journey_store(url, clock=clock)
    await store.open()
    try:
        yield Harness(backend, url, store, clock, extra)
    finally:
        await store.close()
        await drop_url(backend, extra)
