"""THE table: domain error -> HTTP status and body, per API family.

Handlers never build error responses themselves; they raise domain errors and the exception
handler below renders them, found by walking the error's class hierarchy (most specific first).
"""

from __future__ import annotations

from enum import StrEnum

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from cxgate import errors

log = structlog.get_logger("cxgate.http")


class Family(StrEnum):
    GMS = "gms"
    CS = "cs"
    GWS = "gws"


# class -> (HTTP status, GMS/CS `exception` simple name, GWS statusCode)
TABLE: dict[type[Exception], tuple[int, str, int]] = {
    errors.MalformedJson: (400, "JsonParseException", 2),
    errors.BodyTimeout: (408, "RequestTimeoutException", 2),
    errors.MalformedBody: (400, "BadRequestException", 2),
    errors.BadRequest: (400, "BadRequestException", 2),
    errors.AreaNotFound: (404, "NotFoundException", 6),
    errors.KeyNotFound: (404, "NotFoundException", 6),
    errors.NotFound: (404, "NotFoundException", 6),
    errors.Conflict: (409, "ConflictException", 2),
    errors.PayloadTooLarge: (413, "PayloadTooLargeException", 2),
    errors.UpstreamTimeout: (504, "GatewayTimeoutException", 4),
    errors.UpstreamError: (502, "BadGatewayException", 4),
    errors.Unavailable: (503, "ServiceUnavailableException", 4),
    errors.CxgateError: (500, "InternalException", 4),
}

# Where a family departs from the table. GMS documents malformed JSON as a 500.
OVERRIDES: dict[tuple[Family, type[Exception]], int] = {
    (Family.GMS, errors.MalformedJson): 500,
}

_EXCEPTION_PREFIX = {
    Family.GMS: "com.genesyslab.gms.exceptions.",
    Family.CS: "",
}
CS_EXCEPTION = (
    "com.genesyslab.gsg.services.contextservices.exceptions.ContextServicesExceptionResource"
)


def family_of(path: str) -> Family:
    if path.startswith("/genesys/1/cs"):
        return Family.CS
    if path.startswith("/api/v2"):
        return Family.GWS
    return Family.GMS


def lookup(exc: Exception, family: Family) -> tuple[int, str, int]:
    for cls in type(exc).__mro__:
        if cls in TABLE:
            status, name, gws_code = TABLE[cls]
            return OVERRIDES.get((family, cls), status), name, gws_code
    return 500, "InternalException", 4


def render(family: Family, status: int, message: str, name: str, gws_code: int) -> Response:
    if family is Family.GWS:
        body = {"statusCode": gws_code, "statusMessage": message}
    elif family is Family.CS:
        body = {"message": message, "exception": CS_EXCEPTION}
    else:
        body = {"message": message, "exception": _EXCEPTION_PREFIX[family] + name}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def allowed_methods(request: Request) -> str:
    """The `Allow` header of a 405: every method of every route whose path matches the request
    (Starlette names only the first such route's, and GET, DELETE and PUT of one path are
    often separate routes). A route without methods is a Mount of static files (the console's),
    which serve GET and HEAD."""
    scope = request.scope
    # Inside a Mount the scope's root_path is the mount's: match from the app's own root again.
    scope = {**scope, "root_path": scope.get("app_root_path", scope.get("root_path", ""))}
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ("GET", "HEAD"))
    return ", ".join(sorted(methods))


def domain_error_response(exc: errors.CxgateError, path: str) -> Response:
    """The response for `exc` on `path`, for code outside the exception handlers (middleware)."""
    family = family_of(path)
    status, name, gws_code = lookup(exc, family)
    return render(family, status, public_message(exc), name, gws_code)


# Errors whose own message may name internals (a file path, a driver's words, a strategy URL from
# the configuration): clients get a fixed sentence, the log gets the whole message.
PUBLIC_MESSAGES: dict[type[Exception], str] = {
    errors.StoreUnavailable: "the data store is not available right now; retry later",
    errors.UpstreamTimeout: "the service's strategy endpoint did not answer in time",
    errors.UpstreamError: "the service's strategy endpoint failed or is unreachable",
}


def public_message(exc: errors.CxgateError) -> str:
    for cls in type(exc).__mro__:
        if cls in PUBLIC_MESSAGES:
            return PUBLIC_MESSAGES[cls]
    return exc.message


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.CxgateError)
    family = family_of(request.url.path)
    status, name, gws_code = lookup(exc, family)
    if status >= 500:
        log.warning("request failed", status=status, error=type(exc).__name__, detail=exc.message)
    return render(family, status, public_message(exc), name, gws_code)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: logged with the request id (bound by the middleware), answered without internals."""
    log.exception("unhandled error", path=request.url.path)
    family = family_of(request.url.path)
    return render(
        family,
        500,
        "internal server error; the log has the details under this request's id",
        "InternalException",
        4,
    )
