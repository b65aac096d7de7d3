"""The small protocols every storage backend implements.

An *area* is a bag of keys with one time to live: the storage of a GMS service (kind `service`)
or a Storage API area (kind `storage`). The two kinds are separate id spaces. A *reservation* is an
access number (and maybe a code) held by a GMS service until it is matched or expires.

Rules every backend keeps (the contract tests in `tests/contract/` check them):
- Expired data is never returned, even before a sweep removes it physically.
- Every write is atomic: it happens whole or not at all, even with several nodes on one store.
- An area created with an `owner` (the `gms_user` header) is visible only to that owner; to anyone
  else it does not exist (`AreaNotFound`). An area without owner is visible to everybody.
- An area holds at most `max_area_keys` keys (given to the store's constructor; None: no limit).
  A create or write that would take it past the limit raises `TooManyKeys` and changes nothing;
  the count is exact even with several writers on one area. Replacing an existing key does not
  count.
- Driver errors surface as `errors.StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cxgate.errors import TooManyKeys


class AreaKind(StrEnum):
    SERVICE = "service"
    STORAGE = "storage"


def too_many_keys(kind: AreaKind, area_id: str, limit: int) -> TooManyKeys:
    """The one wording of the key-limit refusal, whichever store finds it."""
    return TooManyKeys(
        f"{kind.value} {area_id} may hold at most {limit} keys; this write adds more"
    )


@dataclass(frozen=True, slots=True)
class Binary:
    """A file value: its bytes exactly, with the content type and file name it arrived with."""

    data: bytes
    content_type: str = "application/octet-stream"
    filename: str | None = None


Value = str | Binary


@dataclass(frozen=True, slots=True)
class AreaInfo:
    area_id: str
    kind: AreaKind
    label: str  # the configured service name for a service area; "" for a storage area
    owner: str | None
    ttl: int  # seconds; every write moves expires_at to now + ttl
    expires_at: float


@dataclass(frozen=True, slots=True)
class Reservation:
    number: str
    code: str | None  # None: the number is held without a code
    service_id: str
    created_at: float
    expires_at: float


class AreaStore(Protocol):
    async def create(
        self,
        area_id: str,
        *,
        kind: AreaKind,
        label: str,
        owner: str | None,
        ttl: int,
        values: Mapping[str, Value],
    ) -> AreaInfo:
        """Create a new area holding `values`. Ids are fresh UUIDs, so a clash replaces nothing:
        it raises `Conflict`."""
        ...

    async def write(
        self,
        area_id: str,
        *,
        kind: AreaKind,
        owner: str | None,
        values: Mapping[str, Value],
        ttl: int | None = None,
        create: bool = False,
    ) -> AreaInfo:
        """Add or replace `values` and restart the TTL (with `ttl` when given, else the area's own).

        `create=False`: the area must exist and be visible to `owner`, else `AreaNotFound`.
        `create=True` (custom storage ids): a missing or expired area is created with `owner`;
        a live area owned by someone else raises `Conflict` and stays untouched.
        """
        ...

    async def info(self, area_id: str, *, kind: AreaKind, owner: str | None) -> AreaInfo:
        """The area's metadata; `AreaNotFound` when missing, expired or not visible."""
        ...

    async def read_strings(
        self, area_id: str, *, kind: AreaKind, owner: str | None
    ) -> dict[str, str]:
        """Every string key (binary values are not listed); `AreaNotFound` as for `info`."""
        ...

    async def read_value(
        self, area_id: str, key: str, *, kind: AreaKind, owner: str | None
    ) -> Value:
        """One value; `AreaNotFound` for the area, `KeyNotFound` when the area lacks the key."""
        ...

    async def delete_keys(
        self, area_id: str, keys: list[str] | None, *, kind: AreaKind, owner: str | None
    ) -> None:
        """Delete the named keys (`None`: all keys; missing keys are fine) and restart the TTL."""
        ...

    async def delete(self, area_id: str, *, kind: AreaKind, owner: str | None) -> None:
        """Delete the area and its keys; `AreaNotFound` when missing or not visible."""
        ...


class ReservationStore(Protocol):
    async def reserve(self, reservation: Reservation) -> bool:
        """Hold (number, code) for a service. False, changing nothing, when a live reservation
        already holds the same number and code; an expired one is replaced."""
        ...

    async def take(self, number: str, code: str | None) -> Reservation | None:
        """Atomically remove and return the live reservation on `number` with `code`; with
        `code=None`, the most recent live reservation on the number, whatever its code. Two
        simultaneous takes never return the same reservation."""
        ...

    async def release_service(self, service_id: str) -> None:
        """Drop every reservation held by a service (it was deleted)."""
        ...


class FlagStore(Protocol):
    """Small named settings shared by every node of a cluster (maintenance mode lives here)."""

    async def get(self, name: str) -> str | None: ...

    async def set(self, name: str, value: str) -> None: ...


class Store(Protocol):
    """A backend: the stores it provides plus its lifecycle."""

    areas: AreaStore
    reservations: ReservationStore
    flags: FlagStore
    # SQL backends keep expired rows until `sweep`; Redis expires keys by itself.
    needs_sweeper: bool

    async def open(self) -> None:
        """Connect and apply schema migrations; `StoreUnavailable` when unreachable."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return when the store answers; raise `StoreUnavailable` when it does not."""
        ...

    async def sweep(self) -> int:
        """Physically delete expired data; return how many records went."""
        ...
