"""`python -m bench.inprocess`: the CPU cost of each layer of cxgate, per request, without sockets.

wrk and py-spy see the whole process on a busy 2-core machine, where samples also count time
spent waiting for a CPU. This tool measures CPU time (`time.process_time`) instead, in one
process, on uvloop, for the same requests as `python -m bench`:

- **server**: uvicorn's HTTP protocol (httptools, as `cxgate serve` runs it) and the whole app,
  fed the raw request bytes on an in-memory transport: everything but the sockets;
- **bare**: the same for the bare ASGI baseline (`bench/baseline.py`), on the same requests;
- **app**: the whole ASGI app (Starlette's and cxgate's middlewares, routing, handler, store),
  called directly with an in-memory receive/send;
- **router**: `app.router` only, which skips every middleware;
- **store**: the store method the handler calls (e.g. `areas.read_value`), alone.

So `server - app` is what uvicorn's protocol adds for this app (its task per request, and its
check of every response header: about 0.7 µs each, and cxgate sends 6 more than the baseline),
`app - router` the middlewares, `router - store` routing + body parsing + the handler + the
response object, and `store` the backend with its driver; `bare / server` is about the ratio
`python -m bench` would measure without the sockets' cost, which both servers pay alike. It also
reports the CPU the store's own processes (postgres, redis-server) spent per request.

    python -m bench.inprocess --backends sqlite,postgres,redis --requests 3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvloop

import cxgate
from bench import baseline
from bench import scenarios as sc
from bench.servers import (
    BACKEND_COMMANDS,
    BACKEND_NAMES,
    Backend,
    cpu_seconds_by_command,
    make_backend,
    store_cpu_delta,
)

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Cost:
    cpu_us: float  # this process's CPU time per request
    wall_us: float  # elapsed time per request
    store_cpu_us: float  # CPU of the postgres / redis-server processes per request


def _scope(method: str, path: str, body: str | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench")]
    if body is not None:
        headers += [
            (b"content-type", sc.FORM.encode()),
            (b"content-length", str(len(body.encode())).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def call(
    app: Callable[..., Awaitable[None]],
    method: str,
    path: str,
    body: str | None,
    starlette_app: Any = None,
) -> tuple[int, bytes]:
    """One request through an ASGI callable; returns the status and the body. Calling a
    Starlette router directly needs `starlette_app`, which the app would put in the scope."""
    sent = False
    payload = body.encode() if body is not None else b""
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = _scope(method, path, body)
    if starlette_app is not None:
        scope["app"] = starlette_app
    await app(scope, receive, send)
    return status, b"".join(chunks)


async def measure(
    work: Callable[[int], Awaitable[Any]],
    count: int,
    concurrency: int,
    commands: frozenset[str] = frozenset(),
) -> Cost:
    """Run `work(i)` `count` times over `concurrency` tasks; CPU and wall time per call."""
    per_task = max(1, count // concurrency)

    async def worker(task: int) -> None:
        for i in range(per_task):  # task t sends requests t, t + concurrency, ...
            await work(task + i * concurrency)

    store_before = cpu_seconds_by_command(commands)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(concurrency)))
    cpu1, wall1 = time.process_time(), time.perf_counter()
    store = store_cpu_delta(store_before, cpu_seconds_by_command(commands))
    total = per_task * concurrency
    return Cost(
        round(1e6 * (cpu1 - cpu0) / total, 1),
        round(1e6 * (wall1 - wall0) / total, 1),
        round(1e6 * store / total, 1),
    )


@contextlib.asynccontextmanager
async def running_app(store_url: str) -> AsyncIterator[Any]:
    """cxgate's app as `cxgate serve --no-access-log` builds it, with its lifespan entered."""
    os.environ.update(
        {
            "CXGATE_STORE": store_url,
            "CXGATE_CONFIG": str(Path(cxgate.__file__).resolve().parent / "demo.toml"),
            "CXGATE_ACCESS_LOG": "0",
            "CXGATE_LOG_LEVEL": "warning",
        }
    )
    from cxgate.cli import app_factory

    app = app_factory()
    async with app.router.lifespan_context(app):
        yield app


