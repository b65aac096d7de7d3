"""`/genesys/1/service`: the GMS Service API. Translation only; the rules live in cxgate.gms."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cxgate.backends.base import Binary
from cxgate.gms import services
from cxgate.gms.context import GmsContext
from cxgate.http import paths as _paths  # noqa: F401  (registers {key:keypath})
from cxgate.http.bodies import parse_fields
from cxgate.http.responses import binary, empty, json
from cxgate.http.routing import Route


def _ctx(request: Request) -> GmsContext:
    ctx: GmsContext = request.app.state.gms
    return ctx


async def _fields(request: Request) -> dict[str, str | Binary]:
    return await parse_fields(request, limit=request.app.state.max_body)


async def create_service(request: Request) -> Response:
    fields = await _fields(request)
    answer = await services.create(_ctx(request), name=request.path_params["name"], fields=fields)
    return json(answer)


async def service_request(request: Request) -> Response:
    fields = await _fields(request)
    answer = await services.request(
        _ctx(request),
        service_id=request.path_params["id"],
        request=request.path_params["request"],
        fields=fields,
    )
    return json(answer)


async def delete_service(request: Request) -> Response:
    await services.delete(_ctx(request), service_id=request.path_params["id"])
    return empty()


async def read_storage(request: Request) -> Response:
    return json(await services.read_storage(_ctx(request), service_id=request.path_params["id"]))


async def write_storage(request: Request) -> Response:
    fields = await _fields(request)
    await services.write_storage(_ctx(request), service_id=request.path_params["id"], fields=fields)
    return empty()


async def delete_storage(request: Request) -> Response:
    await services.delete_keys(_ctx(request), service_id=request.path_params["id"], keys=None)
    return empty()


async def read_key(request: Request) -> Response:
    key = request.path_params["key"]
    value = await services.read_key(_ctx(request), service_id=request.path_params["id"], key=key)
    return binary(value) if isinstance(value, Binary) else json({key: value})


async def read_binary(request: Request) -> Response:
    value = await services.read_key(
        _ctx(request), service_id=request.path_params["id"], key=request.path_params["key"]
    )
    return binary(value)


async def delete_key(request: Request) -> Response:
    await services.delete_keys(
        _ctx(request), service_id=request.path_params["id"], keys=[request.path_params["key"]]
    )
    return empty()


_BASE = "/genesys/1/service"

routes = [
    Route(_BASE + "/{id}/storage", read_storage, methods=["GET"]),
    Route(_BASE + "/{id}/storage", write_storage, methods=["POST"]),
    Route(_BASE + "/{id}/storage", delete_storage, methods=["DELETE"]),
    Route(_BASE + "/{id}/storage/binary/{key:keypath}", read_binary, methods=["GET"]),
    Route(_BASE + "/{id}/storage/{key:keypath}", read_key, methods=["GET"]),
    Route(_BASE + "/{id}/storage/{key:keypath}", delete_key, methods=["DELETE"]),
    Route(_BASE + "/{id}/{request}", service_request, methods=["POST"]),
    Route(_BASE + "/{name}", create_service, methods=["POST"]),
    Route(_BASE + "/{id}", delete_service, methods=["DELETE"]),
]
