"""SPEC section 2, auth: HTTP Basic against [users] with roles, and GMS's own credentials."""

from __future__ import annotations

import base64

import pytest
from argon2 import PasswordHasher

from cxgate.config import parse_config
from cxgate.errors import ConfigError
from tests.api.conftest import TEST_CONFIG, OpenApi

# Cheap argon2 parameters keep the tests fast; the parameters travel inside each hash.
_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def users_config() -> str:
    users = {
        "ada": ("admin",),
        "api": ("apiuser",),
        "sue": ("supervisor",),
        "al": ("agent",),
    }
    tables = [
        f'[users.{name}]\npassword_hash = "{_HASHER.hash(name + "-pw")}"\nroles = {list(roles)!r}\n'
        for name, roles in users.items()
    ]
    return TEST_CONFIG + "\n" + "\n".join(tables).replace("'", '"')


async def test_no_credentials_is_401_with_challenge(api_factory: OpenApi) -> None:
    async with api_factory(users_config()) as api:
        response = await api.client.post("/genesys/1/service/store", data={"a": "1"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.json()["exception"].startswith("com.genesyslab.gms.")
        wrong = await api.client.post(
            "/genesys/1/service/store", data={"a": "1"}, headers=basic("ada", "nope")
        )
        assert wrong.status_code == 401
        unknown = await api.client.get("/genesys/1/storage/x", headers=basic("eve", "ada-pw"))
        assert unknown.status_code == 401
        garbled = await api.client.get(
            "/genesys/1/storage/x", headers={"authorization": "Basic %%"}
        )
        assert garbled.status_code == 401


async def test_any_user_may_use_the_gms_apis(api_factory: OpenApi) -> None:
    async with api_factory(users_config()) as api:
        for user in ("ada", "api", "sue", "al"):
            response = await api.client.post(
                "/genesys/1/service/store", data={"a": "1"}, headers=basic(user, f"{user}-pw")
            )
            assert response.status_code == 200, user


async def test_open_paths_need_no_credentials(api_factory: OpenApi) -> None:
    async with api_factory(users_config()) as api:
        assert (await api.client.get("/genesys/1/node")).status_code == 200


@pytest.mark.parametrize(
    ("user", "method", "path", "allowed"),
    [
        ("sue", "GET", "/genesys/1/cs/services/1-x", True),
        ("sue", "POST", "/genesys/1/cs/services/start", False),
        ("api", "POST", "/genesys/1/cs/services/start", True),
        ("ada", "POST", "/genesys/1/cs/services/start", True),
        ("al", "GET", "/genesys/1/cs/services/1-x", False),
        ("al", "GET", "/api/v2/services", True),
        ("sue", "GET", "/api/v2/services", True),
        ("api", "GET", "/api/v2/services", False),
        ("al", "GET", "/genesys/1/admin/maintenance", True),
        ("sue", "POST", "/genesys/1/admin/maintenance", False),
        ("ada", "POST", "/genesys/1/admin/maintenance", True),
    ],
)
async def test_roles(
    api_factory: OpenApi, user: str, method: str, path: str, allowed: bool
) -> None:
    async with api_factory(users_config()) as api:
        response = await api.client.request(
            method, path, headers=basic(user, f"{user}-pw"), json={"read_only": False}
        )
        if allowed:
            assert response.status_code not in (401, 403), response.text
        else:
            assert response.status_code == 403
            body = response.json()
            if path.startswith("/api/v2"):
                assert body["statusCode"] == 5
            elif path.startswith("/genesys/1/cs"):
                assert body["exception"].endswith("ContextServicesExceptionResource")
            else:
                assert "lacks the role" in body["message"]


def gms_scheme_config() -> str:
    return (
        TEST_CONFIG.replace(
            "[server]\n",
            f'[server]\nusername = "gms"\npassword = "{_HASHER.hash("server-pw")}"\n',
        )
        + f"""
[service.private]
_type = "builtin"
_service = "session"
username = "vip"
password = "{_HASHER.hash("vip-pw")}"

[service.nameonly]
_type = "builtin"
_service = "session"
username = "someone"
"""
    )


async def test_gms_server_credentials(api_factory: OpenApi) -> None:
    async with api_factory(gms_scheme_config()) as api:
        assert (await api.client.post("/genesys/1/service/store")).status_code == 401
        ok = await api.client.post("/genesys/1/service/store", headers=basic("gms", "server-pw"))
        assert ok.status_code == 200
        sid = ok.json()["_id"]
        assert (await api.client.get(f"/genesys/1/service/{sid}/storage")).status_code == 401
        assert (
            await api.client.get(
                f"/genesys/1/service/{sid}/storage", headers=basic("gms", "server-pw")
            )
        ).status_code == 200
        assert (
            await api.client.post("/genesys/1/storage/30", headers=basic("gms", "wrong"))
        ).status_code == 401


async def test_service_credentials_replace_the_servers(api_factory: OpenApi) -> None:
    async with api_factory(gms_scheme_config()) as api:
        server = await api.client.post(
            "/genesys/1/service/private", headers=basic("gms", "server-pw")
        )
        assert server.status_code == 401
        own = await api.client.post("/genesys/1/service/private", headers=basic("vip", "vip-pw"))
        assert own.status_code == 200
        # Only a username configured: GMS does not enforce it.
        assert (await api.client.post("/genesys/1/service/nameonly")).status_code == 200


async def test_no_users_and_no_gms_credentials_means_auth_off(api_factory: OpenApi) -> None:
    async with api_factory() as api:
        assert (await api.client.post("/genesys/1/service/store")).status_code == 200


@pytest.mark.parametrize(
    ("snippet", "where"),
    [
        ('[users.bob]\npassword_hash = "secret"\nroles = ["admin"]', "users.bob.password_hash"),
        ('[server]\npassword = "secret"', "server.password"),
        (
            '[service.s]\n_type = "builtin"\n_service = "session"\npassword = "x"',
            "service.s.password",
        ),
    ],
)
def test_plain_text_passwords_are_refused(snippet: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(snippet, source="cxgate.toml")
    assert where in caught.value.message
    assert "hash-password" in caught.value.message
