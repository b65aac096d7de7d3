"""A real uvicorn server on a free loopback port, in the test's own event loop.

Shared by tests/api/test_cometd_http.py and the interop tests: both need the CometD routes
served over real sockets, exactly as production serves them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette

from cxgate.cometd import CometdServer

PATHS = ("/api/v2/notifications", "/genesys/cometd")


def cometd_app(cometd: CometdServer) -> Starlette:
    """The tiny app the tests serve: one CometdServer mounted at both GMS paths."""
    routes = [route for path in PATHS for route in cometd.routes(path)]
    return Starlette(routes=routes)


@asynccontextmanager
async def serving(cometd: CometdServer) -> AsyncIterator[str]:
    """Serve `cometd` over uvicorn; yield the base URL (`http://127.0.0.1:PORT`).

    On exit `cometd.stop()` runs before uvicorn is told to exit: uvicorn waits for
    in-flight requests, and held long-polls would otherwise keep it waiting.
    """
    # IPPROTO_TCP spelled out: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        cometd_app(cometd),
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    await cometd.start()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        await cometd.stop()
        server.should_exit = True
        await task
        sock.close()
