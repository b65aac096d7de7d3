"""Security rules that only a real process shows: bind rules, TLS, proxy headers, slow bodies."""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from tests.e2e.processes import CXGATE, DEMO_CONFIG, free_port, serve

pytestmark = pytest.mark.slow


def test_no_users_refuses_a_public_bind(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            CXGATE,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--store",
            f"sqlite:///{tmp_path}/x.db",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0" in result.stderr
    assert "--insecure" in result.stderr


def test_insecure_binds_and_warns_on_every_start(tmp_path: Path) -> None:
    with serve(tmp_path, "--host", "0.0.0.0", "--insecure") as served:
        assert httpx.get(served.base_url + "/genesys/1/node").status_code == 200
    assert "INSECURE" in served.log()


def test_users_allow_a_public_bind(tmp_path: Path) -> None:
    config = tmp_path / "users.toml"
    hashed = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("pw")
    config.write_text(
        Path(DEMO_CONFIG).read_text()
        + f'\n[users.ada]\npassword_hash = "{hashed}"\nroles = ["admin"]\n'
    )
    with serve(tmp_path, "--host", "0.0.0.0", "--config", str(config)) as served:
        url = served.base_url + "/genesys/1/storage/30"
        assert httpx.post(url, data={"a": "1"}).status_code == 401
        assert httpx.post(url, data={"a": "1"}, auth=("ada", "pw")).status_code == 200
    assert "pw" not in served.log().replace("password", "")


def test_plain_text_password_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "plain.toml"
    config.write_text('[users.ada]\npassword_hash = "hunter2"\nroles = ["admin"]\n')
    result = subprocess.run(
        [CXGATE, "serve", "--config", str(config), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "users.ada.password_hash" in result.stderr
    assert "hunter2" not in result.stderr


def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    trusted = ssl.create_default_context(cafile=str(cert))
    with serve(
        tmp_path, "--tls-cert", str(cert), "--tls-key", str(key), scheme="https", verify=trusted
    ) as served:
        response = httpx.post(
            served.base_url + "/genesys/1/storage/30", data={"a": "1"}, verify=trusted
        )
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(served.base_url.replace("https", "http") + "/genesys/1/node", timeout=2)


def _rate_limited_config(tmp_path: Path) -> str:
    config = tmp_path / "limited.toml"
    config.write_text(
        Path(DEMO_CONFIG).read_text().replace("[server]\n", '[server]\nrate_limit = "3/minute"\n')
    )
    return str(config)


def _statuses(url: str, forwarded_for: str, count: int) -> list[int]:
    return [
        httpx.get(url, headers={"x-forwarded-for": forwarded_for}).status_code for _ in range(count)
    ]


def test_proxy_headers_give_each_client_its_own_budget(tmp_path: Path) -> None:
    config = _rate_limited_config(tmp_path)
    with serve(
        tmp_path, "--config", config, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"
    ) as served:
        url = served.base_url + "/genesys/1/storage/none"
        assert _statuses(url, "203.0.113.1", 4) == [404, 404, 404, 429]
        assert _statuses(url, "203.0.113.2", 3) == [404, 404, 404]


def test_without_proxy_headers_forwarded_for_is_ignored(tmp_path: Path) -> None:
    config = _rate_limited_config(tmp_path)
    with serve(tmp_path, "--config", config) as served:
        url = served.base_url + "/genesys/1/storage/none"
        assert _statuses(url, "203.0.113.1", 3) == [404, 404, 404]
        assert _statuses(url, "203.0.113.2", 1) == [429]


def test_a_slow_body_does_not_hold_the_server(tmp_path: Path) -> None:
    config = tmp_path / "slow.toml"
    config.write_text(
        Path(DEMO_CONFIG).read_text().replace("[server]\n", "[server]\nbody_timeout = 1.0\n")
    )
    with serve(tmp_path, "--config", str(config)) as served:
        port = int(served.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /genesys/1/storage/30 HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\n\r\n"
            )
            started = time.monotonic()
            answer = b""
            for _ in range(8):
                sock.sendall(b"a")
                time.sleep(0.25)
                sock.settimeout(0.01)
                with contextlib.suppress(TimeoutError):
                    answer += sock.recv(4096)
                if answer:
                    break
            sock.settimeout(5)
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408")
            assert time.monotonic() - started < 4
        # Meanwhile and afterwards, everyone else is served.
        assert httpx.get(served.base_url + "/genesys/1/node").status_code == 200


def test_logs_never_carry_passwords_authorization_or_values(tmp_path: Path) -> None:
    config = tmp_path / "users.toml"
    hashed = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("s3cret-pw")
    config.write_text(
        Path(DEMO_CONFIG).read_text()
        + f'\n[users.ada]\npassword_hash = "{hashed}"\nroles = ["admin"]\n'
    )
    with serve(tmp_path, "--config", str(config), "--access-log", "--log-level", "debug") as served:
        base = served.base_url + "/genesys/1"
        wrong = httpx.post(base + "/storage/30", data={"a": "1"}, auth=("ada", "wrong-pw"))
        assert wrong.status_code == 401
        stored = httpx.post(
            base + "/storage/30", data={"card": "4111-1111-VALUE"}, auth=("ada", "s3cret-pw")
        )
        assert stored.status_code == 200
        area = stored.json()["id"]
        httpx.get(f"{base}/storage/{area}", auth=("ada", "s3cret-pw"))
        bad_json = httpx.post(
            base + "/service/store",
            content=b'{"card": "4111-1111-VALUE", ',
            headers={"content-type": "application/json"},
            auth=("ada", "s3cret-pw"),
        )
        assert bad_json.status_code == 500
    log = served.log()
    assert "authentication failed" in log  # the failure itself is logged, with the user name
    token = base64.b64encode(b"ada:s3cret-pw").decode()
    for secret in ("s3cret-pw", "wrong-pw", token, "4111-1111-VALUE", hashed):
        assert secret not in log
