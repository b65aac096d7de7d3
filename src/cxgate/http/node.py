"""`/genesys/1/node`: the GMS Node API that load balancers poll. 200 once the store answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cxgate import __version__
from cxgate.errors import StoreUnavailable
from cxgate.http.responses import json
from cxgate.http.routing import Route


async def node(request: Request) -> Response:
    try:
        await request.app.state.store.ping()
    except StoreUnavailable as exc:
        return json({"status": "unavailable", "message": exc.message}, status=503)
    return json({"status": "ok", "version": __version__})


routes = [Route("/genesys/1/node", node, methods=["GET"])]
