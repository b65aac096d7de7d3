"""The backing services of a deployment and their last announced state (the GWS `services`
resource).

Ids are uuid5 of type and name: the same service has the same id on every node and after every
restart, so a client can keep a URI and a cluster's notifications agree on what they name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from cxgate.errors import BadRequest, NotFound

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/cxgate/cxgate/services")


class ServiceType(StrEnum):
    PROVISIONING = "Provisioning"
    VOICE = "Voice"
    REPORTING = "Reporting"
    MEDIA = "Media"


class ServiceState(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    READ_ONLY = "ReadOnly"


# Every attribute a service resource can carry, in the order the resource lists them.
FIELDS = ("id", "name", "type", "state", "uri")


def service_id(type_: ServiceType, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{type_.value}/{name}"))


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    id: str
    name: str
    type: ServiceType
    state: ServiceState
    uri: str | None = None  # Voice: the SIP address a client needs to reach the service

    @classmethod
    def new(cls, type_: ServiceType, name: str, *, uri: str | None = None) -> ServiceStatus:
        """A service not probed yet: Inactive until its first probe says otherwise."""
        return cls(service_id(type_, name), name, type_, ServiceState.INACTIVE, uri)

    def resource(self, fields: Iterable[str] = FIELDS) -> dict[str, Any]:
        """The GWS resource with the selected attributes; those a service lacks are left out."""
        out: dict[str, Any] = {}
        for name in fields:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.value if isinstance(value, StrEnum) else value
        return out


def parse_fields(raw: str | None) -> tuple[str, ...] | None:
    """`?fields=`: None when absent (the caller lists URIs), `*` for all, or a comma list."""
    if raw is None:
        return None
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise BadRequest("fields must be '*' or a comma-separated list of attribute names")
    if names == ["*"]:
        return FIELDS
    unknown = [name for name in names if name not in FIELDS]
    if unknown:
        raise BadRequest(
            f"unknown field {unknown[0]!r} in fields; a service has {', '.join(FIELDS)}"
        )
    return tuple(dict.fromkeys(names))


class Registry:
    """The services of this deployment, in a stable order, with their announced states."""

    def __init__(self, services: Iterable[ServiceStatus]) -> None:
        self._services = {service.id: service for service in services}

    def __iter__(self) -> Iterator[ServiceStatus]:
        return iter(tuple(self._services.values()))

    def __len__(self) -> int:
        return len(self._services)

    def get(self, id_: str) -> ServiceStatus:
        try:
            return self._services[id_]
        except KeyError:
            raise NotFound(f"no service with id {id_!r}") from None

    def find(self, id_: str) -> ServiceStatus | None:
        return self._services.get(id_)

    def set_state(self, id_: str, state: ServiceState) -> ServiceStatus | None:
        """Record `state`; return the updated service when the state changed, else None."""
        current = self._services[id_]
        if current.state is state:
            return None
        updated = replace(current, state=state)
        self._services[id_] = updated
        return updated
