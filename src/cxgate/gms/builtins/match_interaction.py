"""`match-interaction`: the IVR side. Which service reserved this access number (and code)?"""

from __future__ import annotations

from typing import Any

from cxgate.backends.base import AreaInfo, AreaKind, Value
from cxgate.errors import AreaNotFound, BadRequest, NotFound
from cxgate.gms.builtins.base import StartCall
from cxgate.gms.context import GmsContext


class MatchInteraction:
    async def start(self, ctx: GmsContext, call: StartCall) -> dict[str, Any]:
        number = call.params.get("_access_number", "").strip()
        if not number:
            raise BadRequest("parameter _access_number is mandatory")
        code = call.params.get("_access_code", "").strip() or None
        held = await ctx.store.reservations.take(number, code)
        if held is None:
            wanted = f"access number {number}" + (f" and code {code}" if code else "")
            raise NotFound(f"no live reservation matches {wanted}")
        answer: dict[str, Any] = {}
        if call.params.get("_return_user_data", "false").strip().lower() == "true":
            try:
                stored = await ctx.store.areas.read_strings(
                    held.service_id, kind=AreaKind.SERVICE, owner=None
                )
            except AreaNotFound:
                stored = {}  # request-access on a service deleted since: nothing to return
            answer.update(stored)
        # The reserving service's storage is its data: its id serves as `_data_id` too.
        answer.update({"_id": held.service_id, "_data_id": held.service_id})
        return answer

    async def request(
        self, ctx: GmsContext, service: AreaInfo, request: str, params: dict[str, Value]
    ) -> dict[str, Any] | None:
        return None
