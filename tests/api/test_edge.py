"""What every response carries, and the limits applied before any route runs: security headers,
CORS, rate limiting, JSON nesting depth, value size, body timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tests.api.conftest import TEST_CONFIG, Api, OpenApi


async def test_security_headers_and_request_id(api: Api) -> None:
    response = await api.client.get("/genesys/1/node", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    error = await api.client.get("/genesys/1/storage/nothing-here")
    assert error.headers["x-content-type-options"] == "nosniff"
    assert len(error.headers["x-request-id"]) == 32


async def test_405_names_every_method_of_the_path_in_allow(api: Api) -> None:
    """Found by the schemathesis run (its unsupported_method check): 405s had no `Allow`
    header, which RFC 9110 requires; one path's methods are often several routes."""
    storage = await api.client.patch("/genesys/1/storage/some-id")
    assert storage.status_code == 405
    assert storage.headers["allow"] == "DELETE, GET, HEAD, POST"
    assert storage.json()["exception"].endswith("MethodNotAllowedException")
    cs = await api.client.patch("/genesys/1/cs/services/1-x")
    assert cs.headers["allow"] == "DELETE, GET, HEAD, PUT"
    gws = await api.client.delete("/api/v2/services")
    assert (gws.status_code, gws.headers["allow"]) == (405, "GET, HEAD")
    assert gws.json()["statusCode"] == 2
    cometd = await api.client.get("/genesys/cometd/handshake")
    assert (cometd.status_code, cometd.headers["allow"]) == (405, "POST")
    console = await api.client.post("/console/index.html")  # the console's static files
    assert (console.status_code, console.headers["allow"]) == (405, "GET, HEAD")


def cors_config() -> str:
    return TEST_CONFIG.replace(
        "[server]\n", '[server]\ncors_origins = ["https://app.example.com"]\n'
    )


async def test_cors_preflight_and_credentials_only_for_listed_origins(
    api_factory: OpenApi,
) -> None:
    async with api_factory(cors_config()) as api:
        preflight = await api.client.options(
            "/genesys/1/service/store",
            headers={
                "origin": "https://app.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, gms_user",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        simple = await api.client.post(
            "/genesys/1/service/store", headers={"origin": "https://app.example.com"}
        )
        assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
        other = await api.client.post(
            "/genesys/1/service/store", headers={"origin": "https://evil.example.net"}
        )
        assert "access-control-allow-origin" not in other.headers
        refused = await api.client.options(
            "/genesys/1/service/store",
            headers={
                "origin": "https://evil.example.net",
                "access-control-request-method": "POST",
            },
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


async def test_no_cors_headers_without_configured_origins(api: Api) -> None:
    response = await api.client.post(
        "/genesys/1/service/store", headers={"origin": "https://app.example.com"}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_rate_limit_answers_429_with_retry_after(api_factory: OpenApi) -> None:
    config = TEST_CONFIG.replace("[server]\n", '[server]\nrate_limit = "5/minute"\n')
    async with api_factory(config) as api:
        statuses = [
            (await api.client.post("/genesys/1/storage/30", data={"a": "1"})).status_code
            for _ in range(7)
        ]
        assert statuses[:5] == [200] * 5
        assert statuses[5:] == [429, 429]
        refused = await api.client.get("/genesys/1/storage/x")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "too many requests" in refused.json()["message"]
        # Load balancers keep polling the node API whatever the limit.
        assert (await api.client.get("/genesys/1/node")).status_code == 200


async def test_json_nesting_deeper_than_the_limit_is_400(api: Api) -> None:
    deep = "[" * 40 + "]" * 40
    response = await api.client.post(
        "/genesys/1/service/store",
        content=f'{{"a": {deep}}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "nested deeper" in response.json()["message"]
    very_deep = "[" * 1000 + "]" * 1000  # deeper than Python's recursion limit
    response = await api.client.post(
        "/genesys/1/storage/30",
        content=f'{{"a": {very_deep}}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (400, 500)
    assert response.status_code == 400 or response.json()["message"].startswith(
        "Could not read JSON"
    )


async def test_value_over_the_size_limit_is_400(api_factory: OpenApi) -> None:
    config = TEST_CONFIG.replace("[server]\n", "[server]\nmax_value_size = 100\n")
    async with api_factory(config) as api:
        ok = await api.client.post("/genesys/1/storage/30", data={"a": "x" * 100})
        assert ok.status_code == 200
        big = await api.client.post("/genesys/1/storage/30", data={"a": "é" * 51})  # 102 bytes
        assert big.status_code == 400
        assert "limit" in big.json()["message"]


async def test_a_body_that_does_not_arrive_in_time_is_408(api_factory: OpenApi) -> None:
    config = TEST_CONFIG.replace("[server]\n", "[server]\nbody_timeout = 0.3\n")

    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"a"
            await asyncio.sleep(0.1)

    async with api_factory(config) as api:
        response = await api.client.post(
            "/genesys/1/storage/30",
            content=trickle(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 408
        assert "did not arrive" in response.json()["message"]
