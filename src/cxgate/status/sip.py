"""SIP OPTIONS over UDP: the standard "are you there?" of SIP (RFC 3261 section 11), which every
SIP server answers without side effects. Any response counts, even a 4xx: a server that says no
is a server that is up.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from cxgate import __version__

# RFC 3261 timer E: a non-INVITE request over UDP is resent after T1, then at doubling intervals
# capped at T2, because UDP may drop a datagram without telling anyone.
T1 = 0.5
T2 = 4.0
DEFAULT_PORT = 5060


@dataclass(frozen=True, slots=True)
class SipTarget:
    host: str
    port: int

    @property
    def request_uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"sip:{host}:{self.port}"


def parse_sip_uri(raw: str) -> SipTarget:
    """`sip:host[:port]` (a user part and URI parameters are allowed); ValueError otherwise."""
    example = "a sip: URI such as sip:sip.example.com:5060"
    if not raw[:4].lower() == "sip:":
        raise ValueError(f"{raw!r} is not {example} (only sip: over UDP can be probed)")
    address, _, params = raw[4:].partition(";")
    address = address.partition("?")[0]
    hostport = address.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else after
    else:
        host, _, port_text = hostport.partition(":")
    if not host or (port_text and not port_text.isdigit()):
        raise ValueError(f"{raw!r} is not {example}")
    port = int(port_text) if port_text else DEFAULT_PORT
    if not 0 < port < 65536:
        raise ValueError(f"{raw!r}: the port must be between 1 and 65535")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "transport" and value.strip().lower() != "udp":
            raise ValueError(f"{raw!r}: only transport=udp can be probed")
    return SipTarget(host, port)


def options_request(
    target: SipTarget, *, local: tuple[str, int], call_id: str, branch: str, tag: str
) -> bytes:
    host, port = local
    via_host = f"[{host}]" if ":" in host else host
    lines = [
        f"OPTIONS {target.request_uri} SIP/2.0",
        # rport (RFC 3581): answer to the port we sent from, whatever NAT made of it.
        f"Via: SIP/2.0/UDP {via_host}:{port};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:cxgate@{via_host}>;tag={tag}",
        f"To: <{target.request_uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:cxgate@{via_host}:{port}>",
        "Accept: application/sdp",
        f"User-Agent: cxgate/{__version__}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def is_response_to(datagram: bytes, call_id: str) -> bool:
    """A SIP response (any status) carrying our Call-ID (`i` is its compact form)."""
    head = datagram.partition(b"\r\n\r\n")[0]
    status_line, *headers = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or parts[0] != b"SIP/2.0" or not (len(parts[1]) == 3 and parts[1].isdigit()):
        return False
    wanted = call_id.encode("utf-8")
    for line in headers:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i") and value.strip() == wanted:
            return True
    return False


class _OptionsClient(asyncio.DatagramProtocol):
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.answer.done() and is_response_to(data, self.call_id):
            self.answer.set_result(True)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: nothing listens there, no need to wait for the timeout.
        if not self.answer.done():
            self.answer.set_result(False)


async def options_ping(target: SipTarget) -> bool:
    """Send OPTIONS, resending as RFC 3261 says, until a SIP response comes back (True) or the
    target is known unreachable (False). On silence it keeps trying: the caller bounds it with
    a timeout, and silence until then means nobody answered."""
    loop = asyncio.get_running_loop()
    call_id = f"{uuid.uuid4().hex}@cxgate"
    try:
        transport, client = await loop.create_datagram_endpoint(
            lambda: _OptionsClient(call_id), remote_addr=(target.host, target.port)
        )
    except OSError:
        return False  # an unknown host or no route: nobody to ask
    try:
        sockname = transport.get_extra_info("sockname")
        request = options_request(
            target,
            local=(sockname[0], sockname[1]),
            call_id=call_id,
            branch=uuid.uuid4().hex[:16],
            tag=uuid.uuid4().hex[:10],
        )
        wait = T1
        while True:
            transport.sendto(request)
            done, _ = await asyncio.wait({client.answer}, timeout=wait)
            if done:
                return client.answer.result()
            wait = min(wait * 2, T2)
    finally:
        transport.close()
