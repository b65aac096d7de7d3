"""A small attacker suite (issue 5): someone else's data, other tenants, traversal in ids,
header injection through stored values. Each attack must fail cleanly and change nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.api.conftest import TEST_CONFIG, Api, OpenApi

STORAGE = "/genesys/1/storage"
CS = "/genesys/1/cs"


async def test_cross_user_storage_is_invisible(api: Api) -> None:
    created = await api.client.post(
        f"{STORAGE}/custom/alice-cart/300", data={"card": "4111"}, headers={"gms_user": "alice"}
    )
    assert created.status_code == 200
    attacks = [
        api.client.get(f"{STORAGE}/alice-cart", headers={"gms_user": "mallory"}),
        api.client.get(f"{STORAGE}/alice-cart"),
        api.client.get(f"{STORAGE}/alice-cart/card", headers={"gms_user": "mallory"}),
        api.client.get(f"{STORAGE}/binary/alice-cart/card", headers={"gms_user": "mallory"}),
        api.client.post(
            f"{STORAGE}/alice-cart/300", data={"card": "x"}, headers={"gms_user": "mallory"}
        ),
        api.client.post(
            f"{STORAGE}/custom/alice-cart/300", data={"card": "x"}, headers={"gms_user": "mallory"}
        ),
        api.client.delete(f"{STORAGE}/alice-cart", headers={"gms_user": "mallory"}),
        api.client.delete(f"{STORAGE}/alice-cart", headers={"gms_user": "ALICE"}),
    ]
    for attack in attacks:
        response = await attack
        assert response.status_code in (404, 409), response.text
        assert "4111" not in response.text
    kept = await api.client.get(f"{STORAGE}/alice-cart", headers={"gms_user": "alice"})
    assert kept.json() == {"card": "4111"}


async def test_guessed_ids_find_nothing(api: Api) -> None:
    await api.client.post("/genesys/1/service/store", data={"secret": "s"})
    for _ in range(20):
        guess = str(uuid.uuid4())
        assert (await api.client.get(f"/genesys/1/service/{guess}/storage")).status_code == 404
        assert (await api.client.get(f"{STORAGE}/{guess}")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        f"{STORAGE}/..%2F..%2Fetc%2Fpasswd",
        f"{STORAGE}/%2e%2e/%2e%2e/etc/passwd",
        f"{STORAGE}/binary/..%2F..%2F/etc%2Fpasswd",
        "/genesys/1/service/..%2F..%2Fstorage/storage",
    ],
)
async def test_traversal_in_ids_reads_nothing(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status_code in (404, 405)
    assert "root:" not in response.text
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("custom_id", ["..", "...", "..%2Fescape", "%2e%2e", "a%2Fb"])
async def test_traversal_in_custom_ids_stays_an_opaque_id(api: Api, custom_id: str) -> None:
    response = await api.client.post(
        f"{STORAGE}/custom/{custom_id}/60", data={"k": "v"}, headers={"gms_user": "eve"}
    )
    if response.status_code == 200:
        stored_id = response.json()["id"]
        back = await api.client.get(f"{STORAGE}/{stored_id}", headers={"gms_user": "eve"})
        assert back.status_code in (200, 404)  # an id with '/' cannot be addressed by GET
    else:
        assert response.status_code in (400, 404, 405), response.text
    assert not Path("etc").exists()
    assert not Path("escape").exists()


async def test_header_injection_through_stored_values(api: Api) -> None:
    evil = "text\r\nSet-Cookie: session=stolen\r\nX-Evil: 1"
    created = await api.client.post(
        f"{STORAGE}/300",
        data={"note": evil},
        files={"doc": ('a"\r\nSet-Cookie: x=1.pdf', b"%PDF", "application/pdf")},
    )
    assert created.status_code in (200, 400)
    if created.status_code != 200:
        return
    area = created.json()["id"]
    note = await api.client.get(f"{STORAGE}/{area}/note")
    assert note.json() == {"note": evil}
    doc = await api.client.get(f"{STORAGE}/binary/{area}/doc")
    assert doc.status_code == 200
    for response in (note, doc):
        assert "set-cookie" not in response.headers
        assert "x-evil" not in response.headers
    assert "\r" not in doc.headers.get("content-disposition", "")
    assert "\n" not in doc.headers.get("content-disposition", "")


async def test_an_area_cannot_be_grown_without_bound(api_factory: OpenApi) -> None:
    """Many small writes, each within `max_keys`, stop at `max_area_keys`: 400, nothing of the
    refused write stored, on the Storage API and on a service's storage alike."""
    config = TEST_CONFIG.replace("[server]", "[server]\nmax_keys = 4\nmax_area_keys = 10", 1)
    async with api_factory(config) as api:
        area = (await api.client.post(f"{STORAGE}/300", data={"k0": "0"})).json()["id"]
        service = (await api.client.post("/genesys/1/service/store", data={"k0": "0"})).json()
        for path in (f"{STORAGE}/{area}/300", f"/genesys/1/service/{service['_id']}/storage"):
            for batch in range(3):  # 1 + 3 x 3 = 10 keys: the limit, reached
                values = {f"k{batch}-{i}": "v" for i in range(3)}
                assert (await api.client.post(path, data=values)).status_code == 200
            refused = await api.client.post(path, data={"k0": "changed", "one-more": "v"})
            assert refused.status_code == 400, refused.text
            assert "may hold at most 10 keys; this write adds more" in refused.json()["message"]
            assert refused.json()["exception"].endswith("BadRequestException")
            # Replacing what is there still works; nothing of the refused write landed.
            assert (await api.client.post(path, data={"k0": "replaced"})).status_code == 200
            read = path.rsplit("/300", 1)[0] if path.endswith("/300") else path
            stored = (await api.client.get(read)).json()
            assert len(stored) == 10
            assert stored["k0"] == "replaced"
            assert "one-more" not in stored


