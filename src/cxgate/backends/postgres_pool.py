"""What both PostgreSQL stores (GMS and Context Services) share: URL options, the pool, and
the driver errors that mean "the store did not answer"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg
from asyncpg import InterfaceError, InternalClientError, PostgresError
from asyncpg.pool import PoolConnectionProxy

from cxgate.backends.url import BackendURL
from cxgate.errors import ConfigError, StoreUnavailable

# Everything the driver or the network can raise. asyncio.TimeoutError is TimeoutError and
# ConnectionError is an OSError, so both are covered.
DRIVER_ERRORS = (PostgresError, InterfaceError, InternalClientError, OSError, TimeoutError)
# Query options cxgate reads itself; asyncpg would send unknown ones to the server as settings.
OWN_OPTIONS = frozenset({"schema", "pool_min", "pool_max", "timeout"})


def _number(url: BackendURL, name: str, default: str, what: str) -> float:
    raw = url.options.get(name, default)
    try:
        return float(raw) if name == "timeout" else int(raw)
    except ValueError as exc:
        raise ConfigError(f"{what} URL option {name}={raw!r} is not a number") from exc


@dataclass(frozen=True, slots=True)
class PoolOptions:
    schema: str | None
    pool_min: int
    pool_max: int
    timeout: float  # seconds, for connecting and for each command

    @classmethod
    def from_url(cls, url: BackendURL, *, what: str) -> PoolOptions:
        options = cls(
            schema=url.options.get("schema") or None,
            pool_min=int(_number(url, "pool_min", "2", what)),
            pool_max=int(_number(url, "pool_max", "10", what)),
            timeout=_number(url, "timeout", "5", what),
        )
        if not 0 <= options.pool_min <= options.pool_max or options.pool_max < 1:
            raise ConfigError(
                f"{what} URL {url.redacted()}: need 0 <= pool_min <= pool_max and pool_max >= 1"
            )
        return options


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def driver_dsn(raw: str) -> str:
    parts = urlsplit(raw)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in OWN_OPTIONS
    ]
    return parts._replace(query=urlencode(query)).geturl()


def row_count(status: str) -> int:
    """The row count of a command status such as `DELETE 3` or `INSERT 0 1`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def keep_session(conn: Any) -> None:
    """The pool's reset on release, which does nothing: asyncpg's default sends
    `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` after every call, a round
    trip that costs about as much as the call itself. Nothing here leaves anything to reset: the
    only advisory locks are transaction locks, no pooled connection LISTENs (the bus has its own),
    no statement changes a session setting (`search_path` is a server setting given at connect)
    and no cursor outlives its transaction. asyncpg still rolls back a transaction left open
    before it calls this."""


async def open_pool(
    url: BackendURL,
    options: PoolOptions,
    *,
    what: str,
    migrate: Callable[[PoolConnectionProxy], Awaitable[None]],
) -> asyncpg.Pool:
    """A pool on `url` with the schema as search_path, migrated; `StoreUnavailable` when the
    server cannot be reached or migrated (`what` names the store in the message)."""
    settings = {"search_path": quote_ident(options.schema)} if options.schema else None
    where = url.redacted()
    try:
        pool = await asyncpg.create_pool(
            driver_dsn(url.raw),
            min_size=options.pool_min,
            max_size=options.pool_max,
            timeout=options.timeout,
            command_timeout=options.timeout,
            server_settings=settings,
            reset=keep_session,
        )
    except DRIVER_ERRORS as exc:
        raise StoreUnavailable(f"cannot reach the {what} at {where}: {exc}") from exc
    try:
        async with pool.acquire(timeout=options.timeout) as conn:
            await migrate(conn)
    except BaseException as exc:
        pool.terminate()
        if isinstance(exc, DRIVER_ERRORS):
            raise StoreUnavailable(f"cannot migrate the {what} at {where}: {exc}") from exc
        raise
    return pool
