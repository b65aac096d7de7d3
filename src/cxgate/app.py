"""create_app(settings) -> the ASGI app; its lifespan opens the store and starts sweepers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from cxgate.auth.identity import Authenticator
from cxgate.auth.middleware import AuthMiddleware
from cxgate.auth.ratelimit import CounterStorage, RateLimitMiddleware
from cxgate.backends.base import Store
from cxgate.backends.url import open_store
from cxgate.clock import Clock, SystemClock
from cxgate.config import Settings
from cxgate.errors import CxgateError, StoreUnavailable
from cxgate.gms.context import GmsContext
from cxgate.gms.values import ValueLimits
from cxgate.http import gms, node, storage
from cxgate.http.errors import family_of, handle_domain_error, handle_unexpected, render
from cxgate.http.middleware import RequestIdMiddleware

log = structlog.get_logger("cxgate")

STORE_RETRY_SECONDS = 2.0


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    family = family_of(request.url.path)
    if exc.status_code == 405:
        return render(
            family,
            405,
            f"method {request.method} is not allowed on {request.url.path}",
            "MethodNotAllowedException",
            2,
        )
    return render(
        family, exc.status_code, f"no such resource: {request.url.path}", "NotFoundException", 6
    )


async def _open_until_ready(store: Store) -> None:
    """Keep trying to open the store; the node API answers 503 meanwhile."""
    while True:
        try:
            await store.open()
        except StoreUnavailable as exc:
            log.warning("store not reachable yet; retrying", detail=exc.message)
            await asyncio.sleep(STORE_RETRY_SECONDS)
        else:
            log.info("store ready")
            return


async def _sweep_forever(store: Store, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await store.sweep()
        except StoreUnavailable as exc:
            log.warning("expiry sweep failed", detail=exc.message)
        else:
            if removed:
                log.info("expired data swept", records=removed)


def _middleware(
    settings: Settings, counters: CounterStorage, *, access_log: bool
) -> list[Middleware]:
    """Outermost first: every response gets its id and headers, even a refused one."""
    config = settings.config
    stack = [Middleware(RequestIdMiddleware, access_log=access_log)]
    if config.server.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.server.cors_origins),
                allow_credentials=True,  # sent only to the listed origins, never to `*`
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "gms_user",
                    "contactcenterid",
                    "groupid",
                    "x-request-id",
                ],
                expose_headers=["x-request-id", "location"],
                max_age=600,
            )
        )
    stack.append(Middleware(AuthMiddleware, authenticator=Authenticator(config)))
    if config.server.rate_limit:
        stack.append(
            Middleware(
                RateLimitMiddleware, limit=config.server.rate_limit, storage=counters.storage
            )
        )
    return stack


def create_app(
    settings: Settings, *, clock: Clock | None = None, access_log: bool = True
) -> Starlette:
    clock = clock or SystemClock()
    config = settings.config
    store: Store = open_store(settings.store, clock=clock)
    counters = CounterStorage(settings.store, settings.bus)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        try:
            await store.open()
        except StoreUnavailable as exc:
            log.error(
                "store not reachable at startup; retrying in the background", detail=exc.message
            )
            tasks.append(asyncio.create_task(_open_until_ready(store)))
        if store.needs_sweeper:
            tasks.append(asyncio.create_task(_sweep_forever(store, config.server.sweep_interval)))
        async with httpx.AsyncClient() as http:
            app.state.gms = GmsContext(
                store=store,
                clock=clock,
                config=config,
                http=http,
                limits=ValueLimits(
                    config.server.max_key_length,
                    config.server.max_keys,
                    config.server.max_value_size,
                ),
            )
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await store.close()
                await counters.aclose()

    app = Starlette(
        routes=[*node.routes, *gms.routes, *storage.routes],
        middleware=_middleware(settings, counters, access_log=access_log),
        exception_handlers={
            CxgateError: handle_domain_error,
            HTTPException: _http_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.max_body = config.server.max_body_size
    app.state.body_timeout = config.server.body_timeout
    app.state.max_json_depth = config.server.max_json_depth
    return app
