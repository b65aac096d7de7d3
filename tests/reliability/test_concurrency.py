"""Several processes on one PostgreSQL store under concurrent load stay correct.

Node A runs `--workers 2`, node B is a separate `cxgate serve`: three processes, one database.
Requests are spread over both nodes and fired together:
- reservations: with 2-digit access codes there are only 30 (number, code) pairs, fewer than the
  requests, so the processes race for them; no pair may be handed out twice, and a request that
  finds none free gets 503;
- matches: each pair is matched twice at once; exactly one match wins and it finds the service
  that reserved the pair;
- storage: concurrent POSTs of different keys to one storage area all land (no lost update).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.backends import drop_url, fresh_url
from tests.conftest import backend_param
from tests.e2e.processes import serve
from tests.reliability.loadgen import USER
from tests.reliability.support import write_config

pytestmark = [pytest.mark.slow, pytest.mark.deadline(90)]

RESERVATIONS = 45  # more than the 30 pairs that exist
KEYS = 300


@pytest.fixture
async def shared_pg(tmp_path: Path) -> AsyncIterator[str]:
    url, extra = await fresh_url("postgres", tmp_path)
    try:
        yield url
    finally:
        await drop_url("postgres", extra)


@pytest.mark.parametrize("backend", [backend_param("postgres")])
async def test_workers_and_nodes_share_one_store_correctly(
    backend: str, shared_pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path))
    common = ("--config", config, "--store", shared_pg)
    with (
        serve(tmp_path, *common, "--workers", "2") as node_a,
        serve(tmp_path, *common) as node_b,
    ):
        bases = [node_a.base_url, node_b.base_url]
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:
            reserved = await _reserve(client, bases)
            matched = await _match_twice(client, bases, reserved)
            stored = await _many_keys_one_area(client, bases)
    pairs = [(r["_access_number"], r["_access_code"]) for r in reserved.values()]
    assert len(pairs) == len(set(pairs)), f"a pair was reserved twice: {Counter(pairs)}"
    assert len(pairs) >= 20, "too few reservations to show anything"
    for pair, (winners, losers) in matched.items():
        assert len(winners) == 1, (pair, winners, losers)
        assert len(losers) == 1, (pair, winners, losers)
    assert {pair: ids[0] for pair, (ids, _) in matched.items()} == {
        (r["_access_number"], r["_access_code"]): service_id for service_id, r in reserved.items()
    }, "a match found another service than the one that reserved the pair"
    assert stored == {f"key{i}": f"value{i}" for i in range(KEYS)}
    with capsys.disabled():
        print(
            f"\n[concurrency] 3 processes on one PostgreSQL: {len(pairs)} distinct reservations of "
            f"30 pairs for {RESERVATIONS} requests, each matched once by its own service; "
            f"{KEYS}/{KEYS} concurrent keys landed in one area"
        )


async def _reserve(client: httpx.AsyncClient, bases: list[str]) -> dict[str, dict[str, str]]:
    """Fire the reservations together; service id -> its answer, for the ones that got a pair."""

    async def one(i: int) -> httpx.Response:
        url = f"{bases[i % len(bases)]}/genesys/1/service/request-interaction"
        return await client.post(url, data={"_access_code_length": "2", "n": str(i)})

    answers = await asyncio.gather(*(one(i) for i in range(RESERVATIONS)))
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {200, 503}, statuses
    for answer in answers:
        if answer.status_code == 503:
            assert "no access number" in answer.json()["message"]
    return {a.json()["_id"]: a.json() for a in answers if a.status_code == 200}


async def _match_twice(
    client: httpx.AsyncClient, bases: list[str], reserved: dict[str, dict[str, str]]
) -> dict[tuple[str, str], tuple[list[str], list[int]]]:
    """Match every pair twice at once, through both nodes; pair -> (ids found, failures)."""

    async def one(number: str, code: str, base: str) -> httpx.Response:
        data = {"_access_number": number, "_access_code": code}
        return await client.post(f"{base}/genesys/1/service/match-interaction", data=data)

    jobs = []
    for reservation in reserved.values():
        number, code = reservation["_access_number"], reservation["_access_code"]
        jobs += [one(number, code, bases[0]), one(number, code, bases[1])]
    answers = await asyncio.gather(*jobs)
    results: dict[tuple[str, str], tuple[list[str], list[int]]] = {}
    for answer, (number, code) in zip(
        answers,
        [(a["_access_number"], a["_access_code"]) for a in reserved.values() for _ in range(2)],
        strict=True,
    ):
        winners, losers = results.setdefault((number, code), ([], []))
        if answer.status_code == 200:
            winners.append(answer.json()["_id"])
        else:
            losers.append(answer.status_code)
            assert answer.status_code == 404, answer.text
    return results


async def _many_keys_one_area(client: httpx.AsyncClient, bases: list[str]) -> dict[str, str]:
    area = "/genesys/1/storage/custom/shared-area"

    async def one(i: int) -> int:
        response = await client.post(
            f"{bases[i % len(bases)]}{area}/600",
            data={f"key{i}": f"value{i}"},
            headers={"gms_user": USER},
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(one(i) for i in range(KEYS))))
    assert statuses == {200: KEYS}, statuses
    read = await client.get(f"{bases[0]}/genesys/1/storage/shared-area", headers={"gms_user": USER})
    stored: dict[str, str] = read.json()
    return stored