async def test_hostile_gms_user_header_is_just_a_name(api: Api) -> None:
    for owner in ("' OR '1'='1", "*", "%", "alice\\"):
        created = await api.client.post(
            f"{STORAGE}/custom/id-{uuid.uuid4().hex[:6]}/60",
            data={"a": "1"},
            headers={"gms_user": owner},
        )
        assert created.status_code == 200
        area = created.json()["id"]
        assert (
            await api.client.get(f"{STORAGE}/{area}", headers={"gms_user": "alice"})
        ).status_code == 404


async def test_cross_tenant_reads_queries_and_purges(cs_api: Api) -> None:
    client = cs_api.client
    tenant_a = {"ContactCenterId": "acme"}
    tenant_b = {"ContactCenterId": "evil-corp"}
    started = await client.post(
        f"{CS}/services/start",
        json={"customer_id": "c-1", "service_type": "billing", "secret": "acme-only"},
        headers=tenant_a,
    )
    assert started.status_code == 201
    service_id = started.json()["service_id"]
    assert (await client.get(f"{CS}/services/{service_id}", headers=tenant_b)).status_code == 404
    listed = await client.get(f"{CS}/customers/c-1/services?extensions=*", headers=tenant_b)
    assert listed.status_code == 200
    assert listed.json() == []
    for attack in (
        client.post(f"{CS}/services/{service_id}/end", json={}, headers=tenant_b),
        client.delete(f"{CS}/services/{service_id}", headers=tenant_b),
        client.put(
            f"{CS}/services/{service_id}/extensions/secret", json="stolen", headers=tenant_b
        ),
    ):
        assert (await attack).status_code == 404
    purged = await client.post(
        f"{CS}/maintenance/purge",
        json={"limit": "2100-01-01T00:00:00.000Z", "operation": "purge.service.all"},
        headers=tenant_b,
    )
    assert purged.json() == {"purged": 0}
    stream = await client.get(
        f"{CS}/maintenance/services/stream",
        params={"time_from": "2000-01-01T00:00:00.000Z", "time_to": "2100-01-01T00:00:00.000Z"},
        headers=tenant_b,
    )
    assert "acme-only" not in stream.text
    kept = await client.get(f"{CS}/services/{service_id}?extensions=*", headers=tenant_a)
    assert kept.json()["secret"] == "acme-only"
    assert kept.json().get("completed") is None


async def test_tenant_names_never_reach_the_file_system(cs_api: Api, tmp_path: Path) -> None:
    hostile = {"ContactCenterId": "../../escape"}
    await cs_api.client.post(
        f"{CS}/services/start", json={"customer_id": "c", "service_type": "t"}, headers=hostile
    )
    exported = await cs_api.client.post(
        f"{CS}/maintenance/services/files",
        params={"time_from": "2000-01-01T00:00:00.000Z", "time_to": "2100-01-01T00:00:00.000Z"},
        headers=hostile,
    )
    assert exported.status_code in (200, 400)
    export_root = tmp_path / "export"
    for written in tmp_path.rglob("*.json"):
        assert export_root in written.parents
    assert not (tmp_path.parent / "escape").exists()
