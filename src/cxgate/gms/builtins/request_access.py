"""`request-access`: reserve an access number (and code) for a service that already exists."""

from __future__ import annotations

from typing import Any

from cxgate.backends.base import AreaInfo, AreaKind, Value
from cxgate.errors import BadRequest
from cxgate.gms.builtins.access import parse_access_request, reserve_access
from cxgate.gms.builtins.base import StartCall
from cxgate.gms.context import GmsContext


class RequestAccess:
    async def start(self, ctx: GmsContext, call: StartCall) -> dict[str, Any]:
        target = call.params.get("_id", "").strip()
        if not target:
            raise BadRequest("parameter _id is mandatory: the id of an active service")
        access = parse_access_request(call.params)
        # AreaNotFound (404) when the target is not active.
        await ctx.store.areas.info(target, kind=AreaKind.SERVICE, owner=None)
        answer = await reserve_access(ctx, access, service_id=target, ttl=call.ttl)
        return {"_id": target, **answer}

    async def request(
        self, ctx: GmsContext, service: AreaInfo, request: str, params: dict[str, Value]
    ) -> dict[str, Any] | None:
        return None