class _Transport(asyncio.Transport):
    """An in-memory connection: collects what the server writes, and resolves `answered` with
    (status, body) once a whole response (headers and content-length bytes) is there."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.answered: asyncio.Future[tuple[int, bytes]] | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        end = self.written.find(b"\r\n\r\n")
        if end < 0 or self.answered is None:
            return
        length = _CONTENT_LENGTH.search(self.written, 0, end)
        body = self.written[end + 4 :]
        if len(body) >= (int(length[1]) if length else 0):
            status = int(self.written[9:12])  # HTTP/1.1 200 OK
            self.written = b""
            self.answered.set_result((status, body))


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *([0-9]+)", re.IGNORECASE)


def server_call(
    target: Any, scenario: sc.Scenario, fixtures: sc.Fixtures, connections: int
) -> Callable[[int], Awaitable[Any]]:
    """The scenario's request as bytes through uvicorn's httptools protocol, on `connections`
    keep-alive connections (request `i` on connection `i % connections`)."""
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    config = Config(
        app=target, http="httptools", access_log=False, server_header=False, log_level="warning"
    )
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    pairs = []
    for _ in range(connections):
        transport = _Transport()
        protocol = HttpToolsProtocol(config, state, {}, _loop=loop)
        protocol.connection_made(transport)
        pairs.append((transport, protocol))
    requests = []
    for path in scenario.paths(fixtures):
        head = f"{scenario.method} {path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
        body = (scenario.body or "").encode()
        if scenario.body is not None:
            head += f"Content-Type: {sc.FORM}\r\nContent-Length: {len(body)}\r\n"
        requests.append(head.encode() + b"\r\n" + body)

    async def work(i: int) -> None:
        transport, protocol = pairs[i % connections]
        transport.answered = loop.create_future()
        protocol.data_received(requests[i % len(requests)])
        status, body = await transport.answered
        if status != 200:
            raise RuntimeError(f"{scenario.name}: {status} {body[:200]!r}")

    return work


def store_call(
    app: Any, scenario: sc.Scenario, fixtures: sc.Fixtures
) -> Callable[[int], Awaitable[Any]]:
    """The store method the scenario's handler ends up calling, with the same arguments."""
    from cxgate.backends.base import AreaKind

    areas = app.state.gms.store.areas
    fields = dict(parse_qsl(scenario.body or ""))
    services, area_ids = fixtures.service_ids, fixtures.area_ids
    if scenario.name == "create_service":
        return lambda i: areas.create(
            str(uuid.uuid4()),
            kind=AreaKind.SERVICE,
            label=sc.SERVICE_NAME,
            owner=None,
            ttl=3600,
            values=fields,
        )
    if scenario.name == "service_storage_get":
        return lambda i: areas.read_value(
            services[i % len(services)], sc.READ_KEY, kind=AreaKind.SERVICE, owner=None
        )
    if scenario.name == "service_storage_post":
        return lambda i: areas.write(
            services[i % len(services)], kind=AreaKind.SERVICE, owner=None, values=fields
        )
    if scenario.name == "storage_create":
        return lambda i: areas.create(
            str(uuid.uuid4()), kind=AreaKind.STORAGE, label="", owner=None, ttl=300, values=fields
        )
    if scenario.name == "storage_read":
        return lambda i: areas.read_strings(
            area_ids[i % len(area_ids)], kind=AreaKind.STORAGE, owner=None
        )
    raise ValueError(scenario.name)


def http_call(
    target: Any, scenario: sc.Scenario, fixtures: sc.Fixtures, app: Any = None
) -> Callable[[int], Awaitable[Any]]:
    paths = scenario.paths(fixtures)

    async def work(i: int) -> None:
        path = paths[i % len(paths)]
        status, body = await call(target, scenario.method, path, scenario.body, app)
        if status != 200:
            raise RuntimeError(f"{scenario.name}: {status} {body[:200]!r}")

    return work


