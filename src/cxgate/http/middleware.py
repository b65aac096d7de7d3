"""The edge of every response: a request id (taken from `X-Request-Id` or made up) bound to the
logs and echoed back, the security headers, one access-log line and the request metrics. Pure
ASGI and a single layer, because it sits on the hot path of every request."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxgate.logs import REQUEST_ID

if TYPE_CHECKING:
    from cxgate.http.metrics import Metrics

log = structlog.get_logger("cxgate.access")

# An API answers data, never a page to frame or a script to run.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]

# The console (/console/) is a page: it may run its own scripts, styles and images and call this
# server (CSP 'self' covers ws: and wss: to the same host), and nothing else. Its built assets
# have content-hashed names, so they may be cached for good; everything else stays no-store.
CONSOLE_PREFIX = "/console/"
CONSOLE_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    b"connect-src 'self'; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'"
)
CONSOLE_HEADERS = [
    (name, CONSOLE_CSP if name == b"content-security-policy" else value)
    for name, value in SECURITY_HEADERS
]
CONSOLE_ASSET_HEADERS = [
    (name, b"public, max-age=31536000, immutable" if name == b"cache-control" else value)
    for name, value in CONSOLE_HEADERS
]


def security_headers(path: str, status: int) -> list[tuple[bytes, bytes]]:
    if not path.startswith(CONSOLE_PREFIX) or path.startswith(CONSOLE_PREFIX + "api/"):
        return SECURITY_HEADERS
    if status == 200 and path.startswith(CONSOLE_PREFIX + "assets/"):
        return CONSOLE_ASSET_HEADERS
    return CONSOLE_HEADERS


class EdgeMiddleware:
    """The outermost layer: request id, security headers, access log and request metrics.

    One layer rather than four on purpose: each ASGI layer costs a call and a `send` wrapper on
    every request, and all four need the same thing, the response status."""

    def __init__(
        self, app: ASGIApp, *, access_log: bool = True, metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id" and 0 < len(value) <= 64 and value.isascii():
                request_id = value.decode("ascii")
        request_id = request_id or os.urandom(16).hex()
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500  # what the client sees if the app raises before starting a response
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    header,
                    *security_headers(scope["path"], status),
                ]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.observe(scope, status, elapsed)
            if self.access_log:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )
            REQUEST_ID.reset(token)
