"""Real `cxgate serve` processes on loopback, driven with httpx: the shipped demo configuration on
SQLite, two nodes sharing one PostgreSQL store, startup errors, and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.backends import REQUIRED, drop_url, fresh_url, unavailable_reason
from tests.e2e.processes import CXGATE, DEMO_CONFIG, free_port, serve

pytestmark = pytest.mark.slow

DNIS = {"8003449999", "8003449998", "8003449997"}  # [resources.DNIS] of demo.toml
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _expires_in(stamp: str, seconds: int) -> None:
    assert ISO_MS.fullmatch(stamp), stamp
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    expected = datetime.now(UTC) + timedelta(seconds=seconds)
    assert abs((moment - expected).total_seconds()) < 30, (stamp, expected)


def _ok(response: httpx.Response) -> object:
    assert response.status_code == 200, (response.request.url, response.text)
    if not response.content:
        return None
    return response.json()


def _create(client: httpx.Client, name: str, data: dict[str, str]) -> dict[str, str]:
    answer = _ok(client.post(f"/genesys/1/service/{name}", data=data))
    assert isinstance(answer, dict)
    return answer


# --- SQLite and the demo configuration -----------------------------------------------------------


def test_demo_config_on_sqlite(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/demo.db"
    with (
        serve(tmp_path, "--store", store, "--config", DEMO_CONFIG) as served,
        httpx.Client(base_url=served.base_url, timeout=10) as client,
    ):
        node = client.get("/genesys/1/node")
        assert node.status_code == 200
        assert node.json()["status"] == "ok"

        # store: a plain data service.
        stored = _create(client, "store", {"firstName": "Ann", "lastName": "Lee"})
        store_id = stored["_id"]
        assert stored == {"_id": store_id}
        assert _ok(client.get(f"/genesys/1/service/{store_id}/storage")) == {
            "firstName": "Ann",
            "lastName": "Lee",
        }
        assert _ok(client.get(f"/genesys/1/service/{store_id}/storage/firstName")) == {
            "firstName": "Ann"
        }

        # request-interaction: a number of the DNIS pool and a 6-digit code starting with 9.
        reserved = _create(
            client, "request-interaction", {"_phone_number": "5551234", "reason": "billing"}
        )
        ri_id = reserved["_id"]
        assert set(reserved) == {"_id", "_access_number", "_access_code", "_expiration_time"}
        assert reserved["_access_number"] in DNIS
        assert re.fullmatch(r"9\d{5}", reserved["_access_code"])
        _expires_in(reserved["_expiration_time"], 600)

        # request-access: a reservation for the existing store service.
        access = _create(client, "request-access", {"_id": store_id})
        assert set(access) == {"_id", "_access_number", "_access_code", "_expiration_time"}
        assert access["_id"] == store_id
        assert access["_access_number"] in DNIS
        assert re.fullmatch(r"9\d{5}", access["_access_code"])
        _expires_in(access["_expiration_time"], 600)

        # match-interaction: the IVR finds each reservation once.
        matched = _create(
            client,
            "match-interaction",
            {
                "_access_number": reserved["_access_number"],
                "_access_code": reserved["_access_code"],
                "_return_user_data": "true",
            },
        )
        assert matched == {"_id": ri_id, "_data_id": ri_id, "reason": "billing"}
        again = client.post(
            "/genesys/1/service/match-interaction",
            data={
                "_access_number": reserved["_access_number"],
                "_access_code": reserved["_access_code"],
            },
        )
        assert again.status_code == 404
        matched = _create(
            client,
            "match-interaction",
            {"_access_number": access["_access_number"], "_access_code": access["_access_code"]},
        )
        assert matched == {"_id": store_id, "_data_id": store_id}

        # The Storage API.
        area = _ok(client.post("/genesys/1/storage/3600", data={"cart": "3 items"}))
        assert isinstance(area, dict)
        assert _ok(client.get(f"/genesys/1/storage/{area['id']}")) == {"cart": "3 items"}

    # The data lives in the file: a new process on the same store still has it.
    with (
        serve(tmp_path, "--store", store, "--config", DEMO_CONFIG) as restarted,
        httpx.Client(base_url=restarted.base_url, timeout=10) as client,
    ):
        assert _ok(client.get(f"/genesys/1/service/{store_id}/storage")) == {
            "firstName": "Ann",
            "lastName": "Lee",
        }
        assert _ok(client.get(f"/genesys/1/storage/{area['id']}")) == {"cart": "3 items"}
        gone = client.post(
            "/genesys/1/service/match-interaction",
            data={
                "_access_number": access["_access_number"],
                "_access_code": access["_access_code"],
            },
        )
        assert gone.status_code == 404


# --- two nodes on one PostgreSQL store -----------------------------------------------------------


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL schema for this test, dropped afterwards."""
    reason = unavailable_reason("postgres")
    if reason is not None and "postgres" not in REQUIRED:
        pytest.skip(reason)
    url, extra = asyncio.run(fresh_url("postgres", tmp_path))
    try:
        yield url
    finally:
        asyncio.run(drop_url("postgres", extra))


