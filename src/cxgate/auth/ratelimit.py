"""Rate limiting per client (the authenticated user, else the client address), with `limits`.

The counters live in Redis when the store or the bus is Redis, so that every node of a cluster
counts together; otherwise in this process's memory. Refused requests get 429 with Retry-After.
A counter store that fails open: an outage of Redis must not take the API down with it.
"""

from __future__ import annotations

import math
import time

import redis.asyncio as redis
import structlog
from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from cxgate.backends.url import parse_url
from cxgate.http.errors import family_of, render

log = structlog.get_logger("cxgate.ratelimit")

_EXEMPT = ("/genesys/1/node", "/metrics")


class CounterStorage:
    """The `limits` storage for the counters, and the connection pool it must give back."""

    def __init__(self, store_url: str, bus_url: str) -> None:
        self._pool: redis.ConnectionPool | None = None
        self.storage: Storage = MemoryStorage()
        for url in (store_url, bus_url):
            if url.startswith("redis://"):
                parsed = parse_url(url)
                plain = url.split("?", 1)[0]
                # Our own pool, so that shutdown can close it (limits offers no close()).
                self._pool = redis.ConnectionPool.from_url(plain)
                self.storage = RedisStorage(
                    "async+" + plain,
                    implementation="redispy",
                    key_prefix=parsed.options.get("prefix", "cx") + ":limits",
                    connection_pool=self._pool,  # type: ignore[arg-type]
                )
                break

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: str, storage: Storage) -> None:
        self.app = app
        self.item = parse(limit)
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_EXEMPT):
            await self.app(scope, receive, send)
            return
        caller = scope.get("state", {}).get("caller")
        client = scope.get("client") or ("unknown", 0)
        identity = f"user:{caller.name}" if caller is not None else f"ip:{client[0]}"
        try:
            allowed = await self.limiter.hit(self.item, identity)
            if not allowed:
                stats = await self.limiter.get_window_stats(self.item, identity)
        except Exception as exc:  # any failure of the counter store fails open
            log.warning("rate limit counters unavailable; not limiting", error=str(exc))
            allowed = True
        if allowed:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        response = render(
            family_of(scope["path"]),
            429,
            f"too many requests from this client: the limit is {self.item}; retry later",
            "TooManyRequestsException",
            4,
        )
        response.headers["retry-after"] = str(retry_after)
        await response(scope, receive, send)
