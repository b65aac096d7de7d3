"""The monitor: probes bounded by a timeout, one announcement per change, cluster adoption."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from cxgate.status.monitor import SERVICES_CHANNEL, Check, Monitor, state_change_message
from cxgate.status.registry import ServiceState, ServiceStatus, ServiceType

ACTIVE, INACTIVE, READ_ONLY = ServiceState.ACTIVE, ServiceState.INACTIVE, ServiceState.READ_ONLY


class Switch:
    """A probe whose answer the test sets."""

    def __init__(self, state: ServiceState = ACTIVE) -> None:
        self.state = state
        self.calls = 0

    async def __call__(self) -> ServiceState:
        self.calls += 1
        return self.state


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []

    async def __call__(self, channel: str, data: Any) -> None:
        self.messages.append((channel, data))

    def states(self) -> list[tuple[str, str]]:
        return [(d["service"]["name"], d["service"]["state"]) for _, d in self.messages]


PROVISIONING = ServiceStatus.new(ServiceType.PROVISIONING, "Provisioning")
VOICE = ServiceStatus.new(ServiceType.VOICE, "SIPS1", uri="sip:127.0.0.1:5060")


def remote(service: ServiceStatus, state: ServiceState) -> dict[str, Any]:
    """What another node announces."""
    return state_change_message(replace(service, state=state))


def monitor(
    probes: dict[ServiceStatus, Any], published: Published, *, timeout: float = 0.2
) -> Monitor:
    checks = [Check(service, probe) for service, probe in probes.items()]
    return Monitor(checks=checks, interval=3600, timeout=timeout, publish=published)


async def test_first_probe_learns_silently_then_changes_are_announced_once() -> None:
    published = Published()
    voice = Switch(ACTIVE)
    m = monitor({PROVISIONING: Switch(), VOICE: voice}, published)
    await m.start()
    try:
        assert m.registry.get(VOICE.id).state is ACTIVE
        assert published.messages == []
        voice.state = INACTIVE
        await m.refresh()
        await m.refresh()
        assert published.states() == [("SIPS1", "Inactive")]
        channel, data = published.messages[0]
        assert channel == SERVICES_CHANNEL
        assert data == {
            "messageType": "ServiceStateChangeMessage",
            "service": {
                "id": VOICE.id,
                "name": "SIPS1",
                "type": "Voice",
                "state": "Inactive",
                "uri": "sip:127.0.0.1:5060",
            },
        }
    finally:
        await m.stop()


async def test_a_hanging_probe_is_inactive_after_the_timeout_and_stalls_nothing() -> None:
    never = asyncio.Event()

    async def hangs() -> ServiceState:
        await never.wait()
        return ACTIVE

    published = Published()
    m = monitor({PROVISIONING: Switch(), VOICE: hangs}, published, timeout=0.2)
    started = time.monotonic()
    await m.refresh()
    assert time.monotonic() - started < 1.0
    assert m.registry.get(VOICE.id).state is INACTIVE
    assert m.registry.get(PROVISIONING.id).state is ACTIVE


async def test_a_failing_probe_counts_as_inactive() -> None:
    async def broken() -> ServiceState:
        raise RuntimeError("a bug in a probe")

    m = monitor({VOICE: broken}, Published())
    await m.refresh()
    assert m.registry.get(VOICE.id).state is INACTIVE


async def test_the_timer_probes_by_itself() -> None:
    published = Published()
    voice = Switch(ACTIVE)
    m = Monitor(checks=[Check(VOICE, voice)], interval=0.02, timeout=0.2, publish=published)
    await m.start()
    try:
        voice.state = INACTIVE
        async with asyncio.timeout(2):
            while not published.messages:
                await asyncio.sleep(0.01)
        assert published.states() == [("SIPS1", "Inactive")]
    finally:
        await m.stop()


async def test_provisioning_state_drives_the_guard_view() -> None:
    store = Switch(ACTIVE)
    m = monitor({PROVISIONING: store}, Published())
    assert m.provisioning is INACTIVE  # nothing known before the first probe: refuse
    await m.refresh()
    assert m.provisioning is ACTIVE
    store.state = READ_ONLY
    await m.refresh()
    assert m.provisioning is READ_ONLY


async def test_a_change_adopted_from_another_node_is_not_announced_again() -> None:
    published = Published()
    store = Switch(ACTIVE)
    m = monitor({PROVISIONING: store, VOICE: Switch(ACTIVE)}, published)
    await m.refresh()
    m.adopt(remote(PROVISIONING, READ_ONLY))
    # Maintenance from another node takes effect here at once...
    assert m.provisioning is READ_ONLY
    assert m.registry.get(PROVISIONING.id).state is READ_ONLY
    # ...and this node's own probe confirming it announces nothing more.
    store.state = READ_ONLY
    await m.refresh()
    assert published.messages == []


async def test_reachability_stays_this_nodes_own_observation() -> None:
    store = Switch(INACTIVE)
    m = monitor({PROVISIONING: store}, Published())
    await m.refresh()
    m.adopt(remote(PROVISIONING, READ_ONLY))
    assert m.provisioning is INACTIVE  # another node reaching the store does not help this one
    store.state = ACTIVE
    await m.refresh()
    m.adopt(remote(PROVISIONING, INACTIVE))
    assert m.provisioning is ACTIVE


async def test_malformed_or_foreign_remote_messages_are_ignored() -> None:
    m = monitor({VOICE: Switch(ACTIVE)}, Published())
    await m.refresh()
    for junk in (None, "x", {}, {"messageType": "Other", "service": {}}, {"service": 3}):
        m.adopt(junk)
    m.adopt(
        {"messageType": "ServiceStateChangeMessage", "service": {"id": "x", "state": "Inactive"}}
    )
    m.adopt(
        {"messageType": "ServiceStateChangeMessage", "service": {"id": VOICE.id, "state": "Gone"}}
    )
    assert m.registry.get(VOICE.id).state is ACTIVE