def test_two_nodes_share_one_postgres_store(tmp_path: Path, postgres_store: str) -> None:
    args = ("--store", postgres_store, "--config", DEMO_CONFIG)
    with (
        serve(tmp_path, *args) as first,
        serve(tmp_path, *args) as second,
        httpx.Client(base_url=first.base_url, timeout=10) as one,
        httpx.Client(base_url=second.base_url, timeout=10) as two,
    ):
        # A reservation made through one node is matched through the other, once.
        reserved = _create(one, "request-interaction", {"topic": "refund"})
        matched = _create(
            two,
            "match-interaction",
            {
                "_access_number": reserved["_access_number"],
                "_access_code": reserved["_access_code"],
                "_return_user_data": "true",
            },
        )
        assert matched == {"_id": reserved["_id"], "_data_id": reserved["_id"], "topic": "refund"}
        for node in (one, two):
            again = node.post(
                "/genesys/1/service/match-interaction",
                data={
                    "_access_number": reserved["_access_number"],
                    "_access_code": reserved["_access_code"],
                },
            )
            assert again.status_code == 404

        # Codes stay unique across the nodes: reservations made on both are all matchable.
        held = [_create(node, "request-interaction", {}) for node in (one, two, one, two)]
        pairs = {(r["_access_number"], r["_access_code"]) for r in held}
        assert len(pairs) == 4
        for r, node in zip(held, (two, one, two, one), strict=True):
            found = _create(
                node,
                "match-interaction",
                {"_access_number": r["_access_number"], "_access_code": r["_access_code"]},
            )
            assert found["_id"] == r["_id"]

        # Storage written through one node is read, updated and deleted through the other.
        area = _ok(one.post("/genesys/1/storage/600", data={"a": "1", "b": "é😀"}))
        assert isinstance(area, dict)
        area_id = area["id"]
        assert _ok(two.get(f"/genesys/1/storage/{area_id}")) == {"a": "1", "b": "é😀"}
        _ok(two.post(f"/genesys/1/storage/{area_id}/600", data={"b": "2", "c": "3"}))
        assert _ok(one.get(f"/genesys/1/storage/{area_id}")) == {"a": "1", "b": "2", "c": "3"}
        _ok(one.delete(f"/genesys/1/storage/{area_id}"))
        assert two.get(f"/genesys/1/storage/{area_id}").status_code == 404

        # Service storage, and a custom id owned on one node and defended on the other.
        service = _create(two, "store", {"x": "y"})
        assert _ok(one.get(f"/genesys/1/service/{service['_id']}/storage")) == {"x": "y"}
        alice, mallory = {"gms_user": "alice"}, {"gms_user": "mallory"}
        _ok(one.post("/genesys/1/storage/custom/basket/600", data={"n": "1"}, headers=alice))
        taken = two.post("/genesys/1/storage/custom/basket/600", data={"n": "2"}, headers=mallory)
        assert taken.status_code == 409
        assert _ok(two.get("/genesys/1/storage/basket", headers=alice)) == {"n": "1"}
        assert one.get("/genesys/1/storage/basket", headers=mallory).status_code == 404


# --- startup errors and shutdown -----------------------------------------------------------------

BAD_CONFIGS = {
    "bad-ttl": (
        '[service.store]\n_type = "builtin"\n_service = "session"\n_ttl = "abc"\n',
        ["service.store._ttl"],
    ),
    "unknown-option": ("no_such_option = 1\n", ["no_such_option: unknown option"]),
    "both": (
        'no_such_option = 1\n\n[service.store]\n_type = "builtin"\n_service = "session"\n'
        '_ttl = "abc"\n',
        ["service.store._ttl", "no_such_option: unknown option"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_a_bad_configuration_stops_the_start_with_status_2(tmp_path: Path, case: str) -> None:
    text, named = BAD_CONFIGS[case]
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = subprocess.run(
        [
            CXGATE,
            "serve",
            "--port",
            str(free_port()),
            "--store",
            f"sqlite:///{tmp_path}/never.db",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"cxgate: configuration error: {config}: "), result.stderr
    for key in named:
        assert key in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "never.db").exists()


def test_sigterm_exits_0_within_seconds(tmp_path: Path) -> None:
    with serve(tmp_path, "--config", DEMO_CONFIG) as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as client:
            _create(client, "store", {"a": "1"})
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        status = served.process.wait(timeout=10)
        elapsed = time.monotonic() - started
    assert status == 0, served.log()
    assert elapsed < 5
    assert "Traceback" not in served.log()
    with pytest.raises(httpx.ConnectError):
        httpx.get(served.base_url + "/genesys/1/node", timeout=2)
