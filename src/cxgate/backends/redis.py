"""The Redis store: nodes share one Redis, which expires keys by itself.

Every read-then-write runs as one Lua script, which Redis executes atomically, so owner checks,
create-or-conflict, TTL restarts and takes can never interleave across nodes. An area is three
keys with one expiry, restarted together on each write: `cx:{kind}:{id}:meta` (a hash: label, ttl,
owner when there is one, and `touched`, the clock time of the last write), `...:str` (a hash of
string values) and `...:bin` (a hash of binary values, each packed with its content type and file
name). Expiry is Redis's own; the injected clock only dates what cxgate reports (`expires_at`).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from cxgate.backends.base import AreaInfo, AreaKind, Binary, Reservation, Value
from cxgate.backends.redis_lua import CONFLICT, NO_AREA, NO_KEY, SCRIPTS
from cxgate.backends.url import BackendURL
from cxgate.clock import Clock
from cxgate.errors import AreaNotFound, ConfigError, Conflict, KeyNotFound, StoreUnavailable

# redis.exceptions.TimeoutError is a RedisError; asyncio.TimeoutError is TimeoutError.
_DRIVER_ERRORS = (RedisError, OSError, TimeoutError)
_OWN_OPTIONS = frozenset({"timeout", "pool_max", "prefix"})
_T = TypeVar("_T")


def _driver_url(raw: str) -> str:
    # redis-py passes unknown query options to the connection as keyword arguments.
    parts = urlsplit(raw)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _OWN_OPTIONS
    ]
    return parts._replace(query=urlencode(query)).geturl()


def _option(url: BackendURL, name: str, default: str, cast: Callable[[str], _T]) -> _T:
    raw = url.options.get(name, default)
    try:
        return cast(raw)
    except ValueError as exc:
        raise ConfigError(f"store URL option {name}={raw!r} is not a number") from exc


def _pack(value: Binary) -> bytes:
    # json.dumps escapes every newline, so the first b"\n" ends the header.
    return json.dumps([value.content_type, value.filename]).encode() + b"\n" + value.data


def _unpack(packed: bytes) -> Binary:
    header, _, data = packed.partition(b"\n")
    content_type, filename = json.loads(header)
    return Binary(data, content_type, filename)


def _caller(owner: str | None) -> list[str]:
    # Lua arguments cannot be nil: a flag tells "no gms_user" from an empty one.
    return ["0", ""] if owner is None else ["1", owner]


class RedisStore:
    needs_sweeper = False

    def __init__(self, url: BackendURL, *, clock: Clock) -> None:
        self.url = url
        self.clock = clock
        self.timeout = _option(url, "timeout", "5", float)
        self.pool_max = _option(url, "pool_max", "50", int)
        # Every key starts with `{prefix}:`, so that deployments (or test runs) can share a db.
        self.prefix = url.options.get("prefix", "cx")
        if not self.prefix:
            raise ConfigError(f"store URL {url.redacted()}: prefix must not be empty")
        if self.pool_max < 1:
            raise ConfigError(f"store URL {url.redacted()}: pool_max must be at least 1")
        if url.path and not url.path.isdigit():
            raise ConfigError(f"store URL {url.redacted()}: the path must be a db index like /0")
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self.areas = RedisAreaStore(self)
        self.reservations = RedisReservationStore(self)
        self.flags = RedisFlagStore(self)

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreUnavailable("the Redis store is not open")
        return self._client

    async def open(self) -> None:
        # A blocking pool makes a burst of requests wait (up to `timeout`) for a free connection
        # instead of failing at once with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            _driver_url(self.url.raw),
            max_connections=self.pool_max,
            timeout=self.timeout,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # No silent retry: a script whose reply was lost may have run, and running a take
            # twice would lose a reservation. The caller sees StoreUnavailable instead.
            retry=Retry(NoBackoff(), 0),
        )
        client = aioredis.Redis.from_pool(pool)  # closing the client closes its pool
        try:
            await client.ping()
        except BaseException as exc:
            await client.aclose()
            if isinstance(exc, _DRIVER_ERRORS):
                raise StoreUnavailable(
                    f"cannot reach the Redis store at {self.url.redacted()}: {exc}"
                ) from exc
            raise
        self._client = client
        # Registering only hashes the source; EVALSHA loads a script on first use per server.
        self._scripts = {name: client.register_script(source) for name, source in SCRIPTS.items()}

    async def close(self) -> None:
        client, self._client, self._scripts = self._client, None, {}
        if client is not None:
            await client.aclose()

    async def ping(self) -> None:
        await self.guard(self.client.ping())

    async def sweep(self) -> int:
        return 0  # Redis deletes expired keys itself

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the Lua scripts, atomically on the server."""
        script = self._scripts.get(name)
        if script is None:
            raise StoreUnavailable("the Redis store is not open")
        return await self.guard(script(keys=keys, args=args))

    async def guard(self, pending: Awaitable[Any]) -> Any:
        """Await a command, `timeout` at most as a whole (the pool wait, the connect and the
        reply are each bounded by it too, and could add up); driver errors and the deadline leave
        as `StoreUnavailable`. redis-py drops a connection whose command was cancelled."""
        try:
            async with asyncio.timeout(self.timeout):
                return await pending
        except TimeoutError as exc:
            raise StoreUnavailable(
                f"the Redis store at {self.url.redacted()} did not answer within {self.timeout:g} s"
            ) from exc
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(
                f"the Redis store at {self.url.redacted()} failed: {exc}"
            ) from exc


