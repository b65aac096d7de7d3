"""Starlette routing, minus two costs paid on every request.

`IndexedRouter`: Starlette's `Router` tries the routes in order, one regex each, until one
matches: 13 regexes for `POST /genesys/1/storage/{ttl}`. This router keeps the same single route
list and the same rules, but first narrows it down with an index of the routes' leading literal
path segments and their methods, so a request tries only the few routes that can match it.
Whenever no route matches fully (404, 405, a trailing-slash redirect), Starlette's own
`Router.app` runs over the whole list, so those answers are Starlette's.

`Route`: Starlette's `request_response` wraps every endpoint call in a second copy of the
exception handling that `ExceptionMiddleware` (always in a Starlette app) already does with the
same handlers on the same scope; this `Route` calls the endpoint directly and lets exceptions
reach that middleware.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Collection, Sequence

from starlette import routing
from starlette._utils import get_route_path  # the path Starlette's routes match against
from starlette.applications import Starlette
from starlette.convertors import FloatConvertor, IntegerConvertor, StringConvertor, UUIDConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import PARAM_REGEX, BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

# How many leading path segments the index tells apart: /genesys/1/{service,storage,cs,...}.
DEPTH = 3

Endpoint = Callable[[Request], Awaitable[Response]]


class Route(routing.Route):
    """A Starlette `Route` whose async endpoint runs without a per-route exception layer."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        super().__init__(
            path, endpoint, methods=methods, name=name, include_in_schema=include_in_schema
        )
        if inspect.iscoroutinefunction(endpoint):
            self.app = _endpoint_app(endpoint)


def _endpoint_app(endpoint: Endpoint) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


def literal_segments(route: BaseRoute) -> tuple[str, ...]:
    """The path segments, at most DEPTH, that begin every path `route` can match; () when any
    path may match (a route kind without a path template, or a literal holding a line break,
    which a request path's last segment is stripped of: a route regex's `$` also matches just
    before a final line break)."""
    template = _template(route)
    if template is None:
        return ()
    parameter = PARAM_REGEX.search(template)
    if parameter is None:
        segments = template.split("/")[1:]
    else:  # the last piece before a parameter is incomplete: `/files/{name}`, `/f{x}`
        segments = template[: parameter.start()].split("/")[1:-1]
    if any("\n" in segment for segment in segments):
        return ()
    return tuple(segments[:DEPTH])


def slash_bounds(route: BaseRoute) -> tuple[int, float]:
    """How many `/` a path `route` matches holds, at least and at most: the template's own,
    plus any number when a parameter's convertor may match one (`path`, `keypath`, unknown)."""
    template = _template(route)
    if template is None:
        return 0, math.inf
    convertors = getattr(route, "param_convertors", {})  # a Mount's has its rest's `path`
    fixed = all(type(c) in _SLASHLESS for c in convertors.values())
    least = PARAM_REGEX.sub("", template).count("/")
    return least, least if fixed else math.inf


def _template(route: BaseRoute) -> str | None:
    """The path template `route` matches whole paths against (a Mount's ends with its rest)."""
    template = getattr(route, "path", None)
    if not isinstance(template, str) or not template.startswith("/"):
        return None
    return template + "/{path}" if isinstance(route, Mount) else template


# Convertors whose regex never matches a `/`.
_SLASHLESS = (StringConvertor, IntegerConvertor, FloatConvertor, UUIDConvertor)

# A route, and the fewest and most `/` a path it matches holds (see slash_bounds).
Candidate = tuple[BaseRoute, int, float]


class _Node:
    """The routes that may match the paths beginning with one sequence of segments."""

    __slots__ = ("any_method", "by_method", "children")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.by_method: dict[str, tuple[Candidate, ...]] = {}
        self.any_method: tuple[Candidate, ...] = ()


def _methods(route: BaseRoute) -> Collection[str]:
    methods: Collection[str] | None = getattr(route, "methods", None)
    return methods or ()


def build_index(routes: Sequence[BaseRoute]) -> _Node:
    keyed = [(literal_segments(route), (route, *slash_bounds(route))) for route in routes]
    root = _Node()
    for key, _ in keyed:
        node = root
        for segment in key:
            node = node.children.setdefault(segment, _Node())
    methods = {method for route in routes for method in _methods(route)}

    def fill(node: _Node, path: tuple[str, ...]) -> None:
        # In table order: the routes whose literal key is a prefix of this node's path.
        candidates = [candidate for key, candidate in keyed if path[: len(key)] == key]
        # A route without methods (a Mount, an ASGI endpoint) takes any method.
        node.any_method = tuple(c for c in candidates if not _methods(c[0]))
        node.by_method = {
            method: tuple(c for c in candidates if not _methods(c[0]) or method in _methods(c[0]))
            for method in methods
        }
        for segment, child in node.children.items():
            fill(child, (*path, segment))

    fill(root, ())
    return root


class IndexedRouter(routing.Router):
    """Starlette's `Router`, looking first among the routes the index says can match."""

    _index = _Node()
    _indexed = -1  # how many routes the index was built from

    def full_match(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The first route in table order that matches an HTTP request fully (path and method),
        and its child scope, as Starlette's `Router.app` would find it; None if none does."""
        if self._indexed != len(self.routes):  # at the first request, and after add_route()
            self._index, self._indexed = build_index(self.routes), len(self.routes)
        node = self._index
        path = get_route_path(scope)
        for segment in path.removesuffix("\n").split("/", DEPTH + 1)[1 : DEPTH + 1]:
            child = node.children.get(segment)
            if child is None:
                break
            node = child
        slashes = path.count("/")
        for route, least, most in node.by_method.get(scope["method"], node.any_method):
            if least <= slashes <= most:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    return route, child_scope
        return None

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if "router" not in scope:
                scope["router"] = self
            found = self.full_match(scope)
            if found is not None:
                route, child_scope = found
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        # No full match (or not HTTP): Starlette's pass over every route finds the partial
        # match (405), the redirect or the 404, exactly as without the index.
        await super().app(scope, receive, send)


def use_indexed_router(app: Starlette) -> None:
    """Give a Starlette app an `IndexedRouter` over its own routes and lifespan, before it
    serves its first request (its middleware stack is built around `app.router` then)."""
    router = app.router
    app.router = IndexedRouter(
        router.routes,
        redirect_slashes=router.redirect_slashes,
        lifespan=router.lifespan_context,
    )
