"""API tests: the real app (create_app) on each backend, driven in-process through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cxgate.app import create_app
from cxgate.config import Settings, parse_config
from tests.backends import FakeClock, Harness, drop_url, fresh_url
from tests.conftest import BACKEND_PARAMS

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
    settings = Settings(store=url, config=parse_config(config_text, source="test config"))
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
