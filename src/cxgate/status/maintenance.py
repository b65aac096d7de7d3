"""Maintenance mode: the whole cluster turns read-only together.

The switch is a flag in the store (every node of a cluster shares the store), so a node that
starts or restarts during maintenance finds it on its first probe. The node that switches it
acts at once and announces the change; the others hear the announcement on the bus and follow
it at once too (see `Monitor.adopt`), and their next probe of the store confirms it.
"""

from __future__ import annotations

from cxgate.backends.base import FlagStore
from cxgate.status.monitor import Monitor
from cxgate.status.registry import ServiceState

FLAG = "maintenance"


def is_read_only(flag: str | None) -> bool:
    return flag == "true"


class Maintenance:
    def __init__(self, *, flags: FlagStore, monitor: Monitor) -> None:
        self.flags = flags
        self.monitor = monitor

    async def get(self) -> bool:
        """The switch as the store has it (`StoreUnavailable` when the store does not answer)."""
        return is_read_only(await self.flags.get(FLAG))

    async def set(self, *, read_only: bool) -> None:
        """Store the switch, then act on it here and announce it to the cluster."""
        await self.flags.set(FLAG, "true" if read_only else "false")
        await self.monitor.set_provisioning(
            ServiceState.READ_ONLY if read_only else ServiceState.ACTIVE
        )
