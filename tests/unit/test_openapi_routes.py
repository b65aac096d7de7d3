"""The OpenAPI document cannot drift from the routes: the same (path, method) pairs as the real
app built by `create_app`, a valid OpenAPI 3.1 document, served as JSON at /openapi.json."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute

from cxgate.app import create_app
from cxgate.config import Settings, parse_config
from cxgate.http import openapi

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def shape(template: str) -> str:
    """`/a/{id}/b/{key:path}` -> `/a/{}/b/{}`.

    Parameter names are left out: where Starlette has two routes at one position with different
    names (`POST /genesys/1/storage/{ttl}`, `GET /genesys/1/storage/{id}`), OpenAPI needs one
    name (templated paths differing only in names are the same path), and the document's
    operation descriptions say what the segment means there."""
    return _PARAMETER.sub("{}", template)


def app_operations(app: Starlette) -> tuple[set[tuple[str, str]], set[str]]:
    """(path shape, METHOD) of every HTTP route, and the paths of the websocket routes.

    HEAD is left out: Starlette answers it wherever it answers GET. A Mount of an app (the
    console's files) serves GET on `{mount}/{path}`."""
    operations: set[tuple[str, str]] = set()
    websockets: set[str] = set()
    for route in app.routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    operations.add((shape(route.path), method))
        elif isinstance(route, WebSocketRoute):
            websockets.add(route.path)
        elif isinstance(route, Mount) and route.routes == []:
            operations.add((shape(route.path + "/{path}"), "GET"))
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")
    return operations, websockets


def document_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (shape(path), method.upper())
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    }


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.load()


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return create_app(Settings(store=f"sqlite:///{tmp_path}/cx.db"), access_log=False)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_is_documented_and_nothing_else(
    app: Starlette, document: dict[str, Any]
) -> None:
    routes, _ = app_operations(app)
    documented = document_operations(document)
    assert sorted(routes - documented) == [], "routes missing from src/cxgate/http/openapi.yaml"
    assert sorted(documented - routes) == [], "documented operations that no route serves"


def test_websocket_paths_are_documented_as_their_long_polling_posts(
    app: Starlette, document: dict[str, Any]
) -> None:
    _, websockets = app_operations(app)
    assert websockets == {"/api/v2/notifications", "/genesys/cometd"}
    for path in websockets:
        assert "post" in document["paths"][path]
        assert "websocket" in document["paths"][path]["post"]["description"]


def test_every_path_parameter_is_declared(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        named = set(_PARAMETER.findall(path))
        for method in METHODS:
            if method not in item:
                continue
            declared = {_resolve(document, p)["name"] for p in _path_params(document, item, method)}
            assert declared == named, f"{method.upper()} {path}"


def _path_params(document: dict[str, Any], item: dict[str, Any], method: str) -> list[Any]:
    every = [*item.get("parameters", []), *item[method].get("parameters", [])]
    return [p for p in every if _resolve(document, p)["in"] == "path"]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _responses(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (path, method, status)
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
        for status in item[method]["responses"]
    ]


def test_500_is_documented_only_for_gms_malformed_json(document: dict[str, Any]) -> None:
    """SPEC: the GMS JSON-accepting operations answer malformed JSON with 500; nothing else
    may (a 500 anywhere else is a bug, and the fuzzing run must flag it)."""
    with_500 = {(path, method) for path, method, status in _responses(document) if status == "500"}
    json_bodies = set()
    for path, item in document["paths"].items():
        for method in METHODS:
            operation = item.get(method, {})
            body = _resolve(document, operation.get("requestBody", {"content": {}}))
            if "application/json" in body["content"] and path.startswith(
                ("/genesys/1/service", "/genesys/1/storage")
            ):
                json_bodies.add((path, method))
    assert json_bodies, "the GMS operations take JSON bodies"
    assert with_500 == json_bodies
    for path, method in with_500:
        response = document["paths"][path][method]["responses"]["500"]
        assert response["$ref"] == "#/components/responses/GmsMalformedJson"


async def test_served_as_json_without_credentials(tmp_path: Path) -> None:
    hashed = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("pw")
    config = parse_config(
        f'[users.ada]\npassword_hash = "{hashed}"\nroles = ["admin"]\n', source="test"
    )
    app = create_app(Settings(store=f"sqlite:///{tmp_path}/cx.db", config=config), access_log=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cx") as client:
        answer = await client.get("/openapi.json")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == openapi.load()
        assert answer.content == openapi.DOCUMENT
        assert (await client.get("/api/v2/services")).status_code == 401  # the rest is not open
    assert orjson.loads(openapi.DOCUMENT)["info"]["title"] == "cxgate"