class RedisAreaStore:
    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def _keys(self, area_id: str, kind: AreaKind) -> list[str]:
        base = f"{self.store.prefix}:{kind.value}:{area_id}"
        return [f"{base}:meta", f"{base}:str", f"{base}:bin"]

    @staticmethod
    def _info(area_id: str, kind: AreaKind, reply: list[Any]) -> AreaInfo:
        _, label, raw_ttl, touched, has_owner, owner = reply
        ttl = int(raw_ttl)
        # now + ttl from the clock time of the last write: the same sum the SQL stores make.
        expires_at = float(touched) + ttl
        owner_name = owner.decode() if has_owner else None
        return AreaInfo(area_id, kind, label.decode(), owner_name, ttl, expires_at)

    @staticmethod
    def _fail(reply: list[Any], kind: AreaKind, area_id: str, key: str = "") -> None:
        if reply[0] == NO_AREA:
            raise AreaNotFound(f"{kind.value} {area_id} not found")
        if reply[0] == CONFLICT:
            raise Conflict(f"{kind.value} {area_id} already exists or belongs to another gms_user")
        if reply[0] == NO_KEY:
            raise KeyNotFound(f"key {key!r} not found")

    async def _write(
        self, area_id: str, kind: AreaKind, values: Mapping[str, Value], head: list[Any]
    ) -> AreaInfo:
        """Run the write script; `head` holds its ARGV up to the values."""
        strings: list[str | bytes] = []
        binaries: list[str | bytes] = []
        for key, value in values.items():
            if isinstance(value, Binary):
                binaries += [key, _pack(value)]
            else:
                strings += [key, value]
        args = [*head, len(strings) // 2, *strings, *binaries]
        reply = await self.store.run("write", self._keys(area_id, kind), args)
        self._fail(reply, kind, area_id)
        return self._info(area_id, kind, reply)

    def _now(self) -> str:
        # repr() gives the shortest text that reads back as the very same float.
        return repr(self.store.clock.now())

    async def create(
        self,
        area_id: str,
        *,
        kind: AreaKind,
        label: str,
        owner: str | None,
        ttl: int,
        values: Mapping[str, Value],
    ) -> AreaInfo:
        head = ["create", self._now(), *_caller(owner), "", ttl, label]
        return await self._write(area_id, kind, values, head)

    async def write(
        self,
        area_id: str,
        *,
        kind: AreaKind,
        owner: str | None,
        values: Mapping[str, Value],
        ttl: int | None = None,
        create: bool = False,
    ) -> AreaInfo:
        mode = "claim" if create else "write"
        head = [mode, self._now(), *_caller(owner), "" if ttl is None else ttl, ttl or 30, ""]
        return await self._write(area_id, kind, values, head)

    async def _read(
        self, area_id: str, kind: AreaKind, owner: str | None, what: str, key: str = ""
    ) -> list[Any]:
        args = [*_caller(owner), what, key]
        reply: list[Any] = await self.store.run("read", self._keys(area_id, kind), args)
        self._fail(reply, kind, area_id, key)
        return reply

    async def info(self, area_id: str, *, kind: AreaKind, owner: str | None) -> AreaInfo:
        return self._info(area_id, kind, await self._read(area_id, kind, owner, "info"))

    async def read_strings(
        self, area_id: str, *, kind: AreaKind, owner: str | None
    ) -> dict[str, str]:
        flat = (await self._read(area_id, kind, owner, "strings"))[1]
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    async def read_value(
        self, area_id: str, key: str, *, kind: AreaKind, owner: str | None
    ) -> Value:
        _, tag, raw = await self._read(area_id, kind, owner, "value", key)
        return raw.decode() if tag == b"s" else _unpack(raw)

    async def delete_keys(
        self, area_id: str, keys: list[str] | None, *, kind: AreaKind, owner: str | None
    ) -> None:
        every = "1" if keys is None else "0"
        args = [self._now(), *_caller(owner), every, *(keys or [])]
        reply = await self.store.run("delete_keys", self._keys(area_id, kind), args)
        self._fail(reply, kind, area_id)

    async def delete(self, area_id: str, *, kind: AreaKind, owner: str | None) -> None:
        reply = await self.store.run("delete", self._keys(area_id, kind), _caller(owner))
        self._fail(reply, kind, area_id)


def _reservation_prefix(prefix: str, number: str) -> str:
    # The byte length keeps (number, code) pairs apart even when either contains a colon.
    return f"{prefix}:res:{len(number.encode())}:{number}:"


class RedisReservationStore:
    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def reserve(self, reservation: Reservation) -> bool:
        r = reservation
        code = r.code or ""
        ms = max(1, math.ceil((r.expires_at - self.store.clock.now()) * 1000))
        # The record is a JSON list; the scripts read its number [1], code [2] and service [3].
        record = json.dumps(
            [r.number, code, r.service_id, r.created_at, r.expires_at], ensure_ascii=False
        )
        p = self.store.prefix
        keys = [_reservation_prefix(p, r.number) + code, f"{p}:res-n:{r.number}"]
        keys.append(f"{p}:res-s:{r.service_id}")
        done = await self.store.run("reserve", keys, [record, ms, code, repr(r.created_at)])
        return bool(done)

    async def take(self, number: str, code: str | None) -> Reservation | None:
        p = self.store.prefix
        args = [_reservation_prefix(p, number), "0" if code is None else "1", code or "", p]
        raw = await self.store.run("take", [f"{p}:res-n:{number}"], args)
        if raw is None:
            return None
        number, code, service_id, created_at, expires_at = json.loads(raw)
        return Reservation(number, code or None, service_id, created_at, expires_at)

    async def release_service(self, service_id: str) -> None:
        p = self.store.prefix
        await self.store.run("release", [f"{p}:res-s:{service_id}"], [service_id, p])


class RedisFlagStore:
    """Flags are plain strings under `{prefix}:flag:{name}`, without expiry."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def get(self, name: str) -> str | None:
        raw = await self.store.guard(self.store.client.get(f"{self.store.prefix}:flag:{name}"))
        return None if raw is None else bytes(raw).decode()

    async def set(self, name: str, value: str) -> None:
        await self.store.guard(self.store.client.set(f"{self.store.prefix}:flag:{name}", value))
