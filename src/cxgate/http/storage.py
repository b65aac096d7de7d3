"""`/genesys/1/storage`: the GMS Storage API. Translation only; the rules live in cxgate.gms."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cxgate.backends.base import Binary
from cxgate.gms import storage
from cxgate.gms.context import GmsContext
from cxgate.http import paths as _paths  # noqa: F401  (registers {key:keypath})
from cxgate.http.bodies import parse_fields
from cxgate.http.responses import binary, empty, json
from cxgate.http.routing import Route


def _ctx(request: Request) -> GmsContext:
    ctx: GmsContext = request.app.state.gms
    return ctx


def _owner(request: Request) -> str | None:
    return request.headers.get("gms_user") or None


async def _fields(request: Request) -> dict[str, str | Binary]:
    return await parse_fields(request, limit=request.app.state.max_body)


async def create(request: Request) -> Response:
    fields = await _fields(request)
    area_id = await storage.create(
        _ctx(request),
        ttl=storage.parse_ttl(request.path_params["ttl"]),
        owner=_owner(request),
        fields=fields,
    )
    return json({"id": area_id})


async def create_custom(request: Request) -> Response:
    fields = await _fields(request)
    area_id = await storage.create_custom(
        _ctx(request),
        area_id=request.path_params["custom_id"],
        ttl=storage.parse_ttl(request.path_params["ttl"]),
        owner=_owner(request),
        fields=fields,
    )
    return json({"id": area_id})


async def update(request: Request) -> Response:
    fields = await _fields(request)
    area_id = request.path_params["id"]
    await storage.update(
        _ctx(request),
        area_id=area_id,
        ttl=storage.parse_ttl(request.path_params["ttl"]),
        owner=_owner(request),
        fields=fields,
    )
    return json({"id": area_id})


async def read_all(request: Request) -> Response:
    area_id = request.path_params["id"]
    return json(await storage.read_all(_ctx(request), area_id=area_id, owner=_owner(request)))


async def read_key(request: Request) -> Response:
    key = request.path_params["key"]
    value = await storage.read_key(
        _ctx(request), area_id=request.path_params["id"], key=key, owner=_owner(request)
    )
    return binary(value) if isinstance(value, Binary) else json({key: value})


async def read_binary(request: Request) -> Response:
    value = await storage.read_key(
        _ctx(request),
        area_id=request.path_params["id"],
        key=request.path_params["key"],
        owner=_owner(request),
    )
    return binary(value)


async def delete(request: Request) -> Response:
    await storage.delete(_ctx(request), area_id=request.path_params["id"], owner=_owner(request))
    return empty()


_BASE = "/genesys/1/storage"

routes = [
    Route(_BASE + "/custom/{custom_id}/{ttl}", create_custom, methods=["POST"]),
    Route(_BASE + "/binary/{id}/{key:keypath}", read_binary, methods=["GET"]),
    Route(_BASE + "/{id}/{ttl}", update, methods=["POST"]),
    Route(_BASE + "/{ttl}", create, methods=["POST"]),
    Route(_BASE + "/{id}/{key:keypath}", read_key, methods=["GET"]),
    Route(_BASE + "/{id}", read_all, methods=["GET"]),
    Route(_BASE + "/{id}", delete, methods=["DELETE"]),
]
