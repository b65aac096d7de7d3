"""`request-interaction`: store the data and reserve an access number (and code) for the call."""

from __future__ import annotations

from typing import Any

from cxgate.backends.base import AreaInfo, Value
from cxgate.gms.builtins.access import parse_access_request, reserve_access
from cxgate.gms.builtins.base import StartCall, store_creation_data
from cxgate.gms.context import GmsContext


class RequestInteraction:
    async def start(self, ctx: GmsContext, call: StartCall) -> dict[str, Any]:
        access = parse_access_request(call.params)
        # Reserve first: a full pool then leaves nothing behind, and a failed create below only
        # has a reservation to undo.
        answer = await reserve_access(ctx, access, service_id=call.service_id, ttl=call.ttl)
        try:
            await store_creation_data(ctx, call)
        except BaseException:
            await ctx.store.reservations.release_service(call.service_id)
            raise
        return {"_id": call.service_id, **answer}

    async def request(
        self, ctx: GmsContext, service: AreaInfo, request: str, params: dict[str, Value]
    ) -> dict[str, Any] | None:
        return None
