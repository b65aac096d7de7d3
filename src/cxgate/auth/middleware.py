"""Enforces `policy.RULES` for every HTTP request and websocket, in one place.

Failures are answered in the calling API family's error body: 401 with `WWW-Authenticate` when
credentials are missing or wrong, 403 when the caller lacks the role. Failed attempts are logged
with the user name and client address, never the password or the header.
"""

from __future__ import annotations

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from cxgate.auth.identity import Authenticator, Caller, parse_basic
from cxgate.auth.policy import Need, Rule, rule_for
from cxgate.http.errors import family_of, render

log = structlog.get_logger("cxgate.auth")

REALM = 'Basic realm="cxgate", charset="UTF-8"'
_SERVICE_CREATE_PREFIX = "/genesys/1/service/"


def _service_name(path: str) -> str | None:
    """`/genesys/1/service/{name}` (a creation) names a configured service; ids do not."""
    rest = path[len(_SERVICE_CREATE_PREFIX) :] if path.startswith(_SERVICE_CREATE_PREFIX) else ""
    return rest if rest and "/" not in rest else None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, authenticator: Authenticator) -> None:
        self.app = app
        self.auth = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope.get("method", "GET")
        if method == "OPTIONS":  # CORS preflights carry no credentials by design
            await self.app(scope, receive, send)
            return
        rule = rule_for(path, method)
        outcome = await self._check(rule, scope, Headers(scope=scope))
        if isinstance(outcome, Caller) or outcome is None:
            scope.setdefault("state", {})["caller"] = outcome
            await self.app(scope, receive, send)
            return
        status, message = outcome
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        family = family_of(path)
        if status == 401:
            response = render(family, 401, message, "UnauthorizedException", 20)
            response.headers["www-authenticate"] = REALM
        else:
            response = render(family, 403, message, "ForbiddenException", 5)
        await response(scope, receive, send)

    async def _check(
        self, rule: Rule, scope: Scope, headers: Headers
    ) -> Caller | tuple[int, str] | None:
        """A Caller (or None when no credential is needed) to let through, else (status, why)."""
        path: str = scope["path"]
        client = scope.get("client") or ("?", 0)
        if rule.need is Need.OPEN:
            return None
        gms_credential = (
            self.auth.gms_credential_for(_service_name(path)) if rule.need is Need.GMS else None
        )
        if not self.auth.users_configured and gms_credential is None:
            return None  # auth is off for this path (the server then binds loopback only)
        sent = parse_basic(headers.get("authorization"))
        if sent is None:
            return 401, "authentication required: send HTTP Basic credentials"
        user, password = sent
        caller = await self.auth.user(user, password)
        if caller is None and gms_credential is not None:
            caller = await self.auth.gms(gms_credential, user, password)
        if caller is None:
            log.warning("authentication failed", user=user, path=path, client=client[0])
            return 401, "invalid user name or password"
        if rule.need is Need.ROLES and not (caller.roles & rule.roles):
            log.warning("permission denied", user=user, path=path, needs=sorted(rule.roles))
            return (
                403,
                f"user {user!r} lacks the role this call needs ({', '.join(sorted(rule.roles))})",
            )
        return caller
