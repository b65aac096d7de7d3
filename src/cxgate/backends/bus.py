"""The notification bus: what one node publishes, every other node of the cluster receives.

CometD clients may be connected to any node, so a message published on one node (a service state
change, a client's publish) travels over the bus to the others, which hand it to their own
subscribers. Chosen by URL like the store: `memory://` (one process), `redis://host:port/db`
(pub/sub) or `postgresql://...` (LISTEN/NOTIFY).

Rules every bus keeps (the contract tests in `tests/contract/test_bus.py` check them):
- A message reaches every *other* open bus on the same URL; a node never receives its own (each
  process tags what it sends with its `node_id`).
- Delivery is at most once and best effort: what is published while the bus is unreachable is
  lost for the other nodes (`publish` raises `BusUnavailable`), never queued for later.
- An outage is reported (`healthy` is False, `ping` raises) and healed by reconnecting with
  backoff, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import orjson
import structlog

from cxgate.backends.url import BackendURL, load_class
from cxgate.errors import BusUnavailable, ConfigError

log = structlog.get_logger("cxgate.bus")

# scheme -> ("module:Class", the pip extra that brings its driver), imported lazily.
BUSES: dict[str, tuple[str, str | None]] = {
    "memory": ("cxgate.backends.bus_memory:MemoryBus", None),
    "redis": ("cxgate.backends.bus_redis:RedisBus", "redis"),
    "postgresql": ("cxgate.backends.bus_postgres:PostgresBus", "postgres"),
    "postgres": ("cxgate.backends.bus_postgres:PostgresBus", "postgres"),
}

# Messages waiting for the consumer. A consumer this far behind is stuck; dropping the oldest
# keeps memory bounded and the newest state changes (the ones that matter) flowing.
INBOX_SIZE = 10_000
# Reconnect delays double from the first to the last: a healed outage costs at most
# BACKOFF_MAX of extra delay, and an attempt every 2 s costs the far side nothing.
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0
# How long `open` waits for the first connection before letting startup go on without it.
DEFAULT_TIMEOUT = 2.0


class BusMessage(NamedTuple):
    channel: str
    data: Any
    node: str  # the node_id of the sender


class Bus(Protocol):
    """Publish to the other nodes; receive what they publish."""

    node_id: str

    @property
    def healthy(self) -> bool:
        """True while the bus is connected and receiving."""
        ...

    async def open(self) -> None:
        """Start receiving. Never fails for an unreachable bus: it reconnects in the background
        and reports the outage through `healthy` and `ping`."""
        ...

    async def close(self) -> None:
        """Stop receiving; `subscribe` iterators end."""
        ...

    async def publish(self, channel: str, data: Any) -> None:
        """Send `data` (JSON-serialisable) to the other nodes; `BusUnavailable` when it cannot."""
        ...

    def subscribe(self) -> AsyncIterator[BusMessage]:
        """The messages other nodes publish, in order, until `close`. One consumer per bus."""
        ...

    async def ping(self) -> None:
        """Return when the bus answers and is receiving; raise `BusUnavailable` otherwise."""
        ...


def parse_bus_url(raw: str) -> BackendURL:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in BUSES:
        known = ", ".join(sorted({s + "://" for s in BUSES}))
        raise ConfigError(f"unknown bus URL scheme in {raw!r}; use one of {known}")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme == "memory":
        # memory://name: buses of one process with the same name form one cluster.
        return BackendURL(raw, scheme, None, None, parts.netloc + parts.path, options)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bus URL {raw!r} has an invalid port") from exc
    return BackendURL(raw, scheme, parts.hostname, port, parts.path.lstrip("/"), options)


def open_bus(raw: str) -> Bus:
    """The Bus for a URL (not yet opened)."""
    url = parse_bus_url(raw)
    bus: Bus = load_class(BUSES, url)(url)
    return bus


def driver_url(raw: str, own: frozenset[str]) -> str:
    """The URL without the query options cxgate reads itself (drivers reject unknown ones)."""
    parts = urlsplit(raw)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in own]
    return parts._replace(query=urlencode(query)).geturl()


def float_option(url: BackendURL, name: str, default: float) -> float:
    raw = url.options.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"bus URL option {name}={raw!r} is not a number") from exc
    if value <= 0:
        raise ConfigError(f"bus URL option {name}={raw!r} must be positive")
    return value


class InboxBus:
    """What every bus shares: the node id, the envelope format and the inbox of received
    messages that `subscribe` drains."""

    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex
        self._inbox: asyncio.Queue[BusMessage | None] = asyncio.Queue(INBOX_SIZE)
        self._dropped = 0

    def encode(self, channel: str, data: Any) -> bytes:
        try:
            return orjson.dumps({"node": self.node_id, "channel": channel, "data": data})
        except TypeError as exc:
            raise ValueError(f"bus messages must be JSON: {exc}") from exc

    def accept(self, payload: bytes | str) -> None:
        """Queue one received envelope, unless it is ours or not an envelope at all."""
        try:
            envelope = orjson.loads(payload)
            node, channel, data = envelope["node"], envelope["channel"], envelope["data"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            # Another program on the same channel, or a future format: not ours to act on.
            log.warning("ignored a bus message that is not a cxgate envelope")
            return
        if node == self.node_id or not isinstance(channel, str):
            return
        if self._inbox.full():
            self._inbox.get_nowait()
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.warning(
                    "bus consumer is behind; dropped the oldest messages", total=self._dropped
                )
        self._inbox.put_nowait(BusMessage(channel, data, str(node)))

    def end(self) -> None:
        """Wake the consumer so that its `subscribe` loop ends."""
        if self._inbox.full():
            self._inbox.get_nowait()
        self._inbox.put_nowait(None)

    async def subscribe(self) -> AsyncIterator[BusMessage]:
        while (message := await self._inbox.get()) is not None:
            yield message


class ReconnectingBus(InboxBus, ABC):
    """A bus with a network connection: a background task listens, and reconnects with backoff
    whenever the connection is lost. Subclasses implement `listen`."""

    def __init__(self, *, name: str, timeout: float) -> None:
        super().__init__()
        self.name = name
        self.timeout = timeout
        self._healthy = False
        self._settled = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._delay = BACKOFF_MIN

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def open(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name=f"bus-{self.name}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self.timeout)
        if not self._healthy:
            log.error("bus not reachable at startup; reconnecting in the background", bus=self.name)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._healthy = False
        self.end()

    @abstractmethod
    async def listen(self) -> None:
        """Connect, subscribe, call `connected()`, then feed `accept` until the connection is
        lost (raise or return). Runs again after a backoff."""

    def connected(self) -> None:
        if not self._healthy:
            log.info("bus connected", bus=self.name)
        self._healthy = True
        self._delay = BACKOFF_MIN
        self._settled.set()

    def unavailable(self, what: str, exc: BaseException | None = None) -> BusUnavailable:
        detail = f": {exc}" if exc is not None else ""
        return BusUnavailable(f"the {self.name} bus {what}{detail}")

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self.listen()
                problem = "connection closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Whatever the driver raised, the cure is the same: drop the connection and
                # connect again; the reason is only worth a log line.
                problem = f"{type(exc).__name__}: {exc}"
            if self._healthy:
                log.warning("bus connection lost; reconnecting", bus=self.name, detail=problem)
            self._healthy = False
            self._settled.set()
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, BACKOFF_MAX)
