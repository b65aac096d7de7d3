"""The Redis bus: pub/sub on one channel (`redis://host:port/db?channel=cxgate:notifications`).

Pub/sub channels are global to a Redis server (the db index does not separate them), so two
clusters sharing a Redis need distinct `channel` options. Options: `channel`, and `timeout`
(seconds for connecting and for each command, default 2).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cxgate.backends.bus import DEFAULT_TIMEOUT, ReconnectingBus, driver_url, float_option
from cxgate.backends.url import BackendURL
from cxgate.errors import ConfigError

_DRIVER_ERRORS = (RedisError, OSError, TimeoutError)
_OWN_OPTIONS = frozenset({"channel", "timeout"})
# A connection silent this long gets a PING; silent twice as long, it is dead. TCP alone would
# notice a vanished server (no FIN, no RST: a partition, a frozen VM) only after minutes.
KEEPALIVE = 5.0


class RedisBus(ReconnectingBus):
    def __init__(self, url: BackendURL) -> None:
        super().__init__(name="Redis", timeout=float_option(url, "timeout", DEFAULT_TIMEOUT))
        if url.path and not url.path.isdigit():
            raise ConfigError(f"bus URL {url.redacted()}: the path must be a db index like /0")
        self.channel = url.options.get("channel") or "cxgate:notifications"
        self.where = url.redacted()
        self._client = aioredis.Redis.from_url(
            driver_url(url.raw, _OWN_OPTIONS),
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # No silent retries: a failed publish is reported, the listener reconnects itself.
            retry=Retry(NoBackoff(), 0),
        )

    async def close(self) -> None:
        await super().close()
        await self._client.aclose()

    async def publish(self, channel: str, data: Any) -> None:
        payload = self.encode(channel, data)
        try:
            await self._client.publish(self.channel, payload)
        except _DRIVER_ERRORS as exc:
            await self._drop_connections()
            raise self.unavailable(f"at {self.where} refused a publish", exc) from exc

    async def ping(self) -> None:
        if not self.healthy:
            raise self.unavailable(f"at {self.where} is not subscribed")
        try:
            await self._client.ping()
        except _DRIVER_ERRORS as exc:
            await self._drop_connections()
            raise self.unavailable(f"at {self.where} does not answer", exc) from exc

    async def _drop_connections(self) -> None:
        # After an outage the pooled connections are dead sockets that redis-py would only find
        # out about by failing the next command on each; dropping them makes the next command
        # connect afresh, so a healed bus works at once.
        await self._client.connection_pool.disconnect()

    async def listen(self) -> None:
        try:
            await self._listen()
        finally:
            await self._drop_connections()

    async def _listen(self) -> None:
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            # Healthy only once Redis confirms: before that, messages published would be missed.
            confirmed = await pubsub.get_message(timeout=self.timeout)
            if confirmed is None or confirmed["type"] != "subscribe":
                raise ConnectionError("Redis did not confirm the subscription")
            self.connected()
            pinged = False
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=KEEPALIVE
                )
                if message is None:
                    if pinged:
                        raise ConnectionError(f"no answer to PING within {KEEPALIVE} s")
                    await pubsub.ping()
                    pinged = True
                    continue
                pinged = False
                if message["type"] == "message":
                    self.accept(message["data"])
