"""Backend URLs are parsed once, here, and mapped to the class that serves them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cxgate.clock import Clock
from cxgate.errors import ConfigError

# scheme -> ("module:Class", the pip extra that brings its driver). Imported lazily so that the
# PostgreSQL and Redis drivers stay optional.
STORES: dict[str, tuple[str, str | None]] = {
    "sqlite": ("cxgate.backends.sqlite:SqliteStore", None),
    "postgresql": ("cxgate.backends.postgres:PostgresStore", "postgres"),
    "postgres": ("cxgate.backends.postgres:PostgresStore", "postgres"),
    "redis": ("cxgate.backends.redis:RedisStore", "redis"),
}


@dataclass(frozen=True, slots=True)
class BackendURL:
    raw: str
    scheme: str
    host: str | None
    port: int | None
    path: str  # sqlite: the file path; postgresql: the database; redis: the db index
    options: dict[str, str]

    @property
    def sqlite_path(self) -> Path:
        return Path(self.path)

    def redacted(self) -> str:
        """The URL without its password, for logs."""
        parts = urlsplit(self.raw)
        if parts.password is None:
            return self.raw
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()


def parse_url(raw: str) -> BackendURL:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in STORES:
        known = ", ".join(sorted({s + "://" for s in STORES}))
        raise ConfigError(f"unknown store URL scheme in {raw!r}; use one of {known}")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme == "sqlite":
        # sqlite:///var/cxgate.db is relative (var/cxgate.db); sqlite:////abs/path is absolute,
        # the SQLAlchemy convention users know.
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ConfigError(f"store URL {raw!r} names no file: use sqlite:///var/cxgate.db")
        return BackendURL(raw, scheme, None, None, path, options)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"store URL {raw!r} has an invalid port") from exc
    return BackendURL(raw, scheme, parts.hostname, port, parts.path.lstrip("/"), options)


def load_class(table: dict[str, tuple[str, str | None]], url: BackendURL) -> Any:
    target, extra = table[url.scheme]
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        fix = f"pip install 'cxgate[{extra}]'" if extra else "reinstall cxgate"
        raise ConfigError(
            f"the {url.scheme}:// backend needs a driver that is missing: {fix}"
        ) from exc
    return getattr(module, class_name)


def open_store(raw: str, *, clock: Clock) -> Any:
    """The Store for a URL (not yet opened)."""
    url = parse_url(raw)
    return load_class(STORES, url)(url, clock=clock)
