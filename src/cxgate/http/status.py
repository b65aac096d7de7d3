"""`/api/v2/services` (the GWS services resource) and `/genesys/1/admin/maintenance`.

Translation only: the states come from the monitor's registry, maintenance from
`cxgate.status.maintenance`. Who may call them is `cxgate.auth.policy`'s business (the GWS roles
here, `admin` to switch maintenance).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cxgate.errors import BadRequest
from cxgate.http.bodies import read_limited
from cxgate.http.responses import json
from cxgate.http.routing import Route
from cxgate.status.maintenance import Maintenance
from cxgate.status.monitor import Monitor
from cxgate.status.registry import parse_fields

SERVICES_PATH = "/api/v2/services"
MAINTENANCE_PATH = "/genesys/1/admin/maintenance"
_MAX_MAINTENANCE_BODY = 1024


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


def _maintenance(request: Request) -> Maintenance:
    maintenance: Maintenance = request.app.state.maintenance
    return maintenance


async def list_services(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"))
    services = list(_monitor(request).registry)
    if fields is None:
        base = str(request.base_url).rstrip("/") + SERVICES_PATH
        return json({"statusCode": 0, "uris": [f"{base}/{s.id}" for s in services]})
    return json({"statusCode": 0, "services": [s.resource(fields) for s in services]})


async def get_service(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"))
    service = _monitor(request).registry.get(request.path_params["id"])
    # An object, not the one-element list the seed's example shows: GWS returns singular
    # resources as objects everywhere else, and SPEC section 6 says so.
    resource = service.resource() if fields is None else service.resource(fields)
    return json({"statusCode": 0, "service": resource})


async def get_maintenance(request: Request) -> Response:
    return json({"read_only": await _maintenance(request).get()})


async def set_maintenance(request: Request) -> Response:
    read_only = _read_only(await read_limited(request, _MAX_MAINTENANCE_BODY))
    await _maintenance(request).set(read_only=read_only)
    return json({"read_only": read_only})


def _read_only(body: bytes) -> bool:
    expected = 'the body must be JSON {"read_only": true} or {"read_only": false}'
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        # BadRequest, not MalformedJson: the GMS family answers that one with 500, a GMS
        # quirk kept for its own APIs that this new endpoint has no reason to copy.
        raise BadRequest(expected) from None
    value = parsed.get("read_only") if isinstance(parsed, dict) else None
    if not isinstance(value, bool):
        raise BadRequest(expected)
    return value


routes = [
    Route(SERVICES_PATH, list_services, methods=["GET"], name="services"),
    Route(SERVICES_PATH + "/{id}", get_service, methods=["GET"], name="service"),
    Route(MAINTENANCE_PATH, get_maintenance, methods=["GET"], name="maintenance-read"),
    Route(MAINTENANCE_PATH, set_maintenance, methods=["POST"], name="maintenance-write"),
]
