"""`/console/`: the console's built files, and `GET /console/api/config` for its pages.

Who may use them is `cxgate.auth.policy`'s business: the files are open (the page has to load to
show its login form), the API needs a signed-in user. Their headers (a CSP that lets the page run
its own scripts and nothing else) come from `cxgate.http.middleware`.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from cxgate.auth.identity import Caller
from cxgate.config import FileConfig
from cxgate.console.problems import endpoint_problems, static_problems
from cxgate.console.summary import describe
from cxgate.http.responses import json

PATH = "/console"
STATIC_DIR = Path(__file__).parent / "static"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cxgate console: not built</title></head>
<body><h1>The cxgate console is not built</h1>
<p>Its files are made from <code>console/</code> by <code>make install</code> (which needs Node.js
20.19 or newer and npm), or by hand: <code>cd console &amp;&amp; npm ci &amp;&amp; npm run
build</code>. The APIs work without it.</p></body></html>
"""


async def config(request: Request) -> Response:
    file: FileConfig = request.app.state.settings.config
    caller: Caller | None = getattr(request.state, "caller", None)
    problems = static_problems(file)
    gms = getattr(request.app.state, "gms", None)
    if gms is not None:
        problems += await endpoint_problems(file, gms.http)
    else:  # outside the lifespan (a bare test app): a client of our own
        async with httpx.AsyncClient() as http:
            problems += await endpoint_problems(file, http)
    user = None if caller is None else {"name": caller.name, "roles": sorted(caller.roles)}
    return json(
        {
            "auth": bool(file.users),
            "user": user,
            **describe(file),
            "problems": [problem.as_json() for problem in problems],
        }
    )


async def to_console(request: Request) -> Response:
    return RedirectResponse(PATH + "/", status_code=307)


class ConsoleFiles:
    """The built files, with `index.html` for `/console/`; a page that says how to build them
    while they are missing (a checkout where `make install` has not run)."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.directory / "index.html").is_file():
            await HTMLResponse(NOT_BUILT, status_code=503)(scope, receive, send)
            return
        await self.files(scope, receive, send)


routes = [
    Route(PATH + "/api/config", config, methods=["GET"], name="console-config"),
    Route(PATH, to_console, methods=["GET", "HEAD"]),
    Mount(PATH, app=ConsoleFiles(), name="console"),
]
