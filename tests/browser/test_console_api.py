"""The console's server side, in-process (no browser needed): who may read /console/api/config,
that it never shows a secret, the problems it finds, and the page's headers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from cxgate.app import create_app
from cxgate.config import Settings, parse_config
from cxgate.console.problems import endpoint_problems, static_problems
from cxgate.console.routes import ConsoleFiles
from cxgate.http.middleware import CONSOLE_CSP, EdgeMiddleware

_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
API_KEY = "k-3f9a7c"
URL_PASSWORD = "s3cr3t-in-url"

CONFIG = f"""
[server]
password = "{_HASHER.hash("gms-pw")}"

[service.store]
_type = "builtin"
_service = "session"

[service.crm]
_type = "http"
_service = "https://bot:{URL_PASSWORD}@crm.example/strategy"
_api_key = "{API_KEY}"

[service.callback]
_type = "builtin"
_service = "request-interaction"
_resource_group = "DNIS"
password = "{_HASHER.hash("svc-pw")}"

[resources.DNIS]
numbers = ["8003449999"]

[users.ada]
password_hash = "{_HASHER.hash("ada-pw")}"
roles = ["admin", "supervisor"]
"""


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    settings = Settings(store=f"sqlite:///{tmp_path}/c.db", config=parse_config(CONFIG, source="t"))
    return create_app(settings, access_log=False)


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cx")


async def test_config_needs_a_user_and_never_shows_a_secret(app: Starlette) -> None:
    async with _client(app) as client:
        assert (await client.get("/console/api/config")).status_code == 401
        wrong = await client.get("/console/api/config", auth=("ada", "nope"))
        assert wrong.status_code == 401
        response = await client.get("/console/api/config", auth=("ada", "ada-pw"))
    assert response.status_code == 200
    body = response.json()
    assert body["auth"] is True
    assert body["user"] == {"name": "ada", "roles": ["admin", "supervisor"]}
    assert [s["name"] for s in body["services"]] == ["store", "crm", "callback"]
    text = response.text
    for secret in ("$argon2", URL_PASSWORD, API_KEY, "bot:"):
        assert secret not in text
    crm = body["services"][1]
    assert crm["service"] == "https://********@crm.example/strategy"
    assert crm["parameters"] == {"_api_key": "********"}
    assert crm["protection"] == "any [users] user or the [server] GMS password"
    assert body["services"][2]["protection"] == "any [users] user or its own GMS password"
    assert body["pools"] == [
        {
            "name": "DNIS",
            "numbers": ["8003449999"],
            "allocation": "round-robin",
            "used_by": ["callback"],
        }
    ]
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )


async def test_the_page_is_open_and_may_run_its_own_scripts_only(app: Starlette) -> None:
    async with _client(app) as client:
        redirect = await client.get("/console")
        page = await client.get("/console/")
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/console/")
    assert page.status_code in (200, 503)  # 503: this checkout's console is not built
    csp = page.headers["content-security-policy"]
    assert csp == CONSOLE_CSP.decode()
    for loophole in ("'unsafe-inline'", "'unsafe-eval'", "http", "*", "data:", "blob:"):
        assert loophole not in csp
    assert page.headers["x-frame-options"] == "DENY"


async def test_built_assets_are_cached_and_a_missing_build_says_how_to_make_it(
    tmp_path: Path,
) -> None:
    app = Starlette(
        routes=[Mount("/console", app=ConsoleFiles(tmp_path))],
        middleware=[Middleware(EdgeMiddleware, access_log=False)],
    )
    async with _client(app) as client:
        missing = await client.get("/console/")
        assert missing.status_code == 503
        assert "make install" in missing.text
        (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
        (tmp_path / "assets").mkdir()
        (tmp_path / "assets" / "index-abc123.js").write_text("export {};")
        page = await client.get("/console/")
        asset = await client.get("/console/assets/index-abc123.js")
        gone = await client.get("/console/assets/index-old.js")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert gone.status_code == 404
    assert gone.headers["cache-control"] == "no-store"


def test_problems_the_startup_validation_lets_through() -> None:
    config = parse_config(
        f"""
[service.call-me]
_type = "builtin"
_service = "request-interaction"
_overwritable_options = ["_phone_number"]

[service.match]
_type = "builtin"
_service = "match-interaction"
_resource_group = "A"
username = "ivr"

[resources.A]
numbers = ["1", "2"]

[resources.B]
numbers = ["2", "3"]

[users.ada]
password_hash = "{_HASHER.hash("x")}"
""",
        source="t",
    )
    found = {(p.severity, p.where, p.message.split(":")[0]) for p in static_problems(config)}
    assert found == {
        (
            "error",
            "service.call-me",
            "reserves from the default pool 'DNIS', and there is no [resources.DNIS] table",
        ),
        (
            "info",
            "service.call-me",
            "_overwritable_options lists _phone_number, which this table does not set",
        ),
        ("warning", "service.match", "_resource_group is ignored"),
        (
            "warning",
            "service.match",
            "a username without a password is not enforced, and it "
            "replaces the [server] credentials for this service",
        ),
        ("warning", "resources.A", "2 is also in B"),
        ("warning", "resources.B", "2 is also in A"),
    }


def test_a_pool_without_codes_says_how_many_can_wait() -> None:
    config = parse_config(
        '[service.ri]\n_type = "builtin"\n_service = "request-interaction"\n'
        '_resource_group = "P"\n[resources.P]\nnumbers = ["1", "2"]\n',
        source="t",
    )
    [problem] = static_problems(config)[:1]
    assert problem.severity == "info"
    assert "at most 2 live reservations" in problem.message


async def test_http_services_whose_endpoint_does_not_answer() -> None:
    config = parse_config(
        '[service.up]\n_type = "http"\n_service = "http://up.test/s"\n'
        '[service.down]\n_type = "http"\n_service = "http://u:pw@down.test/s"\n',
        source="t",
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.test":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(405)  # any answer will do: endpoints only have to handle POST

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        [problem] = await endpoint_problems(config, http)
    assert problem.where == "service.down"
    assert "http://********@down.test/s is unreachable" in problem.message
