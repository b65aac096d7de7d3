"""Every wait is bounded and configurable, and each failure maps to a clear 503 or 504.

- HTTP strategy calls: `[server] strategy_timeout` -> 504; an unreachable endpoint -> 502.
- SQLite: a file locked by someone else waits `?busy_timeout_ms=` at most -> 503.
- Startup: a store that is down or hung when cxgate starts delays nothing: the process serves at
  once (the node API answers 503) and heals by itself when the store comes.
(Store calls on a hung PostgreSQL or Redis: tests/reliability/test_outages.py.)
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port, serve
from tests.reliability.loadgen import USER
from tests.reliability.support import (
    STORE_TIMEOUT,
    OwnStore,
    SlowEndpoint,
    serve_env,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.deadline(60)]


async def test_strategy_timeout_answers_504_and_unreachable_502(tmp_path: Path) -> None:
    async with SlowEndpoint(5.0) as endpoint:
        config = str(write_config(tmp_path, http_service_url=endpoint.url, strategy_timeout=0.5))
        with serve(tmp_path, "--config", config) as served:
            async with httpx.AsyncClient(timeout=10) as client:
                started = time.monotonic()
                answer = await client.post(served.base_url + "/genesys/1/service/slow")
                took = time.monotonic() - started
    assert answer.status_code == 504, answer.text
    assert "did not answer" in answer.json()["message"]
    assert took < 0.5 + 1.0

    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = str(write_config(tmp_path, http_service_url=unreachable))
    with serve(tmp_path, "--config", config) as served:
        answer = httpx.post(served.base_url + "/genesys/1/service/slow", timeout=10)
    assert answer.status_code == 502, answer.text
    assert "unreachable" in answer.json()["message"]


async def test_sqlite_lock_waits_busy_timeout_then_503(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    store = f"sqlite:///{db}?busy_timeout_ms=300"
    config = str(write_config(tmp_path))
    url_path = "/genesys/1/storage/custom/locked/60"
    with serve(tmp_path, "--config", config, "--store", store) as served:
        async with httpx.AsyncClient(timeout=10) as client:

            async def write() -> httpx.Response:
                return await client.post(
                    served.base_url + url_path, data={"k": "v"}, headers={"gms_user": USER}
                )

            assert (await write()).status_code == 200
            other = sqlite3.connect(db, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                started = time.monotonic()
                refused = await write()
                took = time.monotonic() - started
                other.execute("ROLLBACK")
            finally:
                other.close()
            assert (await write()).status_code == 200
    assert refused.status_code == 503, refused.text
    assert "store" in refused.json()["message"].lower()
    assert 0.3 <= took < 0.3 + 1.0


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
async def test_start_is_not_held_by_a_missing_store(
    own_store: OwnStore, outage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path))
    with ExitStack() as stack:
        frozen = ExitStack()
        stack.enter_context(frozen)  # whatever happens, the store thaws before it is removed
        if outage == "stopped":
            own_store.stop()
        else:
            frozen.enter_context(own_store.freeze())
        started = time.monotonic()
        served = stack.enter_context(
            serve(
                tmp_path,
                "--config",
                config,
                "--store",
                own_store.url,
                env=serve_env(tmp_path, own_store.url),
                wait=False,
            )
        )
        async with httpx.AsyncClient(timeout=10) as client:

            async def answers() -> bool:
                try:
                    node = await client.get(served.base_url + "/genesys/1/node", timeout=5)
                except httpx.TransportError:
                    return False
                assert node.status_code == 503, node.text
                return True

            await wait_for(answers, timeout=20, interval=0.1)
            serving_after = time.monotonic() - started
            write = await client.post(
                served.base_url + "/genesys/1/storage/custom/early/60",
                data={"k": "v"},
                headers={"gms_user": USER},
            )
            assert write.status_code == 503, write.text
            assert served.process.poll() is None
            if outage == "frozen":
                frozen.close()
            else:
                own_store.start()
            back = time.monotonic()

            async def healed() -> bool:
                node = await client.get(served.base_url + "/genesys/1/node", timeout=5)
                written = await client.post(
                    served.base_url + "/genesys/1/storage/custom/late/60",
                    data={"k": "v"},
                    headers={"gms_user": USER},
                )
                return node.status_code == 200 and written.status_code == 200

            await wait_for(healed, timeout=20, interval=0.1)
            healed_after = time.monotonic() - back
    # Before uvicorn reports "startup complete" a store that is down or hung costs at most a few
    # connection attempts, each bounded by the store timeout (the store, then Context Services).
    assert serving_after < 8 * STORE_TIMEOUT + 3
    with capsys.disabled():
        print(
            f"\n[startup] {own_store.name} {outage}: serving (node 503) after "
            f"{serving_after:.2f} s; healed {healed_after:.2f} s after the store came back"
        )