async def run_backend(
    backend: Backend, chosen: list[sc.Scenario], count: int, concurrency: int, ids: int
) -> dict[str, dict[str, Cost]]:
    results: dict[str, dict[str, Cost]] = {}
    async with running_app(backend.store_url) as app:
        services = []
        for _ in range(ids):
            _, body = await call(
                app, "POST", f"/genesys/1/service/{sc.SERVICE_NAME}", sc.SERVICE_FIELDS
            )
            services.append(json.loads(body)["_id"])
        areas = []
        for _ in range(ids):
            _, body = await call(app, "POST", f"/genesys/1/storage/{sc.AREA_TTL}", sc.AREA_FIELDS)
            areas.append(json.loads(body)["id"])
        fixtures = sc.Fixtures(services, areas)
        for scenario in chosen:
            layers = {
                "server": server_call(app, scenario, fixtures, concurrency),
                "bare": server_call(baseline.app, scenario, fixtures, concurrency),
                "app": http_call(app, scenario, fixtures),
                "router": http_call(app.router, scenario, fixtures, app),
                "store": store_call(app, scenario, fixtures),
            }
            results[scenario.name] = {}
            commands = BACKEND_COMMANDS[backend.name]
            for name, work in layers.items():
                await measure(work, max(50, count // 10), concurrency)  # warm-up
                results[scenario.name][name] = await measure(work, count, concurrency, commands)
    return results


def render(all_results: dict[str, dict[str, dict[str, Cost]]], concurrency: int) -> str:
    lines = [
        f"CPU µs per request in one process (uvloop, {concurrency} concurrent tasks); "
        "store procs = CPU of postgres/redis-server per request",
        "",
        "| backend | scenario | server | bare | app | router | store | uvicorn (server-app) "
        "| middlewares (app-router) | routing+handler (router-store) | store procs "
        "| bare/server |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for backend, scenarios in all_results.items():
        for name, layers in scenarios.items():
            server, bare = layers["server"], layers["bare"]
            app, router, store = layers["app"], layers["router"], layers["store"]
            lines.append(
                f"| {backend} | {name} | {server.cpu_us:.0f} | {bare.cpu_us:.0f} "
                f"| {app.cpu_us:.0f} | {router.cpu_us:.0f} | {store.cpu_us:.0f} "
                f"| {server.cpu_us - app.cpu_us:.0f} | {app.cpu_us - router.cpu_us:.0f} "
                f"| {router.cpu_us - store.cpu_us:.0f} | {app.store_cpu_us:.0f} "
                f"| {bare.cpu_us / server.cpu_us:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKEND_NAMES))
    parser.add_argument("--scenarios", default="all")
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ids", type=int, default=64)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    chosen = sc.select(args.scenarios)
    all_results: dict[str, dict[str, dict[str, Cost]]] = {}
    with tempfile.TemporaryDirectory(prefix="cxgate-inprocess-") as tmp:
        for name in (b.strip() for b in args.backends.split(",") if b.strip()):
            backend = make_backend(
                name, Path(tmp), postgres_url=args.postgres_url, redis_url=args.redis_url
            )
            backend.reset()  # outside the loop: it runs its own for PostgreSQL
            try:
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    all_results[name] = runner.run(
                        run_backend(backend, chosen, args.requests, args.concurrency, args.ids)
                    )
            finally:
                backend.cleanup()
            print(f"{name}: done", file=sys.stderr, flush=True)
    print(render(all_results, args.concurrency))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    b: {s: {k: vars_of(c) for k, c in layers.items()} for s, layers in sc_.items()}
                    for b, sc_ in all_results.items()
                },
                indent=2,
            )
        )
    return 0


def vars_of(cost: Cost) -> dict[str, float]:
    return {"cpu_us": cost.cpu_us, "wall_us": cost.wall_us, "store_cpu_us": cost.store_cpu_us}


if __name__ == "__main__":
    sys.exit(main())
