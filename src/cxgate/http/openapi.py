"""`GET /openapi.json`: the OpenAPI 3.1 document of every HTTP API, from `openapi.yaml` beside
this module. Read and encoded once, when this module is imported (at startup); open to anyone
(`cxgate.auth.policy`). `tests/unit/test_openapi_routes.py` keeps it equal to the app's routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml
from starlette.requests import Request
from starlette.responses import Response

from cxgate.http.routing import Route

SOURCE = Path(__file__).with_name("openapi.yaml")
PATH = "/openapi.json"


def load(source: Path = SOURCE) -> dict[str, Any]:
    """The document as a JSON-ready dict (YAML anchors expanded)."""
    document = yaml.safe_load(source.read_text("utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{source} is not an OpenAPI document")
    return document


DOCUMENT: bytes = orjson.dumps(load())


async def openapi(request: Request) -> Response:
    return Response(DOCUMENT, media_type="application/json")


routes = [Route(PATH, openapi, methods=["GET"], name="openapi")]
