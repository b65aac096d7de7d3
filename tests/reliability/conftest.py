"""Fixtures for the tests that break things for real: private backends and a hard deadline.

Every test here runs under a deadline (`@pytest.mark.deadline(seconds)`, default 60 s) enforced
with SIGALRM, so that even a blocking call cannot hang the suite; the context managers that own
processes (cxgate, PostgreSQL, Redis) then stop them on the way out.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.reliability.instances import (
    OwnPostgres,
    OwnRedis,
    own_postgres,
    own_redis,
    postgres_missing,
    redis_missing,
)
from tests.reliability.support import STORE_TIMEOUT, OwnStore, skip_or_fail, write_config

DEFAULT_DEADLINE = 60.0


class DeadlineExceeded(Exception):
    """The test ran past its deadline."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deadline(seconds): fail the test (and stop its processes) after this long"
    )


@pytest.fixture(autouse=True)
def deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("deadline")
    seconds = float(marker.args[0]) if marker else DEFAULT_DEADLINE

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DeadlineExceeded(f"{request.node.nodeid} ran past its {seconds:g} s deadline")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def pg() -> Iterator[OwnPostgres]:
    """A PostgreSQL cluster of this test's own, on a free port."""
    skip_or_fail("postgres", postgres_missing())
    with own_postgres() as cluster:
        yield cluster


@pytest.fixture
def redis_aof() -> Iterator[OwnRedis]:
    """A redis-server of this test's own, from deploy/redis.conf (AOF, appendfsync always)."""
    skip_or_fail("redis", redis_missing())
    with own_redis() as server:
        yield server


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture(params=["postgres", "redis"])
def own_store(request: pytest.FixtureRequest) -> Iterator[OwnStore]:
    """Each backend that can have an outage: a private PostgreSQL cluster, a private Redis."""
    timeout = f"timeout={STORE_TIMEOUT:g}"
    if request.param == "postgres":
        cluster: OwnPostgres = request.getfixturevalue("pg")
        yield OwnStore(
            "postgres",
            f"{cluster.url}?{timeout}",
            lambda: cluster.stop("immediate"),
            cluster.start,
            cluster.frozen,
        )
    else:
        redis: OwnRedis = request.getfixturevalue("redis_aof")
        yield OwnStore("redis", f"{redis.url}?{timeout}", redis.kill, redis.start, redis.frozen)
