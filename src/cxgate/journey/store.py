"""The JourneyStore protocol: where services, states and tasks live (SQLite or PostgreSQL).

Rules every backend keeps (`tests/contract/test_journey_store.py` checks them on each):
- Every call names a `Space`; a service of another space does not exist for it (`NotFound`), and
  no query, purge, export or write ever reads or touches another space's rows.
- A service whose `expires_at` has passed is never returned nor changed, from that moment on;
  `sweep` deletes it physically later, with its states and tasks.
- Every write is one transaction: it happens whole or not at all. Ending what is already ended
  raises `AlreadyEnded` and changes nothing; of two racing ends or transitions of one state,
  exactly one wins.
- Composite starts find or create without duplicates, even when they race on several nodes.
- Each write to a service is activity (`Touch`): it restarts the `auto_complete_after` clock.
- Driver errors surface as `errors.StoreUnavailable`. User strings are always SQL parameters.
"""

from __future__ import annotations

from typing import Protocol

from cxgate.journey.models import (
    Association,
    CompositeEntry,
    CompositeOutcome,
    Ending,
    ItemFilter,
    ItemRecord,
    Json,
    Kind,
    Nested,
    NewItem,
    NewService,
    PurgeOperation,
    ServiceQuery,
    ServiceRecord,
    Space,
    SweepResult,
    TimeWindow,
    Touch,
)


class JourneyStore(Protocol):
    async def open(self) -> None:
        """Connect and apply the journey migrations; `StoreUnavailable` when unreachable."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    # -- services ---------------------------------------------------------------------------
    async def start_service(self, space: Space, new: NewService) -> None:
        """Insert a new service (its id is fresh)."""
        ...

    async def end_service(
        self, space: Space, service_id: str, ending: Ending, touch: Touch
    ) -> None:
        """Complete the service and, with the same end time, its active states and tasks.
        `NotFound`; `AlreadyEnded` when it is completed already."""
        ...

    async def get_service(self, space: Space, service_id: str, nested: Nested) -> ServiceRecord:
        """The service with the nested items `nested` asks for; `NotFound`."""
        ...

    async def delete_service(self, space: Space, service_id: str) -> None:
        """Delete the service with its states and tasks; `NotFound`."""
        ...

    async def set_expiry(self, space: Space, service_id: str, touch: Touch) -> None:
        """Move the expiry to `touch.expires_at` (which may be past: then it expires now)."""
        ...

    async def associate(
        self, space: Space, service_id: str, association: Association, touch: Touch
    ) -> None:
        """Give the service to `association.customer_id` (off any earlier customer) and merge
        the start-event fields and attached data sent along; `NotFound`."""
        ...

    async def put_extension(
        self,
        space: Space,
        service_id: str,
        item: tuple[Kind, int] | None,
        name: str,
        value: Json,
        touch: Touch,
    ) -> None:
        """Replace attached-data key `name` of the service (`item=None`) or of one of its
        states or tasks; `NotFound`."""
        ...

    async def query_services(self, query: ServiceQuery, nested: Nested) -> list[ServiceRecord]:
        """One page of a customer's or a contact key's services, newest start first (ties:
        by id, descending), each filtered as `query` says."""
        ...

    # -- states and tasks -------------------------------------------------------------------
    async def start_item(self, space: Space, service_id: str, new: NewItem, touch: Touch) -> int:
        """Add a state or task (also to a completed service) and return its id, unique within
        the service. `NotFound` for the service or for the state that `new.ref_id` names."""
        ...

    async def end_item(
        self, space: Space, service_id: str, kind: Kind, item_id: int, ending: Ending, touch: Touch
    ) -> None:
        """`NotFound`; `AlreadyEnded` when the item is completed already."""
        ...

    async def transition(
        self,
        space: Space,
        service_id: str,
        from_state: int,
        ending: Ending,
        new: NewItem,
        touch: Touch,
    ) -> int:
        """End state `from_state` and start `new`, atomically: both happen or neither."""
        ...

    async def get_item(
        self, space: Space, service_id: str, kind: Kind, item_id: int, tasks: ItemFilter | None
    ) -> ItemRecord:
        """One state or task (a state with its tasks chosen by `tasks`); `NotFound`."""
        ...

    async def list_items(
        self, space: Space, service_id: str, kind: Kind, which: ItemFilter, tasks: ItemFilter | None
    ) -> list[ItemRecord]:
        """The service's states or tasks in id order; `NotFound` for the service."""
        ...

    # -- composite start, maintenance -------------------------------------------------------
    async def composite_start(
        self, space: Space, entries: list[CompositeEntry], touch: Touch
    ) -> list[CompositeOutcome]:
        """For each entry, reuse the newest active service with the same customer_id,
        contact_key and service_type (else create `entry.service`), inside it the active state
        with the same state_type and the active task with the same task_type (else create
        them). All entries in one transaction; racing calls never create duplicates."""
        ...

    async def purge(
        self, space: Space, operation: PurgeOperation, started_before: int, batch: int
    ) -> int:
        """Delete up to `batch` services that `operation` selects among those started before
        `started_before`; return how many went (callers repeat until fewer than `batch`)."""
        ...

    async def export_page(
        self, space: Space, window: TimeWindow, after: tuple[int, str] | None, limit: int
    ) -> list[ServiceRecord]:
        """Live services started in `window`, oldest first, after the (started_at, service_id)
        cursor, each with all its states and tasks."""
        ...

    async def sweep(self, *, batch: int) -> SweepResult:
        """Delete up to `batch` expired services and complete up to `batch` services idle for
        their `auto_complete_after` (ended as of the moment they became idle)."""
        ...
