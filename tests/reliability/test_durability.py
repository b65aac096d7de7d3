"""Every write answered 2xx survives a SIGKILL of cxgate (and, on Redis, of Redis itself).

A load generator writes for ~3 s against a real `cxgate serve` and records every acknowledged key;
the server's whole process group is SIGKILLed in the middle of the stream; a new server on the same
store must then return every acknowledged key with its value.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.backends import drop_url, fresh_url
from tests.conftest import backend_param
from tests.e2e.processes import serve
from tests.reliability.instances import OwnRedis, own_redis, redis_missing
from tests.reliability.loadgen import LoadGenerator
from tests.reliability.support import kill_group, serve_env, skip_or_fail, write_config

pytestmark = [pytest.mark.slow, pytest.mark.deadline(60)]

LOAD_SECONDS = 3.0
KILL_AFTER = 1.8
WORKERS = 8


@asynccontextmanager
async def _store(backend: str, tmp_path: Path) -> AsyncIterator[tuple[str, OwnRedis | None]]:
    """The store URL to serve, and the Redis to kill when the test owns one."""
    if backend == "redis-aof":
        skip_or_fail("redis", redis_missing())
        with own_redis() as redis:
            yield redis.url, redis
        return
    url, extra = await fresh_url(backend, tmp_path)
    try:
        yield url, None
    finally:
        await drop_url(backend, extra)


def _params() -> Iterator[object]:
    yield backend_param("sqlite")
    yield backend_param("postgres")
    yield pytest.param("redis-aof", id="redis-aof")


@pytest.mark.parametrize("backend", list(_params()))
async def test_sigkill_loses_no_acknowledged_write(backend: str, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    args = ("--config", config)
    async with _store(backend, tmp_path) as (url, redis):
        with serve(tmp_path, *args, "--store", url, env=serve_env(tmp_path, url)) as served:
            load = LoadGenerator([served.base_url], workers=WORKERS)
            writing = asyncio.create_task(load.run(duration=LOAD_SECONDS))
            await asyncio.sleep(KILL_AFTER)
            acked_before_kill = load.acked_keys
            kill_group(served.process)
            await writing
        assert acked_before_kill > 50, f"too little load before the kill: {load.statuses()}"
        # Only HTTP answers before the kill, transport errors after it: never a 5xx.
        assert all(o.status is None or o.ok for o in load.outcomes), load.statuses()
        assert load.outcomes[-1].status is None, "the kill did not interrupt the stream"
        if redis is not None:
            redis.kill()  # kill -9 Redis too: only its AOF is left
            redis.start()
        with serve(tmp_path, *args, "--store", url, env=serve_env(tmp_path, url)) as again:
            verification = await load.verify(again.base_url)
    print(
        f"\n[durability] {backend}: {verification.checked} acknowledged writes checked after "
        f"SIGKILL, {len(verification.missing)} missing "
        f"({len(load.outcomes)} requests, {load.statuses()})"
    )
    assert verification.checked == load.acked_keys
    assert verification.ok, f"acknowledged but lost: {verification.missing[:10]}"
