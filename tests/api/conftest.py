"""API tests: the real app (create_app) on each backend, driven in-process through httpx."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxgate.app import create_app
from cxgate.config import Settings, parse_config
from tests.backends import PG_URL, REDIS_URL, FakeClock, Harness, drop_url, fresh_url
from tests.conftest import BACKEND_PARAMS, JOURNEY_PARAMS, backend_param

TEST_CONFIG = """
[server]
access_code_prefix = "9"
max_body_size = 65536
max_key_length = 256

[service.store]
_type = "builtin"
_service = "session"
_ttl = 60

[service.flexible]
_type = "builtin"
_service = "session"
_ttl = 60
_overwritable_options = ["_ttl"]

[service.request-interaction]
_type = "builtin"
_service = "request-interaction"
_ttl = 120
_provide_code = true
_resource_group = "DNIS"

[service.ri-nocode]
_type = "builtin"
_service = "request-interaction"
_ttl = 120
_resource_group = "SMALL"

[service.request-access]
_type = "builtin"
_service = "request-access"
_ttl = 300
_provide_code = true

[service.match-interaction]
_type = "builtin"
_service = "match-interaction"

[resources.DNIS]
numbers = ["8003449999", "8003449998", "8003449997"]

[resources.SMALL]
numbers = ["5550001", "5550002"]
"""


@dataclass
class Api:
    client: httpx.AsyncClient
    harness: Harness

    async def advance(self, seconds: float) -> None:
        await self.harness.advance(seconds)


OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


@asynccontextmanager
async def open_api(
    backend: str, tmp_path: Path, config_text: str = TEST_CONFIG
) -> AsyncIterator[Api]:
    url, extra = await fresh_url(backend, tmp_path)
    clock = FakeClock()
    settings = Settings(
        store=url,
        # A Redis store keeps journeys in SQLite: give them a file of this test's own.
        journey_store=f"sqlite:///{tmp_path}/journey.db" if backend == "redis" else None,
        config=parse_config(config_text, source="test config"),
    )
    app = create_app(settings, clock=clock, access_log=False)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cxgate") as client:
                yield Api(client, Harness(backend, url, app.state.store, clock, extra))
    finally:
        await drop_url(backend, extra)


@pytest.fixture(params=BACKEND_PARAMS)
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with TEST_CONFIG on a fresh store of each backend in turn."""
    async with open_api(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture(params=BACKEND_PARAMS)
def api_factory(request: pytest.FixtureRequest, tmp_path: Path) -> OpenApi:
    """For tests that need their own configuration: `async with api_factory(config) as api`."""

    def factory(config_text: str = TEST_CONFIG) -> AbstractAsyncContextManager[Api]:
        return open_api(request.param, tmp_path, config_text)

    return factory


# --- Status and notifications: nodes with their own bus, and a Bayeux long-polling client ---

BUS_PARAMS = [backend_param(kind) for kind in ("memory", "redis", "postgres")]


def bus_url(kind: str) -> str:
    """A bus URL private to one test: Redis and PostgreSQL channels are server-wide."""
    tag = uuid.uuid4().hex[:12]
    if kind == "memory":
        return f"memory://test-{tag}"
    if kind == "redis":
        return f"{REDIS_URL}?channel=cxgate-test-{tag}"
    if kind == "postgres":
        return f"{PG_URL}?channel=cxgate_test_{tag}"
    raise ValueError(kind)


@dataclass
class Node:
    """One cxgate node: its app (lifespan running) and an httpx client talking to it."""

    app: Any
    client: httpx.AsyncClient

    @property
    def monitor(self) -> Any:
        return self.app.state.monitor

    def state(self, name: str) -> str:
        """The announced state of the service called `name`."""
        return next(s.state.value for s in self.monitor.registry if s.name == name)


@asynccontextmanager
async def open_node(
    store: str, *, bus: str | None = None, config_text: str = ""
) -> AsyncIterator[Node]:
    """A node on `store`; without `bus`, a memory bus of its own (no cluster)."""
    settings = Settings(
        store=store,
        bus=bus or bus_url("memory"),
        config=parse_config(config_text, source="test config"),
    )
    app = create_app(settings, clock=FakeClock(), access_log=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cxgate") as client:
            yield Node(app, client)


class BayeuxClient:
    """A minimal CometD long-polling client over httpx, enough to wait for notifications."""

    def __init__(self, http: httpx.AsyncClient, path: str = "/api/v2/notifications") -> None:
        self.http = http
        self.path = path
        self.client_id: str | None = None
        self._ids = itertools.count(1)

    async def send(self, channel: str, **fields: Any) -> list[dict[str, Any]]:
        message = {"channel": channel, "id": str(next(self._ids)), **fields}
        if self.client_id is not None:
            message["clientId"] = self.client_id
        response = await self.http.post(self.path, json=[message])
        assert response.status_code == 200, response.text
        replies: list[dict[str, Any]] = response.json()
        return replies

    async def join(self, *channels: str) -> None:
        """Handshake, first connect, subscribe."""
        [reply] = await self.send(
            "/meta/handshake", version="1.0", supportedConnectionTypes=["long-polling"]
        )
        assert reply["successful"] is True, reply
        self.client_id = reply["clientId"]
        await self.send("/meta/connect", connectionType="long-polling")
        [reply] = await self.send("/meta/subscribe", subscription=list(channels))
        assert reply["successful"] is True, reply

    async def receive(self, channel: str, *, within: float = 5.0) -> list[Any]:
        """The data of the next message(s) on `channel`, holding connects until some arrive."""
        async with asyncio.timeout(within):
            while True:
                replies = await self.send("/meta/connect", connectionType="long-polling")
                data = [r["data"] for r in replies if r["channel"] == channel]
                if data:
                    return data

    async def pending(self, channel: str) -> list[Any]:
        """What is queued on `channel` right now (a connect that asks not to be held)."""
        replies = await self.send(
            "/meta/connect", connectionType="long-polling", advice={"timeout": 0}
        )
        return [r["data"] for r in replies if r["channel"] == channel]


# --- Context Services: the app with its journey store on a fresh SQL store of its own ---

CS_CONFIG = """
[server]
max_body_size = 65536

[cs]
export_dir = "{export_dir}"
export_file_size = 3
"""


@asynccontextmanager
async def open_cs_api(
    backend: str, tmp_path: Path, config_text: str = CS_CONFIG
) -> AsyncIterator[Api]:
    """The app whose GMS and journey stores share one fresh SQL store (as `cxgate serve
    --store sqlite:///...` does); `api.harness.store` is the journey store."""
    url, extra = await fresh_url(backend, tmp_path)
    clock = FakeClock()
    text = config_text.replace("{export_dir}", str(tmp_path / "export"))
    settings = Settings(store=url, config=parse_config(text, source="test config"))
    app = create_app(settings, clock=clock, access_log=False)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cxgate") as client:
                yield Api(client, Harness(backend, url, app.state.journey.store, clock, extra))
    finally:
        await drop_url(backend, extra)


@pytest.fixture(params=JOURNEY_PARAMS)
async def cs_api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """Context Services on each SQL backend in turn, with CS_CONFIG."""
    async with open_cs_api(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture(params=JOURNEY_PARAMS)
def cs_api_factory(request: pytest.FixtureRequest, tmp_path: Path) -> OpenApi:
    """For Context Services tests that need their own configuration."""

    def factory(config_text: str = CS_CONFIG) -> AbstractAsyncContextManager[Api]:
        return open_cs_api(request.param, tmp_path, config_text)

    return factory
