"""`_type = "http"` services (SPEC section 3) against a real strategy endpoint.

The endpoint is a small Starlette app served by uvicorn on a free loopback port, in the test's
own event loop. Its path prefix picks its behaviour: `/ok` answers, `/fail` answers 500, `/slow`
answers after the configured strategy timeout, `/text` and `/array` answer what is not a JSON
object, `/empty` answers 200 with no body.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.api.conftest import Api, OpenApi

GMS = "com.genesyslab.gms.exceptions."
# What a client is told; the strategy URL and the failure's detail go to the log only.
FAILED = "the service's strategy endpoint failed or is unreachable"
TOO_SLOW = "the service's strategy endpoint did not answer in time"


@dataclass
class Endpoint:
    port: int
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    content_types: list[str | None] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the test process keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _strategy_app(endpoint: Endpoint) -> Starlette:
    async def strategy(request: Request) -> Response:
        mode, name = request.path_params["mode"], request.path_params["request"]
        payload = await request.json()
        endpoint.calls.append((mode, name, payload))
        endpoint.content_types.append(request.headers.get("content-type"))
        if mode == "fail" or name == "broken":
            return PlainTextResponse("Traceback: the strategy crashed", status_code=500)
        if mode == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(endpoint.release.wait(), timeout=5)
            return JSONResponse({"late": True})
        if mode == "text":
            return PlainTextResponse("this is not JSON")
        if mode == "array":
            return JSONResponse([{"_id": "x"}])
        if mode == "empty":
            return Response(b"", status_code=200)
        if name == "start":
            return JSONResponse({"_id": "the endpoint's own id", "queue": "sales", "position": 3})
        return JSONResponse({"request": name, "received": payload})

    return Starlette(routes=[Route("/{mode}/{request}", strategy, methods=["POST"])])


def _free_port() -> int:
    """A loopback port nobody listens on (closed again right away)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    served = Endpoint(port=sock.getsockname()[1])
    config = uvicorn.Config(
        _strategy_app(served),
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "the strategy endpoint did not start"
        yield served
    finally:
        served.release.set()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


def _config(endpoint: Endpoint) -> str:
    services = {
        "cb": endpoint.url("ok"),
        "failing": endpoint.url("fail"),
        "slow": endpoint.url("slow"),
        "text": endpoint.url("text"),
        "array": endpoint.url("array"),
        "empty": endpoint.url("empty") + "/",
        "unreachable": f"http://127.0.0.1:{_free_port()}/strategy",
    }
    tables = "".join(
        f'\n[service.{name}]\n_type = "http"\n_service = "{url}"\n_ttl = 60\n'
        for name, url in services.items()
    )
    return (
        "[server]\nstrategy_timeout = 0.5\nmax_key_length = 256\n"
        + tables
        + '_greeting = "configured"\n'  # a default parameter of [service.unreachable]
        + '\n[service.cb-params]\n_type = "http"\n'
        + f'_service = "{endpoint.url("ok")}"\n_ttl = 60\n_greeting = "configured"\n'
    )


@pytest.fixture
async def api(api_factory: OpenApi, endpoint: Endpoint) -> AsyncIterator[Api]:
    async with api_factory(_config(endpoint)) as opened:
        yield opened


def _assert_error(response: httpx.Response, status: int, exception: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "exception"}
    assert body["exception"] == GMS + exception
    message: str = body["message"]
    assert "Traceback" not in message
    assert "127.0.0.1" not in message
    return message


async def _assert_service_gone(api: Api, service_id: str) -> None:
    storage = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    _assert_error(storage, 404, "NotFoundException")
    update = await api.client.post(f"/genesys/1/service/{service_id}/update", data={"a": "1"})
    _assert_error(update, 404, "NotFoundException")


# --- creation ------------------------------------------------------------------------------------


async def test_creation_posts_to_start_and_merges_the_answer_with_id(
    api: Api, endpoint: Endpoint
) -> None:
    response = await api.client.post(
        "/genesys/1/service/cb",
        data={"firstName": "Ann", "phone": "5551234", "_wait": "10", "empty": ""},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    service_id = answer["_id"]
    # cxgate's id wins over whatever `_id` the endpoint answered.
    assert answer == {"_id": service_id, "queue": "sales", "position": 3}
    assert endpoint.calls == [
        (
            "ok",
            "start",
            {
                "firstName": "Ann",
                "phone": "5551234",
                "empty": "",
                "_wait": "10",
                "_id": service_id,
                "_data_id": service_id,
            },
        )
    ]
    assert endpoint.content_types == ["application/json"]
    storage = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert storage.status_code == 200
    assert storage.json() == {"firstName": "Ann", "phone": "5551234", "empty": ""}


async def test_creation_with_json_and_configured_parameters(api: Api, endpoint: Endpoint) -> None:
    response = await api.client.post(
        "/genesys/1/service/cb-params",
        json={"customer": {"name": "Bo", "tier": 2}, "_greeting": "sent", "_extra": True},
    )
    assert response.status_code == 200, response.text
    service_id = response.json()["_id"]
    [(_, _, payload)] = endpoint.calls
    # The configured `_greeting` wins over the request's (it is not overwritable).
    assert payload == {
        "customer": "{name=Bo, tier=2}",
        "_greeting": "configured",
        "_extra": "true",
        "_id": service_id,
        "_data_id": service_id,
    }
    storage = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert storage.json() == {"customer": "{name=Bo, tier=2}"}


async def test_creation_with_a_file_sends_its_name_and_keeps_its_bytes(
    api: Api, endpoint: Endpoint
) -> None:
    response = await api.client.post(
        "/genesys/1/service/cb",
        data={"a": "1"},
        files={"photo": ("me.png", b"\x89PNG\x00\x01", "image/png")},
    )
    assert response.status_code == 200, response.text
    service_id = response.json()["_id"]
    [(_, _, payload)] = endpoint.calls
    assert payload == {"a": "1", "photo": "me.png", "_id": service_id, "_data_id": service_id}
    binary = await api.client.get(f"/genesys/1/service/{service_id}/storage/binary/photo")
    assert (binary.status_code, binary.content, binary.headers["content-type"]) == (
        200,
        b"\x89PNG\x00\x01",
        "image/png",
    )
    assert (await api.client.get(f"/genesys/1/service/{service_id}/storage")).json() == {"a": "1"}


async def test_an_empty_answer_is_an_empty_object(api: Api, endpoint: Endpoint) -> None:
    response = await api.client.post("/genesys/1/service/empty", data={"a": "1"})
    assert response.status_code == 200, response.text
    service_id = response.json()["_id"]
    assert response.json() == {"_id": service_id}
    assert [(mode, name) for mode, name, _ in endpoint.calls] == [("empty", "start")]


# --- requests ------------------------------------------------------------------------------------


async def test_a_service_request_is_forwarded_and_its_json_returned(
    api: Api, endpoint: Endpoint
) -> None:
    created = await api.client.post("/genesys/1/service/cb", data={"a": "1"})
    service_id = created.json()["_id"]
    response = await api.client.post(
        f"/genesys/1/service/{service_id}/check-status", data={"detail": "full", "_x": "y"}
    )
    assert response.status_code == 200, response.text
    payload = {"detail": "full", "_x": "y", "_id": service_id, "_data_id": service_id}
    assert response.json() == {"request": "check-status", "received": payload}
    assert endpoint.calls[1] == ("ok", "check-status", payload)
    assert endpoint.content_types[1] == "application/json"
    # A request does not write the service's storage.
    storage = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert storage.json() == {"a": "1"}


async def test_update_stays_local(api: Api, endpoint: Endpoint) -> None:
    created = await api.client.post("/genesys/1/service/cb", data={"a": "1", "b": "2"})
    service_id = created.json()["_id"]
    response = await api.client.post(
        f"/genesys/1/service/{service_id}/update", data={"b": "3", "c": "4", "_p": "param"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"_id": service_id}
    assert [name for _, name, _ in endpoint.calls] == ["start"]
    storage = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert storage.json() == {"a": "1", "b": "3", "c": "4"}


async def test_a_failing_request_is_502_and_the_service_stays(api: Api, endpoint: Endpoint) -> None:
    created = await api.client.post("/genesys/1/service/cb", data={"a": "1"})
    service_id = created.json()["_id"]
    response = await api.client.post(f"/genesys/1/service/{service_id}/broken")
    message = _assert_error(response, 502, "BadGatewayException")
    assert message == FAILED
    storage = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert storage.json() == {"a": "1"}


async def test_a_request_on_an_unknown_or_deleted_service_is_404(
    api: Api, endpoint: Endpoint
) -> None:
    unknown = await api.client.post("/genesys/1/service/00000000-0000-4000-8000-000000000000/check")
    _assert_error(unknown, 404, "NotFoundException")
    created = await api.client.post("/genesys/1/service/cb", data={"a": "1"})
    service_id = created.json()["_id"]
    assert (await api.client.delete(f"/genesys/1/service/{service_id}")).status_code == 200
    deleted = await api.client.post(f"/genesys/1/service/{service_id}/check")
    _assert_error(deleted, 404, "NotFoundException")
    assert [name for _, name, _ in endpoint.calls] == ["start"]


async def test_a_request_on_an_expired_service_is_404(api: Api, endpoint: Endpoint) -> None:
    created = await api.client.post("/genesys/1/service/cb", data={"a": "1"})
    service_id = created.json()["_id"]
    await api.advance(61)
    expired = await api.client.post(f"/genesys/1/service/{service_id}/check")
    _assert_error(expired, 404, "NotFoundException")
    assert [name for _, name, _ in endpoint.calls] == ["start"]


# --- failures at creation: nothing is kept --------------------------------------------------------


async def _received_id(endpoint: Endpoint) -> str:
    [(_, name, payload)] = endpoint.calls
    assert name == "start"
    assert payload["_id"] == payload["_data_id"]
    service_id: str = payload["_id"]
    return service_id


async def test_endpoint_answering_500_is_502_and_nothing_is_kept(
    api: Api, endpoint: Endpoint
) -> None:
    response = await api.client.post("/genesys/1/service/failing", data={"a": "1"})
    message = _assert_error(response, 502, "BadGatewayException")
    assert message == FAILED
    await _assert_service_gone(api, await _received_id(endpoint))


async def test_endpoint_too_slow_is_504_and_nothing_is_kept(api: Api, endpoint: Endpoint) -> None:
    started = asyncio.get_running_loop().time()
    response = await api.client.post("/genesys/1/service/slow", data={"a": "1"})
    elapsed = asyncio.get_running_loop().time() - started
    message = _assert_error(response, 504, "GatewayTimeoutException")
    assert message == TOO_SLOW
    assert 0.4 < elapsed < 5  # bounded by the 0.5 s strategy timeout, with room for a busy box
    await _assert_service_gone(api, await _received_id(endpoint))


async def test_endpoint_unreachable_is_502(api: Api, endpoint: Endpoint) -> None:
    response = await api.client.post("/genesys/1/service/unreachable", data={"a": "1"})
    message = _assert_error(response, 502, "BadGatewayException")
    assert message == FAILED
    assert endpoint.calls == []


@pytest.mark.parametrize("service", ["text", "array"])
async def test_endpoint_answering_no_json_object_is_502_and_nothing_is_kept(
    api: Api, endpoint: Endpoint, service: str
) -> None:
    response = await api.client.post(f"/genesys/1/service/{service}", data={"a": "1"})
    message = _assert_error(response, 502, "BadGatewayException")
    assert message == FAILED
    await _assert_service_gone(api, await _received_id(endpoint))
