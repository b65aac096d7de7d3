"""A small async load generator that remembers every write the server acknowledged.

Each worker owns one area and adds a new key to it on every request: even workers use the Storage
API (`POST /genesys/1/storage/custom/{id}/{ttl}` with a `gms_user` header), odd workers the storage
of a GMS service they created (`POST /genesys/1/service/{id}/storage`). A write counts as
acknowledged only when its answer was 2xx; `verify` then checks that every acknowledged key is
there with its value. Every request's outcome is kept with its timing, so that a test can tell how
requests failed while a backend was down and how long each took.

The loop is bounded in time and in requests, and it only ever talks to the base URL it is given.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

STORAGE_TTL = 3600
USER = "loadgen"


@dataclass(frozen=True, slots=True)
class Outcome:
    started: float  # time.monotonic() when the request left
    elapsed: float  # seconds until the answer (or the transport error)
    status: int | None  # None: no HTTP answer at all (connection refused, reset, timeout)
    detail: str  # the error body's message, or the transport error's class

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Area:
    kind: str  # "storage" (Storage API) or "service" (a service's storage)
    area_id: str

    def read_path(self) -> str:
        if self.kind == "storage":
            return f"/genesys/1/storage/{self.area_id}"
        return f"/genesys/1/service/{self.area_id}/storage"


@dataclass
class Verification:
    checked: int  # acknowledged keys looked up
    missing: list[str]  # "area key" for each acknowledged key absent or with another value

    @property
    def ok(self) -> bool:
        return not self.missing


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("statusMessage") or body)[:200]
    return str(body)[:200]


@dataclass
class LoadGenerator:
    """`workers` concurrent writers against one cxgate (or several: `base_urls`, round-robin)."""

    base_urls: list[str]
    workers: int = 8
    service: str = "store"  # a configured `session` service, for the odd workers
    request_timeout: float = 10.0
    pause_after_error: float = 0.05  # a dead server refuses at once: do not spin
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    acked: dict[Area, dict[str, str]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def acked_keys(self) -> int:
        return sum(len(keys) for keys in self.acked.values())

    def statuses(self) -> Counter[int | None]:
        return Counter(o.status for o in self.outcomes)

    async def run(
        self, *, duration: float, stop: asyncio.Event | None = None, max_requests: int = 200_000
    ) -> None:
        """Write until `duration` seconds pass, `stop` is set or `max_requests` were sent."""
        deadline = time.monotonic() + duration
        budget = [max_requests]
        limits = httpx.Limits(max_connections=self.workers, max_keepalive_connections=self.workers)
        async with httpx.AsyncClient(timeout=self.request_timeout, limits=limits) as client:
            await asyncio.gather(
                *(
                    self._worker(client, index, deadline, stop or asyncio.Event(), budget)
                    for index in range(self.workers)
                )
            )

    async def _send(
        self, client: httpx.AsyncClient, url: str, data: dict[str, str], headers: dict[str, str]
    ) -> tuple[Outcome, httpx.Response | None]:
        started = time.monotonic()
        try:
            response = await client.post(url, data=data, headers=headers)
        except httpx.HTTPError as exc:
            outcome = Outcome(started, time.monotonic() - started, None, type(exc).__name__)
            self.outcomes.append(outcome)
            return outcome, None
        detail = "" if response.is_success else _message(response)
        outcome = Outcome(started, time.monotonic() - started, response.status_code, detail)
        self.outcomes.append(outcome)
        return outcome, response

    async def _worker(
        self,
        client: httpx.AsyncClient,
        index: int,
        deadline: float,
        stop: asyncio.Event,
        budget: list[int],
    ) -> None:
        base = self.base_urls[index % len(self.base_urls)]
        area: Area | None = None
        if index % 2 == 0:
            area = Area("storage", f"lg-{self.run_id}-{index}")
        seq = 0
        while time.monotonic() < deadline and not stop.is_set() and budget[0] > 0:
            budget[0] -= 1
            key, value = f"k{seq}", f"{self.run_id}-{index}-{seq}"
            if area is None:
                # The service's creation is itself a write: its first key travels with it.
                outcome, response = await self._send(
                    client, f"{base}/genesys/1/service/{self.service}", {key: value}, {}
                )
                if response is not None and outcome.ok:
                    area = Area("service", str(response.json()["_id"]))
                    self.acked[area] = {key: value}
            elif area.kind == "storage":
                url = f"{base}/genesys/1/storage/custom/{area.area_id}/{STORAGE_TTL}"
                outcome, _ = await self._send(client, url, {key: value}, {"gms_user": USER})
                if outcome.ok:
                    self.acked.setdefault(area, {})[key] = value
            else:
                url = f"{base}/genesys/1/service/{area.area_id}/storage"
                outcome, _ = await self._send(client, url, {key: value}, {})
                if outcome.ok:
                    self.acked.setdefault(area, {})[key] = value
            seq += 1
            if not outcome.ok:
                await asyncio.sleep(self.pause_after_error)

    async def verify(self, base_url: str) -> Verification:
        """Read every area back and compare with what was acknowledged."""
        missing: list[str] = []
        checked = 0
        async with httpx.AsyncClient(timeout=self.request_timeout) as client:
            for area, keys in self.acked.items():
                response = await client.get(base_url + area.read_path(), headers={"gms_user": USER})
                stored = response.json() if response.status_code == 200 else {}
                for key, value in keys.items():
                    checked += 1
                    if stored.get(key) != value:
                        missing.append(f"{area.kind}/{area.area_id} {key}")
        return Verification(checked, missing)
