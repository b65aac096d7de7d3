"""`_type = "http"`: the service's logic lives in the user's own HTTP endpoint.

Creation stores the data as the service's storage, then POSTs the parameters and data as a JSON
object (plus `_id` and `_data_id`) to `<url>/start`; a service-specific request `{request}` POSTs
to `<url>/{request}`. File values travel as their file name; their bytes stay in cxgate's storage,
readable by the endpoint through the storage API. A start that fails leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from cxgate.backends.base import AreaInfo, AreaKind, Binary, Value
from cxgate.errors import UpstreamError, UpstreamTimeout
from cxgate.gms.builtins.base import StartCall, store_creation_data
from cxgate.gms.context import GmsContext


def _as_json(values: Mapping[str, Value]) -> dict[str, Any]:
    return {k: (v.filename or "" if isinstance(v, Binary) else v) for k, v in values.items()}


class HttpStrategy:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def _call(self, ctx: GmsContext, request: str, payload: dict[str, Any]) -> dict[str, Any]:
        target = f"{self.url}/{quote(request, safe='')}"
        timeout = ctx.config.server.strategy_timeout
        try:
            response = await ctx.http.post(
                target,
                content=orjson.dumps(payload),
                timeout=timeout,
                headers={"content-type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"the strategy endpoint {target} did not answer within {timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"the strategy endpoint {target} is unreachable: {exc}") from exc
        if not response.is_success:
            raise UpstreamError(
                f"the strategy endpoint {target} answered HTTP {response.status_code}"
            )
        if not response.content.strip():
            return {}
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"the strategy endpoint {target} answered invalid JSON") from exc
        if not isinstance(answer, dict):
            raise UpstreamError(
                f"the strategy endpoint {target} answered JSON that is not an object"
            )
        return answer

    async def start(self, ctx: GmsContext, call: StartCall) -> dict[str, Any]:
        # Stored first so that the endpoint can already read the service's storage by its id.
        await store_creation_data(ctx, call)
        payload = {
            **_as_json(call.data),
            **call.params,
            "_id": call.service_id,
            "_data_id": call.service_id,
        }
        try:
            answer = await self._call(ctx, "start", payload)
        except BaseException:
            await ctx.store.areas.delete(call.service_id, kind=AreaKind.SERVICE, owner=None)
            raise
        return {**answer, "_id": call.service_id}

    async def request(
        self, ctx: GmsContext, service: AreaInfo, request: str, params: dict[str, Value]
    ) -> dict[str, Any] | None:
        payload = {**_as_json(params), "_id": service.area_id, "_data_id": service.area_id}
        return await self._call(ctx, request, payload)
