"""SIP URIs, the OPTIONS request cxgate sends and how it recognises an answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxgate.config import parse_config
from cxgate.errors import ConfigError
from cxgate.status.sip import SipTarget, is_response_to, options_request, parse_sip_uri


@pytest.mark.parametrize(
    ("raw", "host", "port"),
    [
        ("sip:10.0.0.5:5070", "10.0.0.5", 5070),
        ("sip:sip.example.com", "sip.example.com", 5060),
        ("SIP:tserver@sip.example.com:5080;transport=udp", "sip.example.com", 5080),
        ("sip:[::1]:5062", "::1", 5062),
        ("sip:[2001:db8::1]", "2001:db8::1", 5060),
        ("sip:host:5060?subject=x", "host", 5060),
    ],
)
def test_parse_sip_uri(raw: str, host: str, port: int) -> None:
    assert parse_sip_uri(raw) == SipTarget(host, port)


@pytest.mark.parametrize(
    "raw",
    [
        "http://host:5060",
        "sips:host:5061",
        "sip:",
        "sip:host:port",
        "sip:host:0",
        "sip:host:70000",
        "sip:host:5060;transport=tcp",
        "host:5060",
    ],
)
def test_parse_sip_uri_refuses(raw: str) -> None:
    with pytest.raises(ValueError, match=r"sip|port|udp"):
        parse_sip_uri(raw)


@given(st.integers(1, 65535))
def test_every_valid_port_round_trips(port: int) -> None:
    target = parse_sip_uri(f"sip:127.0.0.1:{port}")
    assert parse_sip_uri(target.request_uri) == target


def test_configuration_validates_voice_uris() -> None:
    config = parse_config('[voice.SIPS1]\nuri = "sip:10.0.0.1:5060"\n', source="t")
    assert config.voice["SIPS1"].uri == "sip:10.0.0.1:5060"
    with pytest.raises(ConfigError, match=r"voice\.SIPS1\.backup_uri"):
        parse_config('[voice.SIPS1]\nuri = "sip:a"\nbackup_uri = "tel:+1"\n', source="t")


def test_options_request_is_a_well_formed_sip_request() -> None:
    request = options_request(
        SipTarget("10.0.0.5", 5070),
        local=("10.0.0.9", 40000),
        call_id="abc@cxgate",
        branch="1234",
        tag="t1",
    ).decode()
    head, _, body = request.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "OPTIONS sip:10.0.0.5:5070 SIP/2.0"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Via"] == "SIP/2.0/UDP 10.0.0.9:40000;branch=z9hG4bK1234;rport"
    assert headers["CSeq"] == "1 OPTIONS"
    assert headers["Call-ID"] == "abc@cxgate"
    assert headers["Max-Forwards"] == "70"
    assert headers["To"] == "<sip:10.0.0.5:5070>"
    assert headers["From"].endswith(";tag=t1")
    assert headers["Content-Length"] == "0"
    assert body == ""


@pytest.mark.parametrize(
    ("datagram", "answers"),
    [
        (b"SIP/2.0 200 OK\r\nCall-ID: abc@cxgate\r\nCSeq: 1 OPTIONS\r\n\r\n", True),
        (b"SIP/2.0 404 Not Found\r\ni: abc@cxgate\r\n\r\n", True),
        (b"SIP/2.0 200 OK\r\nCall-ID: other@cxgate\r\n\r\n", False),
        (b"OPTIONS sip:x SIP/2.0\r\nCall-ID: abc@cxgate\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nCall-ID: abc@cxgate\r\n\r\n", False),
        (b"\x00\xff garbage", False),
    ],
)
def test_is_response_to(datagram: bytes, answers: bool) -> None:
    assert is_response_to(datagram, "abc@cxgate") is answers
