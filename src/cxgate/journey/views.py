"""Records -> the JSON that clients see.

Attached data appears at the top level of its resource, only as `extensions=` selects it:
`a,b` picks keys of the resource asked for, `*` every key on it and on its nested states and
tasks, `State.x` / `Task.x` one key on nested (or top-level) states / tasks, and `State`,
`State.*`, `Task`, `Task.*` every key on them. Only top-level objects carry `service_id`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxgate.journey.models import ItemRecord, JsonObject, Kind, Nested, ServiceRecord

_ENTITY = {"state": Kind.STATE, "task": Kind.TASK}


@dataclass(frozen=True, slots=True)
class Selection:
    every: bool = False
    names: frozenset[str] = frozenset()

    def pick(self, data: JsonObject) -> JsonObject:
        if self.every:
            return data
        return {key: value for key, value in data.items() if key in self.names}

    def __or__(self, other: Selection) -> Selection:
        return Selection(self.every or other.every, self.names | other.names)


@dataclass(frozen=True, slots=True)
class Extensions:
    own: Selection = Selection()
    state: Selection = Selection()
    task: Selection = Selection()

    def for_kind(self, kind: Kind) -> Selection:
        return self.state if kind is Kind.STATE else self.task


def parse_extensions(names: tuple[str, ...]) -> Extensions:
    own: set[str] = set()
    nested: dict[Kind, set[str]] = {Kind.STATE: set(), Kind.TASK: set()}
    every = {"own": False, Kind.STATE: False, Kind.TASK: False}
    for name in names:
        entity, dot, key = name.partition(".")
        kind = _ENTITY.get(entity.lower())
        if name == "*":
            every = dict.fromkeys(every, True)
        elif kind is not None and (not dot or key == "*"):
            every[kind] = True
        elif kind is not None:
            nested[kind].add(key)
        else:
            own.add(name)
    return Extensions(
        Selection(every["own"], frozenset(own)),
        Selection(every[Kind.STATE], frozenset(nested[Kind.STATE])),
        Selection(every[Kind.TASK], frozenset(nested[Kind.TASK])),
    )


def _completion(out: JsonObject, completed: JsonObject | None) -> None:
    if completed is None:
        return
    out["completed"] = completed
    for key in ("disposition", "disposition_desc"):
        if key in completed:
            out[key] = completed[key]


def _split(
    out: JsonObject,
    kind: Kind,
    items: list[ItemRecord],
    active: bool,
    completed: bool,
    ext: Extensions,
) -> None:
    if active:
        out[f"active_{kind}s"] = [
            render_item(i, ext, top=False) for i in items if i.completed is None
        ]
    if completed:
        out[f"completed_{kind}s"] = [
            render_item(i, ext, top=False) for i in items if i.completed is not None
        ]


def render_item(
    item: ItemRecord,
    ext: Extensions,
    *,
    top: bool = True,
    with_service_id: bool = True,
    nested: Nested | None = None,
) -> JsonObject:
    """A state or task; `top` when asked for by itself or listed (not inside a service),
    and then with `service_id` unless it is one of a service's lists."""
    out: JsonObject = {"service_id": item.service_id} if top and with_service_id else {}
    out[f"{item.kind}_id"] = item.item_id
    out.update(item.props)
    out["started"] = item.started
    _completion(out, item.completed)
    selection = ext.own | ext.for_kind(item.kind) if top else ext.for_kind(item.kind)
    for key, value in selection.pick(item.data).items():
        out.setdefault(key, value)
    if item.tasks is not None and nested is not None:
        _split(out, Kind.TASK, item.tasks, nested.active_tasks, nested.completed_tasks, ext)
    return out


def render_service(service: ServiceRecord, ext: Extensions, nested: Nested) -> JsonObject:
    out: JsonObject = {"service_id": service.service_id}
    if service.customer_id is not None:
        out["customer_id"] = service.customer_id
    if service.contact_key is not None:
        out["contact_key"] = service.contact_key
    out.update(service.props)
    out["started"] = service.started
    _completion(out, service.completed)
    for key, value in ext.own.pick(service.data).items():
        out.setdefault(key, value)
    if service.states is not None:
        _split(out, Kind.STATE, service.states, nested.active_states, nested.completed_states, ext)
    if service.tasks is not None:
        _split(out, Kind.TASK, service.tasks, nested.active_tasks, nested.completed_tasks, ext)
    return out
