"""create_app(settings) -> the ASGI app; its lifespan opens the store and starts sweepers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

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
from cxgate.backends.bus import open_bus
from cxgate.backends.url import journey_store_url, open_journey_store, open_store
from cxgate.clock import Clock, SystemClock
from cxgate.config import Settings
from cxgate.errors import CxgateError, StoreUnavailable
from cxgate.gms.context import GmsContext
from cxgate.gms.values import ValueLimits
from cxgate.http import cs, gms, node, storage
from cxgate.http import metrics as metrics_http
from cxgate.http import status as status_http
from cxgate.http.errors import (
    allowed_methods,
    family_of,
    handle_domain_error,
    handle_unexpected,
    render,
)
from cxgate.http.metrics import Metrics
from cxgate.http.middleware import EdgeMiddleware
from cxgate.http.routing import use_indexed_router
from cxgate.journey.context import JourneyContext
from cxgate.journey.upkeep import sweep_forever as sweep_journeys_forever
from cxgate.status.guard import StoreGuard
from cxgate.status.maintenance import Maintenance
from cxgate.status.monitor import SERVICES_CHANNEL, Monitor
from cxgate.status.notifications import Notifier
from cxgate.status.probes import deployment_checks
from cxgate.upkeep import open_until_ready, sweep_forever

log = structlog.get_logger("cxgate")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    family = family_of(request.url.path)
    if exc.status_code == 405:
        response = render(
            family,
            405,
            f"method {request.method} is not allowed on {request.url.path}",
            "MethodNotAllowedException",
            2,
        )
        response.headers["allow"] = allowed_methods(request)  # RFC 9110: a 405 names them
        return response
    return render(
        family, exc.status_code, f"no such resource: {request.url.path}", "NotFoundException", 6
    )


_SignalHandler = Callable[[int, FrameType | None], object]


def _on_stop_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` on the running loop as soon as SIGTERM (or SIGINT) arrives.

    On SIGTERM uvicorn first waits, up to --grace-period, for the requests in flight, and only then
    runs the lifespan shutdown. CometD connects are held for up to 30 s: without this hook they
    would use up the whole grace period and then be cut with a 500, instead of being told at once
    to handshake again. The server's own handler still runs after `callback` is scheduled. Only
    a handler a server installed is wrapped (not the default actions). Returns the undo.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    wrapped: list[tuple[signal.Signals, _SignalHandler, _SignalHandler]] = []

    def chain(previous: _SignalHandler) -> _SignalHandler:
        def handler(received: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(callback)
            previous(received, frame)

        return handler

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if callable(previous) and previous is not signal.default_int_handler:
            handler = chain(previous)
            signal.signal(signum, handler)
            wrapped.append((signum, previous, handler))

    def undo() -> None:
        for signum, previous, handler in wrapped:
            if signal.getsignal(signum) is handler:
                signal.signal(signum, previous)

    return undo


def _middleware(
    settings: Settings, counters: CounterStorage, metrics: Metrics, *, access_log: bool
) -> list[Middleware]:
    """Outermost first: every response gets its id, headers and metrics, even a refused one.
    Layers that have nothing to do with this configuration are left out: each costs time on
    every request."""
    config = settings.config
    stack = [Middleware(EdgeMiddleware, access_log=access_log, metrics=metrics)]
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
                expose_headers=["x-request-id", "location", "x-next-offset"],
                max_age=600,
            )
        )
    authenticator = Authenticator(config)
    if authenticator.users_configured or authenticator.gms_credentials_configured:
        stack.append(Middleware(AuthMiddleware, authenticator=authenticator))
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
    store: Store = open_store(
        settings.store, clock=clock, max_area_keys=config.server.max_area_keys
    )
    counters = CounterStorage(settings.store, settings.bus)
    journey = JourneyContext(
        store=open_journey_store(
            journey_store_url(settings.store, settings.journey_store), clock=clock
        ),
        clock=clock,
        config=config.cs,
        max_key_length=config.server.max_key_length,
    )
    # Status and notifications: the monitor probes the backing services and announces changes
    # through the notifier (CometD here, the bus to the other nodes).
    notifier = Notifier(bus=open_bus(settings.bus), options=config.cometd)
    metrics = Metrics()
    monitor = Monitor(
        checks=deployment_checks(
            store=store,
            bus=notifier.bus,
            voice=config.voice,
            observe_store_latency=metrics.store_latency.observe,
            render_metrics=metrics.render,
        ),
        interval=config.status.interval,
        timeout=config.status.timeout,
        publish=notifier.publish,
    )
    metrics.watch(services=monitor.registry, cometd=notifier.cometd)
    notifier.on(SERVICES_CHANNEL, monitor.adopt)
    middleware = _middleware(settings, counters, metrics, access_log=access_log)
    middleware.append(Middleware(StoreGuard, monitor=monitor))  # after auth: 401 before 503

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        try:
            await store.open()
        except StoreUnavailable as exc:
            log.error(
                "store not reachable at startup; retrying in the background", detail=exc.message
            )
            tasks.append(asyncio.create_task(open_until_ready(store, name="store")))
        if store.needs_sweeper:
            tasks.append(asyncio.create_task(sweep_forever(store, config.server.sweep_interval)))
        try:
            await journey.store.open()
        except StoreUnavailable as exc:
            log.error("journey store not reachable at startup; retrying", detail=exc.message)
            tasks.append(asyncio.create_task(open_until_ready(journey.store, name="journey store")))
        tasks.append(
            asyncio.create_task(sweep_journeys_forever(journey, config.server.sweep_interval))
        )
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
            # Held CometD connects hear "handshake again" at SIGTERM, not after the grace period.
            undo_signal_hook = _on_stop_signal(notifier.cometd.bayeux.shutdown)
            try:
                await notifier.start()
                await monitor.start()
                yield
            finally:
                undo_signal_hook()
                await monitor.stop()
                await notifier.stop()
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await store.close()
                await journey.store.close()
                await counters.aclose()

    from cxgate.console.routes import routes as console_routes  # the page at /console/
    from cxgate.http import openapi as openapi_http  # GET /openapi.json, read once here

    app = Starlette(
        # Starlette tries routes in order: the GMS hot paths first, the console last.
        routes=[
            *gms.routes,
            *storage.routes,
            *node.routes,
            *cs.routes,
            *status_http.routes,
            *metrics_http.routes,
            *notifier.cometd.routes("/api/v2/notifications"),
            *notifier.cometd.routes("/genesys/cometd"),
            *openapi_http.routes,  # GET /openapi.json: the document of every route here
            *console_routes,
        ],
        middleware=middleware,
        exception_handlers={
            CxgateError: handle_domain_error,
            HTTPException: _http_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    use_indexed_router(app)  # the same routes, looked up by path prefix and method
    app.state.settings = settings
    app.state.store = store
    app.state.journey = journey
    app.state.metrics = metrics
    app.state.monitor = monitor
    app.state.maintenance = Maintenance(flags=store.flags, monitor=monitor)
    app.state.notifier = notifier
    app.state.cometd = notifier.cometd
    app.state.max_body = config.server.max_body_size
    app.state.body_timeout = config.server.body_timeout
    app.state.max_json_depth = config.server.max_json_depth
    return app
