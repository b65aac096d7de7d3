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


def open_store(raw: str, *, clock: Clock, max_area_keys: int | None = None) -> Any:
    """The Store for a URL (not yet opened); an area holds at most `max_area_keys` keys."""
    url = parse_url(raw)
    return load_class(STORES, url)(url, clock=clock, max_area_keys=max_area_keys)


# Context Services needs SQL (filtered, ordered queries; transactions over several rows): only
# these schemes can hold the journey.
JOURNEY_STORES: dict[str, tuple[str, str | None]] = {
    "sqlite": ("cxgate.backends.sqlite_journey:SqliteJourneyStore", None),
    "postgresql": ("cxgate.backends.postgres_journey:PostgresJourneyStore", "postgres"),
    "postgres": ("cxgate.backends.postgres_journey:PostgresJourneyStore", "postgres"),
}
DEFAULT_JOURNEY_STORE = "sqlite:///var/cxgate.db"


def journey_store_url(store: str, journey_store: str | None) -> str:
    """Where Context Services keeps the journey: `--journey-store` when given, else the main
    store when it is SQL, else (a Redis store) the embedded SQLite file."""
    if journey_store:
        url = parse_url(journey_store)
        if url.scheme not in JOURNEY_STORES:
            raise ConfigError(
                f"--journey-store {url.redacted()}: Context Services needs an SQL store; "
                "use sqlite:///var/cxgate.db or postgresql://user@host:5432/db"
            )
        return journey_store
    if parse_url(store).scheme in JOURNEY_STORES:
        return store
    return DEFAULT_JOURNEY_STORE


def open_journey_store(raw: str, *, clock: Clock) -> Any:
    """The JourneyStore for an SQL URL (not yet opened); `ConfigError` for any other."""
    url = parse_url(raw)
    if url.scheme not in JOURNEY_STORES:
        raise ConfigError(
            f"journey store {url.redacted()}: Context Services needs an SQL store; "
            "set --journey-store / CXGATE_JOURNEY_STORE to sqlite:///... or postgresql://..."
        )
    return load_class(JOURNEY_STORES, url)(url, clock=clock)
