"""The `cxgate` command: `cxgate serve` (flags or CXGATE_* environment variables)."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
from pathlib import Path

import click
import uvicorn
from starlette.applications import Starlette

from cxgate import logs
from cxgate.backends.bus import parse_bus_url
from cxgate.backends.url import journey_store_url, parse_url
from cxgate.config import DEFAULT_STORE, FileConfig, Settings, load_config
from cxgate.errors import ConfigError

log = logs.get_logger("cxgate.cli")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, config: FileConfig, *, insecure: bool) -> None:
    """With no `[users]`, auth is off: refuse to bind anything but loopback unless --insecure."""
    if config.users:
        return
    if is_loopback(host):
        log.info("no [users] configured: authentication is off, serving loopback only", host=host)
        return
    if not insecure:
        raise ConfigError(
            f"refusing to bind {host} with authentication off: configure [users] "
            "(see `cxgate hash-password`) or pass --insecure"
        )
    log.warning("INSECURE: serving a non-loopback address with authentication off", host=host)


def _exit_zero_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM means "stop": exit 0, however far the start got.

    uvicorn handles SIGTERM itself while it serves; once the graceful shutdown is over it sends the
    signal again to the handler that was installed before it. With the default action, that second
    delivery would kill the process with status -15 although the shutdown went well.
    """
    raise SystemExit(0)


def settings_from_env() -> Settings:
    """Settings as `serve` exported them, for each worker process uvicorn starts."""
    config_path = os.environ.get("CXGATE_CONFIG") or None
    path = Path(config_path) if config_path else None
    return Settings(
        host=os.environ.get("CXGATE_HOST", "127.0.0.1"),
        port=int(os.environ.get("CXGATE_PORT", "8080")),
        store=os.environ.get("CXGATE_STORE", DEFAULT_STORE),
        journey_store=os.environ.get("CXGATE_JOURNEY_STORE") or None,
        bus=os.environ.get("CXGATE_BUS", "memory://"),
        workers=int(os.environ.get("CXGATE_WORKERS", "1")),
        config_path=path,
        config=load_config(path),
    )


def app_factory() -> Starlette:
    """The uvicorn factory: every worker builds its app from the same exported settings."""
    from cxgate.app import create_app

    logs.configure(level=os.environ.get("CXGATE_LOG_LEVEL", "info"))
    access_log = os.environ.get("CXGATE_ACCESS_LOG", "1") == "1"
    return create_app(settings_from_env(), access_log=access_log)


@click.group()
@click.version_option(package_name="cxgate")
def main() -> None:
    """cxgate: the GMS Service, Storage and Context Services APIs on an open server."""


@main.command()
@click.option("--host", envvar="CXGATE_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="CXGATE_PORT", default=8080, type=int, show_default=True)
@click.option(
    "--store",
    envvar="CXGATE_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    help="sqlite:///file.db, postgresql://user@host:port/db or redis://host:port/db",
)
@click.option(
    "--journey-store",
    envvar="CXGATE_JOURNEY_STORE",
    default=None,
    help="Context Services' SQL store (default: --store when SQL, else sqlite:///var/cxgate.db)",
)
@click.option(
    "--bus",
    envvar="CXGATE_BUS",
    default="memory://",
    show_default=True,
    help="memory://, redis://... or postgresql://... (carries notifications)",
)
@click.option(
    "--config",
    "config_path",
    envvar="CXGATE_CONFIG",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the TOML configuration file",
)
@click.option(
    "--workers", envvar="CXGATE_WORKERS", default=1, type=click.IntRange(1, 64), show_default=True
)
@click.option(
    "--log-level",
    envvar="CXGATE_LOG_LEVEL",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--access-log/--no-access-log",
    envvar="CXGATE_ACCESS_LOG",
    default=True,
    show_default=True,
    help="one log line per request",
)
@click.option(
    "--insecure",
    envvar="CXGATE_INSECURE",
    is_flag=True,
    default=False,
    help="allow binding a non-loopback address without [users] (logs a warning)",
)
@click.option(
    "--tls-cert",
    envvar="CXGATE_TLS_CERT",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="serve HTTPS with this certificate (PEM)",
)
@click.option(
    "--tls-key",
    envvar="CXGATE_TLS_KEY",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="the certificate's private key (PEM)",
)
@click.option(
    "--proxy-headers/--no-proxy-headers",
    envvar="CXGATE_PROXY_HEADERS",
    default=False,
    show_default=True,
    help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips",
)
@click.option(
    "--forwarded-allow-ips",
    envvar="CXGATE_FORWARDED_ALLOW_IPS",
    default="127.0.0.1",
    show_default=True,
    help="comma list of proxy addresses whose forwarded headers are trusted",
)
@click.option(
    "--grace-period",
    envvar="CXGATE_GRACE_PERIOD",
    default=10,
    type=int,
    show_default=True,
    help="seconds that in-flight requests get on SIGTERM",
)
def serve(
    host: str,
    port: int,
    store: str,
    journey_store: str | None,
    bus: str,
    config_path: Path | None,
    workers: int,
    log_level: str,
    access_log: bool,
    insecure: bool,
    tls_cert: str | None,
    tls_key: str | None,
    proxy_headers: bool,
    forwarded_allow_ips: str,
    grace_period: int,
) -> None:
    """Serve the APIs until SIGTERM or SIGINT (in-flight requests are finished first)."""
    logs.configure(level=log_level)
    try:
        config = load_config(config_path)  # validate once, up front: a bad key stops us here
        parse_url(store)
        journey_store_url(store, journey_store)
        parse_bus_url(bus)
        check_bind(host, config, insecure=insecure)
        if bool(tls_cert) != bool(tls_key):
            raise ConfigError("--tls-cert and --tls-key go together: give both or neither")
    except ConfigError as exc:
        click.echo(f"cxgate: configuration error: {exc.message}", err=True)
        sys.exit(2)
    os.environ.update(
        {
            "CXGATE_HOST": host,
            "CXGATE_PORT": str(port),
            "CXGATE_STORE": store,
            "CXGATE_JOURNEY_STORE": journey_store or "",
            "CXGATE_BUS": bus,
            "CXGATE_CONFIG": str(config_path or ""),
            "CXGATE_WORKERS": str(workers),
            "CXGATE_LOG_LEVEL": log_level,
            "CXGATE_ACCESS_LOG": "1" if access_log else "0",
        }
    )
    signal.signal(signal.SIGTERM, _exit_zero_on_sigterm)
    uvicorn.run(
        "cxgate.cli:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=int(grace_period),
        server_header=False,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )


@main.command("hash-password")
@click.option("--stdin", "from_stdin", is_flag=True, help="read the password from standard input")
def hash_password_command(from_stdin: bool) -> None:
    """Print an argon2 hash of a password, for `password_hash` / `password` in the config."""
    from cxgate.auth.passwords import hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        click.echo("cxgate: an empty password cannot be hashed", err=True)
        sys.exit(2)
    click.echo(hash_password(password))
