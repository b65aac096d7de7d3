"""The one place that turns the store's state into refusals for the APIs that need the store.

Store Inactive: every GMS and Context Services call gets 503. Maintenance (ReadOnly): their
writes get 503, reads still work. The state is the monitor's cached observation, refreshed by
its timer, so a refusal costs no store round trip (and an unreachable store no timeout per
request). Pure ASGI: it sits on every request's path. The error is rendered through the one error
table (`cxgate.http.errors`), so the bodies are those of the API family asked.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from cxgate.errors import ReadOnly, StoreUnavailable
from cxgate.http.errors import domain_error_response
from cxgate.status.monitor import Monitor
from cxgate.status.registry import ServiceState

# The APIs whose every call reads or writes the store. Maintenance itself lives elsewhere
# (/genesys/1/admin/maintenance), so switching it off is never refused.
GUARDED_PREFIXES = ("/genesys/1/service", "/genesys/1/storage", "/genesys/1/cs")
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def is_guarded(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in GUARDED_PREFIXES)


class StoreGuard:
    def __init__(self, app: ASGIApp, *, monitor: Monitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.monitor.provisioning
        # The state first: it is a cached attribute, and on a healthy store nothing else is
        # needed on the way of every request.
        if (
            state is not ServiceState.ACTIVE
            and scope["type"] == "http"
            and is_guarded(scope["path"])
        ):
            if state is ServiceState.INACTIVE:
                # The error table gives clients its fixed sentence for StoreUnavailable.
                error: StoreUnavailable | ReadOnly | None = StoreUnavailable(
                    "the store did not answer its last probe"
                )
            elif state is ServiceState.READ_ONLY and scope["method"] in WRITE_METHODS:
                error = ReadOnly(
                    "the server is read-only (maintenance mode): reads work, writes are refused "
                    "until maintenance ends"
                )
            else:
                error = None
            if error is not None:
                await domain_error_response(error, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)
