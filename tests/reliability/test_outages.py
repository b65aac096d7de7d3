"""The store goes away under load, or hangs, and comes back: cxgate fails fast and heals itself.

The test starts its own PostgreSQL cluster or redis-server as the store, drives load, then stops
the backend (`pg_ctl stop -m immediate`, SIGKILL of Redis) or freezes it (SIGSTOP). Meanwhile every
request must fail fast with 503 and a clear message (never a 500, never a hang past the store
timeout), `GET /genesys/1/node` must answer 503 and the process must stay up. When the backend is
back, requests succeed again without restarting cxgate, and nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Served, serve
from tests.reliability.loadgen import USER, LoadGenerator
from tests.reliability.support import (
    STORE_TIMEOUT,
    OwnStore,
    provisioning_state,
    serve_env,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.deadline(90)]

# A refused request may take the store timeout plus this (scheduling, a probe in between).
SLACK = 1.0
OUTAGE_SECONDS = 3.0


async def _write(client: httpx.AsyncClient, served: Served, key: str) -> httpx.Response:
    return await client.post(
        f"{served.base_url}/genesys/1/storage/custom/probe/3600",
        data={key: "v"},
        headers={"gms_user": USER},
    )


async def _refused_fast(client: httpx.AsyncClient, served: Served, label: str) -> float:
    """A write and a node check during the outage: both 503 with a message, both fast."""
    started = time.monotonic()
    response = await _write(client, served, label)
    write_took = time.monotonic() - started
    assert response.status_code == 503, response.text
    message = response.json()["message"]
    assert "store" in message.lower(), message
    started = time.monotonic()
    node = await client.get(served.base_url + "/genesys/1/node")
    node_took = time.monotonic() - started
    assert node.status_code == 503, node.text
    assert max(write_took, node_took) < STORE_TIMEOUT + SLACK, (write_took, node_took)
    return max(write_took, node_took)


async def _recovery(client: httpx.AsyncClient, served: Served) -> float:
    """Seconds from now until a write is answered 200 again."""

    async def written() -> bool:
        return (await _write(client, served, "after")).status_code == 200

    return await wait_for(written, timeout=30, interval=0.02)


def _check_outcomes(load: LoadGenerator) -> None:
    statuses = load.statuses()
    assert set(statuses) <= {200, 503}, f"only 200 and 503 may appear: {statuses}"
    slow = [o for o in load.outcomes if o.elapsed > STORE_TIMEOUT + SLACK]
    assert not slow, f"{len(slow)} requests hung, the worst {max(o.elapsed for o in slow):.2f} s"
    refused = {o.detail for o in load.outcomes if o.status == 503}
    assert all("store" in detail.lower() for detail in refused), refused


async def test_store_outage_fails_fast_and_heals(
    own_store: OwnStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path))
    with serve(
        tmp_path,
        "--config",
        config,
        "--store",
        own_store.url,
        env=serve_env(tmp_path, own_store.url),
    ) as served:
        load = LoadGenerator([served.base_url], workers=4, request_timeout=15)
        stop = asyncio.Event()
        writing = asyncio.create_task(load.run(duration=60, stop=stop))
        async with httpx.AsyncClient(timeout=15) as client:
            await asyncio.sleep(1.0)
            has_status = await provisioning_state(client, served.base_url) is not None
            own_store.stop()
            worst = 0.0
            outage_ends = time.monotonic() + OUTAGE_SECONDS
            round_ = 0
            while time.monotonic() < outage_ends:
                worst = max(worst, await _refused_fast(client, served, f"down{round_}"))
                round_ += 1
                await asyncio.sleep(0.2)
            inactive = await provisioning_state(client, served.base_url)
            own_store.start()
            recovery = await _recovery(client, served)
            await asyncio.sleep(1.0)  # a little load on the healed store
            stop.set()
            await writing
            node = await client.get(served.base_url + "/genesys/1/node")
            assert node.status_code == 200
            if has_status:
                assert inactive == "Inactive"

                async def active() -> bool:
                    return await provisioning_state(client, served.base_url) == "Active"

                await wait_for(active, timeout=5)
            verification = await load.verify(served.base_url)
        assert served.process.poll() is None, "cxgate died during the outage"
    _check_outcomes(load)
    assert load.statuses()[503] > 0, "the load never saw the outage"
    assert verification.ok, f"acknowledged but lost: {verification.missing[:10]}"
    with capsys.disabled():
        print(
            f"\n[outage] {own_store.name}: refused within {worst:.3f} s (store timeout "
            f"{STORE_TIMEOUT:g} s); recovery {recovery:.2f} s from backend back to first 200; "
            f"{verification.checked} acknowledged writes intact; load {dict(load.statuses())}"
        )
        if not has_status:
            print("[outage] GET /api/v2/services?fields=* is absent: Provisioning not checked")


async def test_hung_store_is_bounded_by_the_store_timeout(
    own_store: OwnStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGSTOP: connections stay open and nothing answers, the worst case for a client."""
    config = str(write_config(tmp_path))
    with serve(
        tmp_path,
        "--config",
        config,
        "--store",
        own_store.url,
        env=serve_env(tmp_path, own_store.url),
    ) as served:
        load = LoadGenerator([served.base_url], workers=4, request_timeout=15)
        stop = asyncio.Event()
        writing = asyncio.create_task(load.run(duration=60, stop=stop))
        async with httpx.AsyncClient(timeout=15) as client:
            await asyncio.sleep(1.0)
            with own_store.freeze():
                await asyncio.sleep(OUTAGE_SECONDS)
                worst = await _refused_fast(client, served, "frozen")
            recovery = await _recovery(client, served)
            await asyncio.sleep(0.5)
            stop.set()
            await writing
            verification = await load.verify(served.base_url)
        assert served.process.poll() is None
    _check_outcomes(load)
    assert verification.ok, f"acknowledged but lost: {verification.missing[:10]}"
    slowest = max(o.elapsed for o in load.outcomes)
    with capsys.disabled():
        print(
            f"\n[hang] {own_store.name}: slowest request {slowest:.2f} s, refused within "
            f"{worst:.3f} s once detected (store timeout {STORE_TIMEOUT:g} s); recovery "
            f"{recovery:.2f} s after SIGCONT"
        )
