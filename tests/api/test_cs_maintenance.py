"""SPEC section 5, lifecycle and maintenance: expiry, the sweeper, auto-completion, purge, export;
and where the journey lives when the store is Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from cxgate.app import create_app
from cxgate.backends.url import journey_store_url
from cxgate.cli import main
from cxgate.config import Settings, parse_config
from cxgate.errors import ConfigError
from tests.api.conftest import CS_CONFIG, Api, OpenApi
from tests.backends import REDIS_URL, FakeClock
from tests.conftest import backend_param

CS = "/genesys/1/cs"
DAY = 86400


async def start(api: Api, **body: Any) -> str:
    response = await api.client.post(f"{CS}/services/start", json={"customer_id": "c", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["service_id"])


async def status(api: Api, sid: str) -> int:
    return (await api.client.get(f"{CS}/services/{sid}")).status_code


async def rows_in_store(api: Api) -> int:
    async with api.harness.store.transaction(write=False) as tx:
        found = await tx.row("SELECT count(*) FROM cs_services", ())
    return int(found[0])


async def test_default_expiration_is_two_weeks(cs_api: Api) -> None:
    sid = await start(cs_api)
    short = await start(cs_api, ttl=30)
    until = await start(cs_api, expiration_time="2027-01-16T08:00:00Z", ttl=None)
    both = await start(cs_api, ttl=60, expiration_time="2030-01-01T00:00:00Z")  # ttl wins
    await cs_api.advance(59)
    assert [await status(cs_api, s) for s in (sid, short, until, both)] == [200, 404, 200, 200]
    await cs_api.advance(2)
    assert await status(cs_api, both) == 404
    await cs_api.advance(DAY)
    assert await status(cs_api, until) == 404
    await cs_api.advance(13 * DAY - 62)
    assert await status(cs_api, sid) == 200
    await cs_api.advance(1)
    assert await status(cs_api, sid) == 404
    assert (await cs_api.client.get(f"{CS}/customers/c/services")).json() == []


async def test_configured_expiration_and_auto_complete(cs_api_factory: OpenApi) -> None:
    config = CS_CONFIG + 'expiration = "10m"\nauto_complete_after = "2m"\n'
    async with cs_api_factory(config) as api:
        idle = await start(api)
        kept = await start(api, auto_complete_after=3600)
        base = f"{CS}/services/{idle}"
        state = (await api.client.post(f"{base}/states/start", json={})).json()["state_id"]
        await api.advance(100)
        await api.client.put(f"{base}/extensions/note", json="activity")
        await api.advance(100)
        assert (await api.harness.store.sweep(batch=1000)).completed == 0
        await api.advance(21)
        result = await api.harness.store.sweep(batch=1000)
        assert (result.completed, result.deleted) == (1, 0)
        shown = (await api.client.get(base, params={"completed_states": "true"})).json()
        assert shown["completed"] == {"timestamp": "2027-01-15T08:03:40.000Z"}  # activity + 2m
        assert shown["completed_states"][0]["state_id"] == state
        assert "completed" not in (await api.client.get(f"{CS}/services/{kept}")).json()
        await api.advance(400)
        assert await status(api, kept) == 404  # 10 minutes, from the configuration
        assert (await api.harness.store.sweep(batch=1000)).deleted == 2


async def test_the_lifespan_sweeper_deletes_expired_services(cs_api_factory: OpenApi) -> None:
    config = CS_CONFIG.replace("[server]\n", "[server]\nsweep_interval = 0.05\n")
    async with cs_api_factory(config) as api:
        sid = await start(api, ttl=5)
        await api.client.post(f"{CS}/services/{sid}/states/start", json={})
        assert await rows_in_store(api) == 1
        await api.advance(6)
        async with asyncio.timeout(3):
            while await rows_in_store(api):
                await asyncio.sleep(0.05)


async def test_purge_through_the_api(cs_api: Api) -> None:
    old_anon = await start(cs_api, customer_id=None, contact_key="k")
    old_done = await start(cs_api)
    await cs_api.client.post(f"{CS}/services/{old_done}/end", json={})
    await cs_api.advance(3600)
    new = await start(cs_api)
    limit = "2027-01-15T08:30:00.000Z"
    for operation, purged in (
        ("purge.service.completed.anonymous", 0),
        ("purge.service.started.anonymous", 1),
        ("purge.service.started", 0),
        ("purge.service.completed", 1),
        ("purge.service.all", 0),
    ):
        response = await cs_api.client.post(
            f"{CS}/maintenance/purge", json={"limit": limit, "operation": operation}
        )
        assert response.status_code == 200, operation
        assert response.json() == {"purged": purged}, operation
    assert [await status(cs_api, s) for s in (old_anon, old_done, new)] == [404, 404, 200]


async def test_export_stream(cs_api: Api) -> None:
    first = await start(cs_api, note=1)
    state = (await cs_api.client.post(f"{CS}/services/{first}/states/start", json={"s": 2})).json()
    await cs_api.client.post(
        f"{CS}/services/{first}/tasks/start", json={"state_id": state["state_id"]}
    )
    await cs_api.advance(60)
    second = await start(cs_api)
    await cs_api.advance(60)
    await start(cs_api)
    response = await cs_api.client.get(f"{CS}/maintenance/services/stream")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    everything = orjson.loads(response.content)
    assert len(everything) == 3
    assert everything[0]["service_id"] == first
    assert everything[0]["note"] == 1
    assert everything[0]["active_states"][0]["s"] == 2
    assert everything[0]["completed_states"] == everything[0]["completed_tasks"] == []
    assert len(everything[0]["active_tasks"]) == 1
    response = await cs_api.client.get(
        f"{CS}/maintenance/services/stream",
        params={"time_from": "2027-01-15T08:01:00Z", "time_to": "2027-1-15T8:2:0Z"},
    )
    assert [s["service_id"] for s in response.json()] == [second]
    empty = await cs_api.client.get(
        f"{CS}/maintenance/services/stream", params={"time_from": "2030-01-01T00:00:00Z"}
    )
    assert empty.json() == []
    bad = await cs_api.client.get(f"{CS}/maintenance/services/stream", params={"time_to": "x"})
    assert bad.status_code == 400


async def test_export_files(cs_api: Api, tmp_path: Path) -> None:
    made = []
    for n in range(7):
        made.append(await start(cs_api, n=n))
        await cs_api.advance(1)
    response = await cs_api.client.post(f"{CS}/maintenance/services/files")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["created"] == "services_1.json, services_2.json, services_3.json"
    folder = Path(answer["directory"])
    assert folder.parent == tmp_path / "export"
    files = [orjson.loads((folder / f"services_{n}.json").read_bytes()) for n in (1, 2, 3)]
    assert [len(f) for f in files] == [3, 3, 1]
    assert [s["service_id"] for f in files for s in f] == made
    assert [s["n"] for f in files for s in f] == list(range(7))
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [folder.name]
    window = await cs_api.client.post(
        f"{CS}/maintenance/services/files", params={"time_from": "2027-01-15T08:00:05Z"}
    )
    assert window.json()["created"] == "services_1.json"
    nothing = await cs_api.client.post(
        f"{CS}/maintenance/services/files", params={"time_from": "2030-01-01T00:00:00Z"}
    )
    assert nothing.json() == {"created": ""}
    assert len(list((tmp_path / "export").iterdir())) == 2  # no empty folder, no partial one


def test_the_journey_store_follows_the_store_unless_redis() -> None:
    assert journey_store_url("sqlite:///a.db", None) == "sqlite:///a.db"
    pg = "postgresql://u@h:5432/db?schema=x"
    assert journey_store_url(pg, None) == pg
    assert journey_store_url("redis://h:6379/0", None) == "sqlite:///var/cxgate.db"
    assert journey_store_url("redis://h:6379/0", pg) == pg
    assert journey_store_url("sqlite:///a.db", "sqlite:///b.db") == "sqlite:///b.db"
    with pytest.raises(ConfigError, match="--journey-store"):
        journey_store_url("redis://h:6379/0", "redis://h:6379/1")


def test_serve_refuses_a_journey_store_that_cannot_work() -> None:
    result = CliRunner().invoke(
        main, ["serve", "--store", "redis://127.0.0.1:6379/0", "--journey-store", "redis://x/1"]
    )
    assert result.exit_code == 2
    assert "--journey-store" in result.output
    assert "SQL" in result.output
    result = CliRunner().invoke(
        main, ["serve", "--journey-store", "memcached://x"], env={"CXGATE_JOURNEY_STORE": ""}
    )
    assert result.exit_code == 2
    assert "unknown store URL scheme" in result.output


def test_create_app_refuses_a_non_sql_journey_store() -> None:
    settings = Settings(store="sqlite:///x.db", journey_store="redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match="SQL"):
        create_app(settings, clock=FakeClock(), access_log=False)


@pytest.mark.parametrize("backend", [backend_param("redis")])
async def test_with_a_redis_store_the_journey_goes_to_sql(backend: str, tmp_path: Path) -> None:
    journey = tmp_path / "journey.db"
    settings = Settings(
        store=REDIS_URL,
        journey_store=f"sqlite:///{journey}",
        config=parse_config("", source="test config"),
    )
    app = create_app(settings, clock=FakeClock(), access_log=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cxgate") as client:
            response = await client.post(f"{CS}/services/start", json={"contact_key": "k"})
            assert response.status_code == 201
            sid = response.json()["service_id"]
            assert (await client.get(f"{CS}/services/{sid}")).status_code == 200
    assert journey.exists()
