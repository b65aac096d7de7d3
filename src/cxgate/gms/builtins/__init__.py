"""The built-in GMS services, by the name a `[service.NAME]` table gives in `_service`."""

from __future__ import annotations

from cxgate.gms.builtins.base import ServiceLogic, StartCall
from cxgate.gms.builtins.http_strategy import HttpStrategy
from cxgate.gms.builtins.match_interaction import MatchInteraction
from cxgate.gms.builtins.request_access import RequestAccess
from cxgate.gms.builtins.request_interaction import RequestInteraction
from cxgate.gms.builtins.session import Session

BUILTINS: dict[str, ServiceLogic] = {
    "session": Session(),
    "request-interaction": RequestInteraction(),
    "request-access": RequestAccess(),
    "match-interaction": MatchInteraction(),
}

__all__ = ["BUILTINS", "HttpStrategy", "ServiceLogic", "StartCall"]
