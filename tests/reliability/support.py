"""Helpers shared by the reliability tests: configuration, killing, polling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends import REQUIRED

STORE_TIMEOUT = 1.0  # the ?timeout= of the stores the tests own, seconds

# Short probe interval: the request guard follows the store's state within a second.
CONFIG = """
[server]
access_code_prefix = "9"
strategy_timeout = {strategy_timeout}

[status]
interval = 0.5
timeout = 1.0

[service.store]
_type = "builtin"
_service = "session"
_ttl = 3600

[service.request-interaction]
_type = "builtin"
_service = "request-interaction"
_ttl = 600
_provide_code = true
_resource_group = "DNIS"

[service.match-interaction]
_type = "builtin"
_service = "match-interaction"

[resources.DNIS]
numbers = ["8003449999", "8003449998", "8003449997"]
"""

HTTP_SERVICE = """
[service.slow]
_type = "http"
_service = "{url}"
_ttl = 3600
"""


@dataclass
class OwnStore:
    """A store backend the test owns, with the ways to break it."""

    name: str
    url: str  # with ?timeout=STORE_TIMEOUT
    stop: Callable[[], None]  # pg_ctl stop -m immediate / SIGKILL of redis-server
    start: Callable[[], None]
    freeze: Callable[[], AbstractContextManager[None]]  # SIGSTOP until the block ends


def skip_or_fail(backend: str, reason: str | None) -> None:
    """Skip when `backend` cannot run here (`reason`), unless CI requires it: then fail."""
    if reason is None:
        return
    if backend in REQUIRED:
        pytest.fail(f"{backend} is required (CXGATE_REQUIRE_BACKENDS) but {reason}")
    pytest.skip(reason)


def write_config(
    tmp_path: Path, *, strategy_timeout: float = 10.0, http_service_url: str | None = None
) -> Path:
    text = CONFIG.format(strategy_timeout=strategy_timeout)
    if http_service_url is not None:
        text += HTTP_SERVICE.format(url=http_service_url)
    path = tmp_path / "cxgate.toml"
    path.write_text(text)
    return path


def serve_env(tmp_path: Path, store: str) -> dict[str, str]:
    """The environment for `cxgate serve --store store`: on Redis, Context Services keeps its
    journey in an SQLite file; keep it beside the test, never in the working tree."""
    if store.startswith("redis"):
        return {"CXGATE_JOURNEY_STORE": f"sqlite:///{tmp_path}/journey.db"}
    return {}


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a `cxgate serve` and every worker it started (they share its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.05
) -> float:
    """Poll `check` until it holds; return how long that took. TimeoutError past `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


async def provisioning_state(client: httpx.AsyncClient, base_url: str) -> str | None:
    """Provisioning's state in `GET /api/v2/services?fields=*`, or None without that resource."""
    response = await client.get(base_url + "/api/v2/services", params={"fields": "*"})
    if response.status_code != 200:
        return None
    for service in response.json().get("services", []):
        if service.get("type") == "Provisioning":
            return str(service.get("state"))
    return None


class SlowEndpoint:
    """A tiny HTTP strategy endpoint on loopback that answers every POST after `delay` seconds.

    It runs on the test's own event loop (asyncio streams), counts the calls it received, and
    answers `{"_slow": "done"}`.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> SlowEndpoint:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            self.calls += 1
            await asyncio.sleep(self.delay)
            body = b'{"_slow": "done"}'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the test is over: end quietly (asyncio would log a cancelled handler)
        finally:
            writer.close()
            self._handlers.discard(task)
