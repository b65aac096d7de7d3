"""What a GMS service implementation is: how it starts and which requests it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cxgate.backends.base import AreaInfo, AreaKind, Value
from cxgate.config import ServiceSection
from cxgate.gms.context import GmsContext


@dataclass(frozen=True, slots=True)
class StartCall:
    name: str  # the configured service name (the URL's {name})
    definition: ServiceSection
    params: dict[str, str]  # `_` parameters, the configuration's already applied
    data: dict[str, Value]  # everything else: stored as the service's storage
    service_id: str  # a fresh UUID for the service this call may create
    ttl: int


class ServiceLogic(Protocol):
    async def start(self, ctx: GmsContext, call: StartCall) -> dict[str, Any]:
        """Run the creation request; return the JSON object answered to the client."""
        ...

    async def request(
        self, ctx: GmsContext, service: AreaInfo, request: str, params: dict[str, Value]
    ) -> dict[str, Any] | None:
        """A service-specific request other than `update`; None when the service has no such
        request (the caller answers 404)."""
        ...


async def store_creation_data(ctx: GmsContext, call: StartCall) -> None:
    """The data sent at creation becomes the new service's storage (GMS's rule)."""
    await ctx.store.areas.create(
        call.service_id,
        kind=AreaKind.SERVICE,
        label=call.name,
        owner=None,
        ttl=call.ttl,
        values=call.data,
    )
