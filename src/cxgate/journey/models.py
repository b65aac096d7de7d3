"""The journey as cxgate holds it: a service with its states and tasks, in a tenant's space.

Records are what stores return and views render. Events are kept as they are shown (a
JSON-ready dict with `timestamp` first); attached data is a dict of JSON values kept as sent.
Times are epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Json = Any  # any JSON value: what orjson.loads returns
JsonObject = dict[str, Json]


@dataclass(frozen=True, slots=True)
class Space:
    """Where data lives and is seen: the `ContactCenterId` tenant and the `GroupId` group
    ("" for no header). Nothing ever crosses from one space to another."""

    tenant: str
    group: str


class Kind(StrEnum):
    """The two kinds of item a service holds. Their values name tables: never user input."""

    STATE = "state"
    TASK = "task"


class Status(StrEnum):
    ALL = "all"
    ACTIVE = "active"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class NewService:
    service_id: str
    customer_id: str | None
    contact_key: str | None
    type_key: str | None  # service_type as text: what filters and composite starts compare
    props: JsonObject  # service_type as sent, est_duration, auto_complete_after
    started_at: int
    started: JsonObject
    data: JsonObject
    expires_at: int
    auto_complete_after: int | None  # seconds


@dataclass(frozen=True, slots=True)
class NewItem:
    kind: Kind
    type_key: str | None  # state_type / task_type as text
    # previous_state_id of a state, state_id of a task: a state of the same service
    ref_id: int | None
    props: JsonObject  # the type as sent, est_duration, previous_state_id / state_id
    started_at: int
    started: JsonObject
    data: JsonObject


@dataclass(frozen=True, slots=True)
class Ending:
    """An end event: when, how it is shown, attached data it adds or replaces."""

    ended_at: int
    completed: JsonObject
    data: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Touch:
    """What every write to a service carries: the time of the activity (it restarts
    `auto_complete_after`) and a new expiry when the body had `ttl` or `expiration_time`."""

    now: int
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class Association:
    customer_id: str
    started: JsonObject  # start-event fields to add or replace
    data: JsonObject


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which states or tasks of a service: by status, by type, (tasks) by state."""

    status: Status = Status.ALL
    types: tuple[str, ...] = ()
    state_id: int | None = None


@dataclass(frozen=True, slots=True)
class Nested:
    """Which items to load under each service (or, for tasks, under each state)."""

    active_states: bool = False
    completed_states: bool = False
    active_tasks: bool = False
    completed_tasks: bool = False
    state_types: tuple[str, ...] = ()
    task_types: tuple[str, ...] = ()

    @property
    def states(self) -> ItemFilter | None:
        return _filter(self.active_states, self.completed_states, self.state_types)

    @property
    def tasks(self) -> ItemFilter | None:
        return _filter(self.active_tasks, self.completed_tasks, self.task_types)


def _filter(active: bool, completed: bool, types: tuple[str, ...]) -> ItemFilter | None:
    if active and completed:
        return ItemFilter(Status.ALL, types)
    if active:
        return ItemFilter(Status.ACTIVE, types)
    if completed:
        return ItemFilter(Status.COMPLETED, types)
    return None


EVERYTHING = Nested(True, True, True, True)


@dataclass(slots=True)
class ItemRecord:
    kind: Kind
    service_id: str
    item_id: int
    props: JsonObject
    started: JsonObject
    completed: JsonObject | None
    data: JsonObject
    ref_id: int | None = None
    tasks: list[ItemRecord] | None = None  # a state's own tasks, when asked for


@dataclass(slots=True)
class ServiceRecord:
    service_id: str
    customer_id: str | None
    contact_key: str | None
    props: JsonObject
    started: JsonObject
    completed: JsonObject | None
    data: JsonObject
    started_at: int
    states: list[ItemRecord] | None = None
    tasks: list[ItemRecord] | None = None


@dataclass(frozen=True, slots=True)
class CompositeEntry:
    """One entry of a composite start, validated: the service to find or create, and maybe a
    state and a task inside it."""

    service: NewService
    state: NewItem | None
    task: NewItem | None
    associate_state_task: bool


@dataclass(frozen=True, slots=True)
class CompositeOutcome:
    service_id: str
    service_created: bool
    state_id: int | None = None
    state_created: bool = False
    task_id: int | None = None
    task_created: bool = False


class PurgeOperation(StrEnum):
    ALL = "purge.service.all"
    STARTED = "purge.service.started"
    STARTED_ANONYMOUS = "purge.service.started.anonymous"
    COMPLETED = "purge.service.completed"
    COMPLETED_ANONYMOUS = "purge.service.completed.anonymous"

    @property
    def status(self) -> Status:
        if self is PurgeOperation.ALL:
            return Status.ALL
        return Status.ACTIVE if "started" in self.value else Status.COMPLETED

    @property
    def anonymous_only(self) -> bool:
        return self.value.endswith(".anonymous")


@dataclass(frozen=True, slots=True)
class AttachedEquals:
    """`?key=value` on a service query: attached data `key` equals one of `values`.

    A value matches a string equal to it, a number numerically equal to it (when it reads as a
    JSON number), or the literal `true`, `false` or `null` it names."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ServiceQuery:
    """A customer's services (`customer_id`) or anonymous ones (`contact_key`), filtered,
    newest first, one page."""

    space: Space
    customer_id: str | None = None
    contact_key: str | None = None
    status: Status = Status.ALL
    started_from: int | None = None
    started_to: int | None = None
    completed_from: int | None = None
    completed_to: int | None = None
    service_types: tuple[str, ...] = ()
    attached: tuple[AttachedEquals, ...] = ()
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Services started in [start, end): either bound may be open."""

    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class SweepResult:
    deleted: int = 0
    completed: int = 0
