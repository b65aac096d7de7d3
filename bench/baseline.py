"""The bare ASGI baseline: `{"ok": true}` for every request, on the uvicorn settings of cxgate.

`cxgate serve` runs uvicorn with one worker, uvloop, httptools, no access log and no `server`
header (see src/cxgate/cli.py). This app runs under exactly those options, so the ratio
cxgate / baseline isolates what cxgate itself (Starlette, routing, body parsing, the store)
costs on top of the HTTP server. Run it as `python -m bench.baseline --port 8081`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = orjson.dumps({"ok": True})
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode("ascii")),
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with `{"ok":true}` after reading its whole body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more_body = True
    while more_body:  # read the body as cxgate does, so that POST costs the same I/O
        message = await receive()
        if message["type"] != "http.request":
            return
        more_body = bool(message.get("more_body", False))
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
    """The keyword arguments `cxgate serve --workers 1 --no-access-log` gives uvicorn.run."""
    return {
        "host": host,
        "port": port,
        "workers": 1,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": "info",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        "server_header": False,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    uvicorn.run("bench.baseline:app", **uvicorn_options(args.host, args.port))


if __name__ == "__main__":
    main()
