"""The Redis store: nodes share one Redis, which expires keys by itself.

Every read-then-write runs as one Lua script, which Redis executes atomically, so owner checks,
create-or-conflict, TTL restarts and takes can never interleave across nodes. An area is three
keys with one expiry, restarted together on each write: `cx:{kind}:{id}:meta` (a hash: label, ttl,
owner when there is one, and `touched`, the clock time of the last write), `...:str` (a hash of
string values) and `...:bin` (a hash of binary values, each packed with its content type and file
name). Expiry is Redis's own; the injected clock only dates what cxgate reports (`expires_at`).

Commands go through a small client of our own (`_Client`): Redis itself needs 10-40 µs per
script, and redis-py's asyncio client spent twice that in Python per call (a pool checkout with
its locks and timeouts, a timeout per read, observability hooks, argument checks). Ours sends
the commands of concurrent calls on one shared connection, without waiting for earlier replies
(pipelining: Redis answers a connection's commands in order), those of one turn of the event
loop in one write, and parses the replies with hiredis: a few µs per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import socket
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url as parse_redis_url

from cxgate.backends.base import AreaInfo, AreaKind, Binary, Reservation, Value, too_many_keys
from cxgate.backends.redis_lua import CONFLICT, NO_AREA, NO_KEY, SCRIPTS, TOO_MANY_KEYS
from cxgate.backends.url import BackendURL
from cxgate.clock import Clock
from cxgate.errors import AreaNotFound, ConfigError, Conflict, KeyNotFound, StoreUnavailable

_OWN_OPTIONS = frozenset({"timeout", "pool_max", "prefix"})
# What the connection itself understands, from the URL: redis://[[user]:password@]host:port/db
# plus ?client_name= (and ?db=, ?username=, ?password=, as redis-py reads them).
_CONNECTION_OPTIONS = frozenset({"host", "port", "db", "username", "password", "client_name"})
# Another connection is opened (up to pool_max) only when every open one has this many commands
# waiting for their replies: one connection carries a burst best, in few system calls.
PIPELINE_DEPTH = 32
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


def _connection_options(url: BackendURL) -> dict[str, Any]:
    try:
        options: dict[str, Any] = dict(parse_redis_url(_driver_url(url.raw)))
    except ValueError as exc:
        raise ConfigError(f"store URL {url.redacted()}: {exc}") from exc
    unknown = sorted(set(options) - _CONNECTION_OPTIONS)
    if unknown:
        raise ConfigError(
            f"store URL {url.redacted()}: unknown option {', '.join(unknown)}; the Redis store "
            "reads timeout, pool_max, prefix and client_name"
        )
    return options


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


class _Connection(asyncio.Protocol):
    """One TCP connection to Redis, shared by concurrent calls: each command is written at once,
    and the replies, which Redis sends in the order of the commands, go to the waiting futures
    first in, first out. A command whose caller gave up (cancelled, or past its deadline) keeps
    its place in the queue and its reply is dropped, so the order holds.

    Each command fails with StoreUnavailable at its own deadline, as it would on a connection of
    its own. A connection that let a command pass its deadline takes no new ones (the next calls
    open another) and closes once nothing waits on it any more; the commands sent later keep
    their chance to be answered, should the server wake up (a pause, SIGSTOP/SIGCONT). When the
    server closes the connection or sends something unreadable, every command still waiting
    fails at once. Nothing is resent: a script whose reply was lost may have run, and running a
    take twice would lose a reservation.
    """

    def __init__(self, on_retired: Callable[[_Connection], None], where: str, late: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.on_retired = on_retired
        self.where = where
        self.late = late  # the error of a command past its deadline
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.deadlines: deque[float] = deque()  # of the waiting commands, in the same order
        self.timer: asyncio.TimerHandle | None = None
        self.outgoing: list[bytes] | None = None  # commands to write at the end of this turn
        self.retired = False  # takes no new command
        self.failed: str | None = None  # why it is closed; None while open
        self.closed: asyncio.Future[None] = self.loop.create_future()  # done once the socket is

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:  # the kernel probes an idle connection to a vanished host
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                self.deadlines.popleft()
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # IndexError: a reply nobody awaits
            self.fail(f"the Redis store at {self.where} sent an unreadable reply ({exc!r})")
            return
        if self.retired and not self.waiting:
            self.fail("a connection that answered late")

    def connection_lost(self, exc: Exception | None) -> None:
        why = f": {exc}" if exc else ""
        self.fail(f"the Redis store at {self.where} closed the connection{why}")
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, packed: bytes, deadline: float) -> asyncio.Future[Any]:
        """Write one packed command; the future gets its reply (error replies included)."""
        if self.failed is not None or self.transport is None:
            raise StoreUnavailable(self.failed or f"the Redis store at {self.where} failed")
        future = self.loop.create_future()
        self.waiting.append(future)
        self.deadlines.append(deadline)
        # The commands of every call made in this turn of the event loop leave in one write.
        if self.outgoing is None:
            self.outgoing = [packed]
            self.loop.call_soon(self._flush)
        else:
            self.outgoing.append(packed)
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._check_deadlines)
        return future

    def _flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, None
        if outgoing and self.failed is None and self.transport is not None:
            self.transport.writelines(outgoing)

    def _check_deadlines(self) -> None:
        # Armed for the oldest waiting command: while it is answered in time, so is the rest.
        self.timer = None
        now = self.loop.time()
        expired = False
        next_deadline: float | None = None
        for future, deadline in zip(self.waiting, self.deadlines, strict=True):
            if deadline <= now:
                expired = True
                if not future.done():
                    future.set_exception(StoreUnavailable(self.late))
            elif next_deadline is None or deadline < next_deadline:
                next_deadline = deadline
        if expired:
            self.retire()
        if next_deadline is not None:
            self.timer = self.loop.call_at(next_deadline, self._check_deadlines)
        elif self.waiting:  # every command waiting has failed: nobody needs the connection
            self.fail(self.late)

    def retire(self) -> None:
        if not self.retired:
            self.retired = True
            self.on_retired(self)

    def fail(self, why: str) -> None:
        """Close the connection at once; whatever still waits on it fails with `why`."""
        self.retire()
        if self.failed is None:
            self.failed = why
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()
        while self.waiting:
            self.deadlines.popleft()
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(StoreUnavailable(why))


class _Client:
    """Commands to one Redis server over up to `max_connections` pipelined connections."""

    def __init__(self, options: dict[str, Any], timeout: float, max_connections: int, where: str):
        self.host = options.get("host") or "localhost"
        self.port = int(options.get("port") or 6379)
        self.handshake: list[tuple[Any, ...]] = []
        password, username = options.get("password"), options.get("username")
        if password is not None:
            self.handshake.append(("AUTH", username, password) if username else ("AUTH", password))
        if options.get("client_name"):
            self.handshake.append(("CLIENT", "SETNAME", options["client_name"]))
        if int(options.get("db") or 0):
            self.handshake.append(("SELECT", int(options["db"])))
        self.timeout = timeout
        self.max_connections = max_connections
        self.where = where
        self.late = f"the Redis store at {where} did not answer within {timeout:g} s"
        self.connections: list[_Connection] = []  # taking commands
        self.sockets: set[_Connection] = set()  # open, retired ones included
        self.connecting: asyncio.Task[_Connection] | None = None
        self.closed = False

    async def execute(self, command: tuple[Any, ...], deadline: float) -> Any:
        """Send one command and return its reply; an error reply is returned (a
        `hiredis.ReplyError`), not raised. StoreUnavailable when the store does not answer by
        `deadline` (the event loop's time), or cannot be reached."""
        packed = hiredis.pack_command(command)
        connection = self._pick() or await self._connected(deadline)
        return await connection.send(packed, deadline)

    def _pick(self) -> _Connection | None:
        best = None
        for connection in self.connections:
            if best is None or len(connection.waiting) < len(best.waiting):
                best = connection
        if (
            best is not None
            and len(best.waiting) >= PIPELINE_DEPTH
            and len(self.connections) < self.max_connections
            and self.connecting is None
        ):
            # Busy: open another for the calls to come, and use the least busy one meanwhile.
            self._start_connecting().add_done_callback(_retrieve)
        return best

    def _start_connecting(self) -> asyncio.Task[_Connection]:
        if self.connecting is None:
            self.connecting = asyncio.get_running_loop().create_task(self._connect())
        return self.connecting

    async def _connected(self, deadline: float) -> _Connection:
        # Every caller waits for the one attempt under way, each until its own deadline.
        attempt = self._start_connecting()
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(attempt)
        except TimeoutError:
            raise StoreUnavailable(self.late) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if attempt.cancelled() and task is not None and not task.cancelling():
                raise StoreUnavailable("the Redis store was closed") from None  # by close()
            raise

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(self.timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._forget, self.where, self.late), self.host, self.port
                )
                self.sockets.add(connection)
                connection.closed.add_done_callback(lambda _: self.sockets.discard(connection))
                deadline = loop.time() + self.timeout
                sent = [connection.send(hiredis.pack_command(c), deadline) for c in self.handshake]
                for command, reply in zip(self.handshake, await asyncio.gather(*sent), strict=True):
                    if isinstance(reply, hiredis.ReplyError):
                        raise StoreUnavailable(
                            f"the Redis store at {self.where} refused {command[0]}: {reply}"
                        )
            if self.closed:
                raise StoreUnavailable("the Redis store is not open")
        except BaseException as exc:
            if connection is not None:
                connection.fail("connection attempt abandoned")
                await asyncio.wait([connection.closed], timeout=self.timeout)
            if isinstance(exc, OSError | TimeoutError):
                raise StoreUnavailable(
                    f"cannot reach the Redis store at {self.where}: {exc}"
                ) from exc
            raise
        finally:
            self.connecting = None
        self.connections.append(connection)
        return connection

    def _forget(self, connection: _Connection) -> None:
        """A connection retired: the next calls use another."""
        with contextlib.suppress(ValueError):
            self.connections.remove(connection)

    async def close(self) -> None:
        self.closed = True
        if self.connecting is not None:
            self.connecting.cancel()
            await asyncio.wait([self.connecting], timeout=self.timeout)
        self.connections = []
        sockets = list(self.sockets)
        for connection in sockets:
            connection.fail("the Redis store was closed")
        # The sockets close in a callback of the loop: let it run.
        if sockets:
            await asyncio.wait([c.closed for c in sockets], timeout=self.timeout)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Consume the outcome of a connection attempt nobody awaits (its failure is no news: the
    calls that need the connection raise their own)."""
    if not task.cancelled():
        task.exception()


class RedisStore:
    needs_sweeper = False

    def __init__(self, url: BackendURL, *, clock: Clock, max_area_keys: int | None = None) -> None:
        self.url = url
        self.clock = clock
        self.max_area_keys = max_area_keys
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
        self._options = _connection_options(url)
        self._commands: _Client | None = None
        self._client: aioredis.Redis | None = None
        # name -> (SHA-1 of the source, source): EVALSHA by hash, SCRIPT LOAD when Redis lacks it.
        self._scripts = {
            name: (hashlib.sha1(source.encode()).hexdigest(), source)  # noqa: S324 (Redis's own)
            for name, source in SCRIPTS.items()
        }
        self.areas = RedisAreaStore(self)
        self.reservations = RedisReservationStore(self)
        self.flags = RedisFlagStore(self)

    @property
    def client(self) -> aioredis.Redis:
        """A redis-py client of the same server and db, for tools and tests (the store's own
        calls do not use it); it connects on first use."""
        if self._commands is None:
            raise StoreUnavailable("the Redis store is not open")
        if self._client is None:
            self._client = aioredis.Redis.from_url(_driver_url(self.url.raw))
        return self._client

    async def open(self) -> None:
        commands = _Client(self._options, self.timeout, self.pool_max, self.url.redacted())
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            await self._expect_ok(commands, ("PING",), deadline)
            # Load every script now rather than at its first call (after a restart of Redis,
            # whose script cache is not persisted, `run` loads them again).
            await asyncio.gather(
                *(
                    self._expect_ok(commands, ("SCRIPT", "LOAD", source), deadline)
                    for _, source in self._scripts.values()
                )
            )
        except BaseException:
            await commands.close()
            raise
        self._commands = commands

    async def close(self) -> None:
        commands, self._commands = self._commands, None
        client, self._client = self._client, None
        if commands is not None:
            await commands.close()
        if client is not None:
            await client.aclose()

    async def ping(self) -> None:
        await self.command("PING")

    async def sweep(self) -> int:
        return 0  # Redis deletes expired keys itself

    def _deadline(self) -> tuple[_Client, float]:
        commands = self._commands
        if commands is None:
            raise StoreUnavailable("the Redis store is not open")
        return commands, asyncio.get_running_loop().time() + self.timeout

    async def _expect_ok(self, commands: _Client, command: tuple[Any, ...], deadline: float) -> Any:
        reply = await commands.execute(command, deadline)
        if isinstance(reply, hiredis.ReplyError):
            raise StoreUnavailable(
                f"the Redis store at {self.url.redacted()} refused {command[0]}: {reply}"
            )
        return reply

    async def command(self, *command: Any) -> Any:
        """One plain command, `timeout` at most; an error reply raises StoreUnavailable."""
        commands, deadline = self._deadline()
        return await self._expect_ok(commands, command, deadline)

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the Lua scripts, atomically on the server, `timeout` at most as a whole.
        By hash; when Redis lost the script (a restart, SCRIPT FLUSH), it is loaded again and
        run: NOSCRIPT means that it did not run."""
        commands, deadline = self._deadline()
        sha, source = self._scripts[name]
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        reply = await commands.execute(command, deadline)
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            await self._expect_ok(commands, ("SCRIPT", "LOAD", source), deadline)
            reply = await commands.execute(command, deadline)
        if isinstance(reply, hiredis.ReplyError):
            raise StoreUnavailable(
                f"the Redis store at {self.url.redacted()} failed to run {name}: {reply}"
            )
        return reply


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
        if reply[0] == TOO_MANY_KEYS:
            raise too_many_keys(kind, area_id, int(reply[1]))

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
        limit = self.store.max_area_keys
        args = [*head, len(strings) // 2, "" if limit is None else limit, *strings, *binaries]
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
        raw = await self.store.command("GET", f"{self.store.prefix}:flag:{name}")
        return None if raw is None else bytes(raw).decode()

    async def set(self, name: str, value: str) -> None:
        await self.store.command("SET", f"{self.store.prefix}:flag:{name}", value)
