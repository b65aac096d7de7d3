"""What a Context Services use case needs from the running server, gathered in one object."""

from __future__ import annotations

from dataclasses import dataclass

from cxgate.clock import Clock
from cxgate.config import CsSection
from cxgate.errors import BadRequest
from cxgate.journey.events import text
from cxgate.journey.models import Space
from cxgate.journey.store import JourneyStore
from cxgate.journey.times import parse_duration

# The tenant of requests without a ContactCenterId header. Allowed even when `[cs] tenants`
# restricts the others: clients that know nothing of tenancy keep working.
DEFAULT_TENANT = ""


@dataclass
class JourneyContext:
    store: JourneyStore
    clock: Clock
    config: CsSection
    max_key_length: int = 1024

    @property
    def expiration(self) -> int:
        """Seconds a service lives when its start names no `ttl` or `expiration_time`."""
        return parse_duration(self.config.expiration, field="[cs] expiration")

    @property
    def auto_complete_after(self) -> int | None:
        raw = self.config.auto_complete_after
        return None if raw is None else parse_duration(raw, field="[cs] auto_complete_after")

    def space(self, tenant: str | None, group: str | None) -> Space:
        """The space of a request's `ContactCenterId` and `GroupId` headers."""
        tenant = text(tenant or DEFAULT_TENANT, "ContactCenterId").strip()
        group = text(group or "", "GroupId").strip()
        allowed = self.config.tenants
        if tenant and allowed is not None and tenant not in allowed:
            raise BadRequest(f"Invalid tenant specified : {tenant}")
        return Space(tenant, group)
