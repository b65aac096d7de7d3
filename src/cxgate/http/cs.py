"""`/genesys/1/cs`: Context Services. Translation only; the rules live in cxgate.journey.

Bodies are JSON whatever the Content-Type says (Genesys clients do not all send one); an empty
body is an empty object. The space comes from the `ContactCenterId` and `GroupId` headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cxgate.errors import BadRequest, MalformedJson
from cxgate.http.bodies import check_depth, read_limited
from cxgate.http.responses import empty, json
from cxgate.http.routing import Route
from cxgate.journey import composite, export, items, purge, service
from cxgate.journey.context import JourneyContext
from cxgate.journey.filters import Params
from cxgate.journey.models import Json, Kind, Space, Status

BASE = "/genesys/1/cs"
NEXT_OFFSET = "x-next-offset"  # set when a query has more results than its page


def _ctx(request: Request) -> JourneyContext:
    ctx: JourneyContext = request.app.state.journey
    return ctx


def _space(request: Request) -> Space:
    headers = request.headers
    return _ctx(request).space(headers.get("contactcenterid"), headers.get("groupid"))


def _params(request: Request) -> Params:
    return request.query_params.multi_items()


async def _body(request: Request) -> Json:
    raw = await read_limited(request, request.app.state.max_body)
    if not raw.strip():
        return None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"Could not read JSON: {exc}") from exc
    check_depth(document, request.app.state.max_json_depth)
    return document


def _created(key: str, value: str | int, location: str) -> Response:
    return json({key: value}, 201, {"location": BASE + location})


# -- services -----------------------------------------------------------------------------------
async def start_service(request: Request) -> Response:
    space, body = _space(request), await _body(request)
    service_id = await service.start_service(_ctx(request), space=space, body=body)
    return _created("service_id", service_id, f"/services/{service_id}")


async def end_service(request: Request) -> Response:
    space, body = _space(request), await _body(request)
    await service.end_service(
        _ctx(request), space=space, service_id=request.path_params["id"], body=body
    )
    return empty(204)


async def get_service(request: Request) -> Response:
    answer = await service.get_service(
        _ctx(request),
        space=_space(request),
        service_id=request.path_params["id"],
        params=_params(request),
    )
    return json(answer)


async def delete_service(request: Request) -> Response:
    await service.delete_service(
        _ctx(request), space=_space(request), service_id=request.path_params["id"]
    )
    return empty(200)


async def set_expiry(request: Request) -> Response:
    space, body = _space(request), await _body(request)
    service_id = request.path_params["id"]
    expires = await service.set_expiry(_ctx(request), space=space, service_id=service_id, body=body)
    return json({"service_id": service_id, "expiration_time": expires})


async def put_extension(request: Request, kind: Kind | None = None) -> Response:
    space, body = _space(request), await _body(request)
    if body is None:
        raise BadRequest("the body must be the extension's JSON value")
    await service.put_extension(
        _ctx(request),
        space=space,
        service_id=request.path_params["id"],
        kind=kind,
        raw_item_id=request.path_params.get("item"),
        name=request.path_params["name"],
        value=body,
    )
    return empty(200)


async def associate(request: Request) -> Response:
    space, body = _space(request), await _body(request)
    await service.associate(
        _ctx(request),
        space=space,
        customer_id=request.path_params["customer"],
        service_id=request.path_params["id"],
        body=body,
    )
    return empty(200)


async def _query(request: Request, status: Status, **who: str) -> Response:
    page, more = await service.query_services(
        _ctx(request), space=_space(request), status=status, params=_params(request), **who
    )
    return json(page, headers=None if more is None else {NEXT_OFFSET: str(more)})


async def customer_services(request: Request, status: Status = Status.ALL) -> Response:
    return await _query(request, status, customer_id=request.path_params["customer"])


async def anonymous_services(request: Request, status: Status = Status.ALL) -> Response:
    return await _query(request, status, contact_key=request.path_params["key"])


# -- states and tasks ---------------------------------------------------------------------------
async def start_item(request: Request, kind: Kind) -> Response:
    space, body = _space(request), await _body(request)
    service_id = request.path_params["id"]
    number = await items.start_item(
        _ctx(request), space=space, service_id=service_id, kind=kind, body=body
    )
    return _created(f"{kind}_id", number, f"/services/{service_id}/{kind}s/{number}")


async def end_item(request: Request, kind: Kind) -> Response:
    space, body = _space(request), await _body(request)
    await items.end_item(
        _ctx(request),
        space=space,
        service_id=request.path_params["id"],
        kind=kind,
        raw_id=request.path_params["item"],
        body=body,
    )
    return empty(204)


async def transition(request: Request) -> Response:
    space, body = _space(request), await _body(request)
    service_id = request.path_params["id"]
    number = await items.transition(_ctx(request), space=space, service_id=service_id, body=body)
    return _created("state_id", number, f"/services/{service_id}/states/{number}")


async def get_item(request: Request, kind: Kind) -> Response:
    answer = await items.get_item(
        _ctx(request),
        space=_space(request),
        service_id=request.path_params["id"],
        kind=kind,
        raw_id=request.path_params["item"],
        params=_params(request),
    )
    return json(answer)


async def list_items(request: Request, kind: Kind, status: Status = Status.ALL) -> Response:
    answer = await items.list_items(
        _ctx(request),
        space=_space(request),
        service_id=request.path_params["id"],
        kind=kind,
        status=status,
        params=_params(request),
    )
    return json(answer)


# -- composite start, maintenance ---------------------------------------------------------------
async def composite_start(request: Request) -> Response:
    space, body = _space(request), await _body(request)
    return json(await composite.composite_start(_ctx(request), space=space, body=body))


async def purge_services(request: Request) -> Response:
    space, body = _space(request), await _body(request)
    return json({"purged": await purge.purge(_ctx(request), space=space, body=body)})


async def export_stream(request: Request) -> Response:
    chunks = export.stream(_ctx(request), space=_space(request), params=_params(request))
    return StreamingResponse(chunks, media_type="application/json")


async def export_files(request: Request) -> Response:
    answer = await export.write_files(_ctx(request), space=_space(request), params=_params(request))
    return json(answer)


Handler = Callable[..., Awaitable[Response]]


def _bound(handler: Handler, **fixed: Kind | Status) -> Callable[[Request], Awaitable[Response]]:
    """`handler` with the kind or status that its route's literal path fixes."""

    async def endpoint(request: Request) -> Response:
        return await handler(request, **fixed)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _item_routes(kind: Kind) -> list[Route]:
    at = f"{BASE}/services/{{id}}/{kind}s"
    return [
        Route(at + "/start", _bound(start_item, kind=kind), methods=["POST"]),
        Route(at, _bound(list_items, kind=kind), methods=["GET"]),
        *(
            Route(f"{at}/{status}", _bound(list_items, kind=kind, status=status), methods=["GET"])
            for status in (Status.ACTIVE, Status.COMPLETED)
        ),
        Route(at + "/{item}", _bound(get_item, kind=kind), methods=["GET"]),
        Route(at + "/{item}/end", _bound(end_item, kind=kind), methods=["POST"]),
        Route(at + "/{item}/extensions/{name}", _bound(put_extension, kind=kind), methods=["PUT"]),
    ]


