"""`/api/v2/services`: the GWS resource, its errors, and Voice probed over real UDP SIP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cxgate.status.registry import ServiceType, service_id
from tests.api.conftest import BayeuxClient, Node, open_node

SERVICES = "/api/v2/services"
ECHOED = (b"via", b"from", b"to", b"call-id", b"cseq")  # what a SIP response copies (RFC 3261)


class SipResponder(asyncio.DatagramProtocol):
    """A SIP peer on loopback that answers OPTIONS with 200 OK, as a SIP server does."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.requests.append(data)
        head = data.partition(b"\r\n\r\n")[0].split(b"\r\n")
        if not head[0].startswith(b"OPTIONS ") or self.transport is None:
            return
        echoed = [
            line
            for line in head[1:]
            if line.partition(b":")[0].strip().lower()
            in (b"via", b"from", b"to", b"call-id", b"cseq")
        ]
        response = b"\r\n".join([b"SIP/2.0 200 OK", *echoed, b"Content-Length: 0"]) + b"\r\n\r\n"
        self.transport.sendto(response, addr)


@pytest.fixture
async def sip_peer() -> AsyncIterator[tuple[SipResponder, int]]:
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(
        SipResponder, local_addr=("127.0.0.1", 0)
    )
    try:
        yield responder, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port that is bound (so no ICMP refusal) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def voice_config(peer: int, silent: int) -> str:
    return f"""
[status]
interval = 3600
timeout = 0.5

[cometd]
timeout_ms = 2000

[voice.SIPS1]
uri = "sip:127.0.0.1:{peer}"

[voice.SIPS2]
uri = "sip:127.0.0.1:{silent}"

[voice.SIPS3]
uri = "sip:127.0.0.1:{silent}"
backup_uri = "sip:tserver@127.0.0.1:{peer}"
"""


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with open_node(f"sqlite:///{tmp_path}/cxgate.db") as opened:
        yield opened


async def test_list_gives_uris_of_each_service(node: Node) -> None:
    response = await node.client.get(SERVICES)
    assert response.status_code == 200
    body = response.json()
    assert body["statusCode"] == 0
    ids = [service_id(ServiceType(t), t) for t in ("Provisioning", "Reporting", "Media")]
    assert body["uris"] == [f"http://cxgate/api/v2/services/{id_}" for id_ in ids]


async def test_fields_star_gives_whole_resources(node: Node) -> None:
    body = (await node.client.get(SERVICES, params={"fields": "*"})).json()
    assert body["statusCode"] == 0
    assert body["services"] == [
        {
            "id": service_id(ServiceType.PROVISIONING, "Provisioning"),
            "name": "Provisioning",
            "type": "Provisioning",
            "state": "Active",
        },
        {
            "id": service_id(ServiceType.REPORTING, "Reporting"),
            "name": "Reporting",
            "type": "Reporting",
            "state": "Active",
        },
        {
            "id": service_id(ServiceType.MEDIA, "Media"),
            "name": "Media",
            "type": "Media",
            "state": "Active",
        },
    ]


async def test_fields_list_selects_attributes(node: Node) -> None:
    body = (await node.client.get(SERVICES, params={"fields": "type,state"})).json()
    assert body["services"][0] == {"type": "Provisioning", "state": "Active"}


async def test_one_service_is_an_object(node: Node) -> None:
    id_ = service_id(ServiceType.PROVISIONING, "Provisioning")
    response = await node.client.get(f"{SERVICES}/{id_}")
    assert response.status_code == 200
    assert response.json() == {
        "statusCode": 0,
        "service": {"id": id_, "name": "Provisioning", "type": "Provisioning", "state": "Active"},
    }
    narrowed = await node.client.get(f"{SERVICES}/{id_}", params={"fields": "state"})
    assert narrowed.json() == {"statusCode": 0, "service": {"state": "Active"}}


async def test_unknown_id_is_gws_not_found(node: Node) -> None:
    response = await node.client.get(f"{SERVICES}/no-such-service")
    assert response.status_code == 404
    body = response.json()
    assert body["statusCode"] == 6
    assert "no-such-service" in body["statusMessage"]


@pytest.mark.parametrize("fields", ["colour", "name,colour", ""])
async def test_unknown_fields_are_gws_invalid_parameter(node: Node, fields: str) -> None:
    response = await node.client.get(SERVICES, params={"fields": fields})
    assert response.status_code == 400
    assert response.json()["statusCode"] == 2
    assert "field" in response.json()["statusMessage"]


async def test_writes_to_the_resource_are_gws_errors(node: Node) -> None:
    response = await node.client.post(SERVICES, json={})
    assert response.status_code == 405
    assert set(response.json()) == {"statusCode", "statusMessage"}


async def test_ids_are_the_same_on_every_node(tmp_path: Path) -> None:
    async with (
        open_node(f"sqlite:///{tmp_path}/a.db") as a,
        open_node(f"sqlite:///{tmp_path}/b.db") as b,
    ):
        assert (await a.client.get(SERVICES)).json()["uris"] == (
            await b.client.get(SERVICES)
        ).json()["uris"]


async def test_voice_is_probed_with_sip_options_over_udp(
    tmp_path: Path, sip_peer: tuple[SipResponder, int], silent_port: int
) -> None:
    responder, port = sip_peer
    config = voice_config(port, silent_port)
    async with open_node(f"sqlite:///{tmp_path}/cxgate.db", config_text=config) as node:
        body = (await node.client.get(SERVICES, params={"fields": "*"})).json()
        voice = {s["name"]: s for s in body["services"] if s["type"] == "Voice"}
        assert voice["SIPS1"]["state"] == "Active"
        assert voice["SIPS1"]["uri"] == f"sip:127.0.0.1:{port}"
        assert voice["SIPS2"]["state"] == "Inactive"
        # The backup answers: Active, under the primary's name and with the primary's uri.
        assert voice["SIPS3"] == {
            "id": service_id(ServiceType.VOICE, "SIPS3"),
            "name": "SIPS3",
            "type": "Voice",
            "state": "Active",
            "uri": f"sip:127.0.0.1:{silent_port}",
        }
        request_line = responder.requests[0].split(b"\r\n", 1)[0]
        assert request_line == f"OPTIONS sip:127.0.0.1:{port} SIP/2.0".encode()


async def test_a_voice_peer_that_stops_goes_inactive_with_a_notification(
    tmp_path: Path, silent_port: int
) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(SipResponder, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    config = voice_config(port, silent_port)
    try:
        async with open_node(f"sqlite:///{tmp_path}/cxgate.db", config_text=config) as node:
            client = BayeuxClient(node.client)
            await client.join("/notifications/services")
            assert node.state("SIPS1") == "Active"
            transport.close()  # the SIP peer stops
            await node.monitor.refresh()
            assert node.state("SIPS1") == "Inactive"
            changes = await client.receive("/notifications/services")
            changed = {c["service"]["name"]: c for c in changes}
            assert set(changed) == {"SIPS1", "SIPS3"}
            assert changed["SIPS1"] == {
                "messageType": "ServiceStateChangeMessage",
                "service": {
                    "id": service_id(ServiceType.VOICE, "SIPS1"),
                    "name": "SIPS1",
                    "type": "Voice",
                    "state": "Inactive",
                    "uri": f"sip:127.0.0.1:{port}",
                },
            }
    finally:
        transport.close()
