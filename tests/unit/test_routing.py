"""The indexed router (cxgate.http.routing) picks the very route Starlette's linear search picks,
for every route of the real app, every method and awkward paths; 404, 405 and redirects stay
Starlette's own."""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Mount, Route

from cxgate.app import create_app
from cxgate.config import Settings
from cxgate.http.routing import IndexedRouter, literal_segments, slash_bounds

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW")
_PARAMETER = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")
# Values a parameter may take in a request path: plain, odd characters, slashes (which only
# `path`-like convertors accept), empty, a final line break (a route regex's `$` matches
# before one), a UUID, numbers.
VALUES = (
    "abc",
    "0b7c3b8e-2f0e-4a55-9d9c-0c5b1f1d2a3e",
    "42",
    "a/b",
    "",
    "k\n",
    "custom",
    "binary",
)


def starlette_choice(routes: list[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    """What `starlette.routing.Router.app` hands the request to: the first full match."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def concrete_paths(route: BaseRoute) -> set[str]:
    template = getattr(route, "path", "")
    if isinstance(route, Mount):
        template += "/{path:path}"
    names = _PARAMETER.findall(template)
    paths = set()
    for values in itertools.product(VALUES, repeat=len(names)):
        path = template
        for value in values:
            path = _PARAMETER.sub(value.replace("\\", "\\\\"), path, count=1)
        paths.add(path)
    return {p for path in paths for p in (path, path + "/", path + "\n", path + "/x", path[:-1])}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    store = tmp_path_factory.mktemp("routing") / "cx.db"
    return create_app(Settings(store=f"sqlite:///{store}"), access_log=False)


def test_the_app_routes_through_the_index(app: Starlette) -> None:
    assert isinstance(app.router, IndexedRouter)
    assert len(app.routes) > 40


def test_every_path_and_method_finds_starlettes_route(app: Starlette) -> None:
    router = app.router
    assert isinstance(router, IndexedRouter)
    routes = list(router.routes)
    paths = {p for route in routes for p in concrete_paths(route)}
    paths |= {"/", "", "//", "/genesys", "/genesys/1", "/genesys/1/", "/api/v2", "/console"}
    paths |= {"/genesys/1/node\n", "/genesys//1/node", "/GENESYS/1/node", "/no/such/path/42"}
    checked = 0
    for path, method in itertools.product(sorted(paths), METHODS):
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        found = router.full_match(scope)
        assert (found and found[0]) == starlette_choice(routes, scope), (method, path)
        checked += 1
    assert checked > 10_000


def test_a_root_path_is_taken_off_as_starlette_does(app: Starlette) -> None:
    router = app.router
    assert isinstance(router, IndexedRouter)
    for path in ("/prefix/genesys/1/storage/abc", "/prefix", "/prefixed/genesys/1/node"):
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "/prefix"}
        found = router.full_match(scope)
        assert (found and found[0]) == starlette_choice(router.routes, scope), path


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def endpoint(request: Any) -> PlainTextResponse:
    return PlainTextResponse(request.scope["route"].path)


def test_index_keys_and_slash_bounds() -> None:
    assert literal_segments(Route("/genesys/1/storage/{ttl}", endpoint)) == (
        "genesys",
        "1",
        "storage",
    )
    assert literal_segments(Route("/a/b{x}/c", endpoint)) == ("a",)
    assert literal_segments(Route("/metrics", endpoint)) == ("metrics",)
    assert literal_segments(Mount("/console", routes=[])) == ("console",)
    assert slash_bounds(Route("/a/{id}/b", endpoint)) == (3, 3)
    assert slash_bounds(Route("/a/{n:int}/{u:uuid}/{f:float}", endpoint)) == (4, 4)
    assert slash_bounds(Route("/a/{rest:path}", endpoint)) == (2, float("inf"))
    assert slash_bounds(Mount("/console", routes=[])) == (2, float("inf"))


async def test_404_405_and_redirects_are_starlettes() -> None:
    routes = [
        Route("/a/{id}", endpoint, methods=["GET"]),
        Route("/a/{id}", endpoint, methods=["DELETE"]),
        Route("/b/", endpoint),
        Route("/c/{rest:path}", endpoint, methods=["POST"]),
    ]
    indexed_app = Starlette(routes=routes)
    indexed_app.router = IndexedRouter(routes)
    plain = client(Starlette(routes=routes))
    indexed = client(indexed_app)
    for method, path in [
        ("GET", "/a/1"),
        ("DELETE", "/a/1"),
        ("PUT", "/a/1"),
        ("GET", "/b"),
        ("GET", "/b/"),
        ("POST", "/c/x/y"),
        ("GET", "/c/x/y"),
        ("GET", "/nothing"),
    ]:
        ours = await indexed.request(method, path)
        theirs = await plain.request(method, path)
        assert (ours.status_code, ours.text, ours.headers.get("allow")) == (
            theirs.status_code,
            theirs.text,
            theirs.headers.get("allow"),
        ), (method, path)


def test_a_final_line_break_finds_the_literal_route_first() -> None:
    """`^/a/b$` matches "/a/b\\n" too, and comes first: the index must offer it."""
    routes = [Route("/a/b", endpoint), Route("/a/{x}", endpoint)]
    router = IndexedRouter(routes)
    scope = {"type": "http", "method": "GET", "path": "/a/b\n", "root_path": ""}
    found = router.full_match(scope)
    assert found is not None
    assert found[0] is starlette_choice(routes, scope) is routes[0]


def test_routes_added_later_are_indexed() -> None:
    router = IndexedRouter([Route("/a", endpoint)])
    scope = {"type": "http", "method": "GET", "path": "/b", "root_path": ""}
    assert router.full_match(scope) is None
    router.routes.append(Route("/b", endpoint))
    found = router.full_match(scope)
    assert found is not None
    assert found[0] is router.routes[1]