def _query_routes(at: str, handler: Handler) -> list[Route]:
    return [
        Route(at, handler, methods=["GET"]),
        *(
            Route(f"{at}/{status}", _bound(handler, status=status), methods=["GET"])
            for status in (Status.ACTIVE, Status.COMPLETED)
        ),
    ]


# Literal segments (`start`, `anonymous`, `transition`, `active`, ...) come before the
# parameters they would otherwise match; service ids (`<int>-<uuid>`) never equal them.
routes = [
    Route(BASE + "/services/start", start_service, methods=["POST"]),
    *_query_routes(BASE + "/services/anonymous/{key}", anonymous_services),
    Route(BASE + "/services/{id}", get_service, methods=["GET"]),
    Route(BASE + "/services/{id}", delete_service, methods=["DELETE"]),
    Route(BASE + "/services/{id}", set_expiry, methods=["PUT"]),
    Route(BASE + "/services/{id}/end", end_service, methods=["POST"]),
    Route(BASE + "/services/{id}/extensions/{name}", put_extension, methods=["PUT"]),
    Route(BASE + "/services/{id}/states/transition", transition, methods=["POST"]),
    *_item_routes(Kind.STATE),
    *_item_routes(Kind.TASK),
    *_query_routes(BASE + "/customers/{customer}/services", customer_services),
    Route(BASE + "/customers/{customer}/services/{id}", associate, methods=["POST"]),
    Route(BASE + "/services_composite/start", composite_start, methods=["POST"]),
    Route(BASE + "/maintenance/purge", purge_services, methods=["POST"]),
    Route(BASE + "/maintenance/services/stream", export_stream, methods=["GET"]),
    Route(BASE + "/maintenance/services/files", export_files, methods=["POST"]),
]
