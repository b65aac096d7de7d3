"""`session`: a plain data service. It stores the creation data and does nothing else."""

from __future__ import annotations

from typing import Any

from cxgate.backends.base import AreaInfo, Value
from cxgate.gms.builtins.base import StartCall, store_creation_data
from cxgate.gms.context import GmsContext


class Session:
    async def start(self, ctx: GmsContext, call: StartCall) -> dict[str, Any]:
        await store_creation_data(ctx, call)
        return {"_id": call.service_id}

    async def request(
        self, ctx: GmsContext, service: AreaInfo, request: str, params: dict[str, Value]
    ) -> dict[str, Any] | None:
        return None
