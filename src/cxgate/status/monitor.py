"""The monitor: runs every probe on a timer and announces each change of state.

Two views of each service are kept:
- *observed*: what this node's own probes saw last. The request guard uses the Provisioning
  observation (a node that cannot reach the store must refuse calls, whatever the others see).
- *announced* (the registry): the last state any node of the cluster announced. The services
  resource shows it, and a node announces its own observation only when it differs from it:
  when maintenance is switched on one node, the others hear it on the bus, adopt it, and stay
  quiet when their own probes confirm it, so subscribers get one notification, not one per node.

A probe never stalls anything: each runs under `asyncio.wait_for(timeout)` and counts as
Inactive when it hangs or fails, and probes run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from cxgate.status.registry import Registry, ServiceState, ServiceStatus, ServiceType

log = structlog.get_logger("cxgate.status")

SERVICES_CHANNEL = "/notifications/services"
MESSAGE_TYPE = "ServiceStateChangeMessage"

Probe = Callable[[], Awaitable[ServiceState]]
Publish = Callable[[str, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Check:
    service: ServiceStatus
    probe: Probe


def state_change_message(service: ServiceStatus) -> dict[str, Any]:
    return {"messageType": MESSAGE_TYPE, "service": service.resource()}


class Monitor:
    def __init__(
        self, *, checks: list[Check], interval: float, timeout: float, publish: Publish
    ) -> None:
        self.registry = Registry(check.service for check in checks)
        self.interval = interval
        self.timeout = timeout
        self._probes = {check.service.id: check.probe for check in checks}
        self._publish = publish
        self._observed: dict[str, ServiceState] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._provisioning = next(
            (c.service.id for c in checks if c.service.type is ServiceType.PROVISIONING), None
        )

    @property
    def provisioning(self) -> ServiceState:
        """This node's own view of the store: what the request guard acts on."""
        if self._provisioning is None:
            return ServiceState.ACTIVE
        return self._observed.get(self._provisioning, ServiceState.INACTIVE)

    async def start(self) -> None:
        """Probe once (silently: nothing changed, we just learnt), then keep probing."""
        await self.refresh()
        if self._task is None:
            self._task = asyncio.create_task(self._probe_forever(), name="status-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self) -> None:
        """Run every probe now (concurrently) and announce what changed."""
        async with self._lock:
            ids = list(self._probes)
            states = await asyncio.gather(*(self._run(self._probes[id_]) for id_ in ids))
            for id_, state in zip(ids, states, strict=True):
                await self._observe(id_, state)

    async def set_provisioning(self, state: ServiceState) -> None:
        """Record a Provisioning state this node caused (maintenance switched here)."""
        if self._provisioning is not None:
            async with self._lock:
                await self._observe(self._provisioning, state)

    def adopt(self, message: Any) -> None:
        """Take in a state change another node announced (already delivered to subscribers)."""
        try:
            service = message["service"]
            id_, state = service["id"], ServiceState(service["state"])
            well_formed = message["messageType"] == MESSAGE_TYPE and isinstance(id_, str)
        except (KeyError, TypeError, ValueError):
            well_formed = False
        if not well_formed:
            log.warning("ignored a malformed service state change from another node")
            return
        if self.registry.find(id_) is None:
            return  # a service this node is not configured with
        self.registry.set_state(id_, state)
        # Maintenance is cluster-wide truth kept in the store: follow it at once rather than
        # at the next probe. Reachability (Inactive) stays this node's own observation.
        reachable = self._observed.get(id_) not in (None, ServiceState.INACTIVE)
        if id_ == self._provisioning and reachable and state is not ServiceState.INACTIVE:
            self._observed[id_] = state

    async def _run(self, probe: Probe) -> ServiceState:
        try:
            return await asyncio.wait_for(probe(), self.timeout)
        except TimeoutError:
            return ServiceState.INACTIVE
        except Exception:
            # A probe that fails this way has a bug; the service still must not look healthy.
            log.exception("status probe failed")
            return ServiceState.INACTIVE

    async def _observe(self, id_: str, state: ServiceState) -> None:
        previous = self._observed.get(id_)
        self._observed[id_] = state
        if previous is state:
            return
        changed = self.registry.set_state(id_, state)
        if changed is None:
            return
        log.info("service state", service=changed.name, type=changed.type.value, state=state.value)
        if previous is not None:  # the first probe after startup learns, it does not announce
            await self._publish(SERVICES_CHANNEL, state_change_message(changed))

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.refresh()
            except Exception:
                # Announcing failed (a bug: the bus reports its own failures); the next round
                # must still run, or every state would freeze.
                log.exception("status refresh failed")
