"""What each service type means in cxgate, and how it is probed. Each factory returns a `Probe`:
a coroutine function answering the service's state now. The monitor bounds each by its timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from cxgate.backends.base import Store
from cxgate.backends.bus import Bus
from cxgate.config import VoiceSection
from cxgate.errors import BusUnavailable, StoreUnavailable
from cxgate.status.maintenance import FLAG, is_read_only
from cxgate.status.monitor import Check, Probe
from cxgate.status.registry import ServiceState, ServiceStatus, ServiceType
from cxgate.status.sip import SipTarget, options_ping, parse_sip_uri


def deployment_checks(
    *,
    store: Store,
    bus: Bus,
    voice: Mapping[str, VoiceSection],
    observe_store_latency: Callable[[float], None],
    render_metrics: Callable[[], bytes],
) -> list[Check]:
    """The services of this deployment, in the order the resource lists them. The singletons
    are named after their type, as GWS names Provisioning."""
    checks = [
        Check(
            ServiceStatus.new(ServiceType.PROVISIONING, "Provisioning"),
            store_probe(store, observe_latency=observe_store_latency),
        )
    ]
    for name, section in sorted(voice.items()):
        backup = parse_sip_uri(section.backup_uri) if section.backup_uri else None
        checks.append(
            Check(
                ServiceStatus.new(ServiceType.VOICE, name, uri=section.uri),
                voice_probe(parse_sip_uri(section.uri), backup),
            )
        )
    checks.append(
        Check(
            ServiceStatus.new(ServiceType.REPORTING, "Reporting"), reporting_probe(render_metrics)
        )
    )
    checks.append(Check(ServiceStatus.new(ServiceType.MEDIA, "Media"), bus_probe(bus)))
    return checks


def store_probe(store: Store, *, observe_latency: Callable[[float], None]) -> Probe:
    """Provisioning: Inactive when the store does not answer, ReadOnly in maintenance mode."""

    async def probe() -> ServiceState:
        started = time.perf_counter()
        try:
            await store.ping()
            observe_latency(time.perf_counter() - started)
            flag = await store.flags.get(FLAG)
        except StoreUnavailable:
            return ServiceState.INACTIVE
        return ServiceState.READ_ONLY if is_read_only(flag) else ServiceState.ACTIVE

    return probe


def voice_probe(primary: SipTarget, backup: SipTarget | None) -> Probe:
    """Voice: Active when the primary or the backup answers SIP OPTIONS; when neither does, the
    monitor's timeout ends the probe as Inactive.

    Both are asked at once rather than one after the other: within one timeout, a silent
    primary would otherwise leave the backup no time at all.
    """
    targets = [primary] if backup is None else [primary, backup]

    async def probe() -> ServiceState:
        pings = [asyncio.ensure_future(options_ping(target)) for target in targets]
        try:
            for finished in asyncio.as_completed(pings):
                if await finished:
                    return ServiceState.ACTIVE
            return ServiceState.INACTIVE
        finally:
            for ping in pings:
                ping.cancel()
            await asyncio.gather(*pings, return_exceptions=True)

    return probe


def bus_probe(bus: Bus) -> Probe:
    """Media: the notification bus, Inactive while it is not connected and receiving."""

    async def probe() -> ServiceState:
        try:
            await bus.ping()
        except BusUnavailable:
            return ServiceState.INACTIVE
        return ServiceState.ACTIVE

    return probe


def reporting_probe(render: Callable[[], bytes]) -> Probe:
    """Reporting: the `/metrics` endpoint, Active when its exposition renders."""

    async def probe() -> ServiceState:
        render()
        return ServiceState.ACTIVE

    return probe
