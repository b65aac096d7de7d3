"""Context Services use cases on the states and tasks of a service: start, end, transition,
read and list."""

from __future__ import annotations

from cxgate.errors import BadRequest
from cxgate.journey import filters
from cxgate.journey.context import JourneyContext
from cxgate.journey.events import (
    END_FIELDS,
    EVENT_FIELDS,
    STATE_FIELDS,
    TASK_FIELDS,
    as_object,
    item_id,
    optional_int,
    parse_event,
    type_value,
)
from cxgate.journey.models import Json, JsonObject, Kind, NewItem, Space, Status, Touch
from cxgate.journey.service import parse_ending, path_item_id, service_id_of
from cxgate.journey.times import now_ms
from cxgate.journey.views import render_item

_OWN = {Kind.STATE: STATE_FIELDS, Kind.TASK: TASK_FIELDS}
_REF = {Kind.STATE: "previous_state_id", Kind.TASK: "state_id"}


def parse_item_start(
    ctx: JourneyContext, kind: Kind, body: Json, *, now: int
) -> tuple[NewItem, Touch]:
    parts = parse_event(
        as_object(body), now=now, own=_OWN[kind], end=False, max_key_length=ctx.max_key_length
    )
    own = parts.own
    props: JsonObject = {}
    type_key = None
    if f"{kind}_type" in own:
        props[f"{kind}_type"], type_key = type_value(own[f"{kind}_type"], f"{kind}_type")
    ref_id = None
    if _REF[kind] in own:
        props[_REF[kind]] = ref_id = item_id(own[_REF[kind]], _REF[kind])
    est = optional_int(own, "est_duration")
    if est is not None:
        props["est_duration"] = est
    new = NewItem(kind, type_key, ref_id, props, parts.at, parts.event, parts.data)
    return new, Touch(now, parts.expires_at)


async def start_item(
    ctx: JourneyContext, *, space: Space, service_id: str, kind: Kind, body: Json
) -> int:
    service_id = service_id_of(service_id)
    new, touch = parse_item_start(ctx, kind, body, now=now_ms(ctx.clock))
    return await ctx.store.start_item(space, service_id, new, touch)


async def end_item(
    ctx: JourneyContext, *, space: Space, service_id: str, kind: Kind, raw_id: str, body: Json
) -> None:
    service_id = service_id_of(service_id)
    number = path_item_id(kind, raw_id)
    ending, touch = parse_ending(ctx, body, now=now_ms(ctx.clock))
    await ctx.store.end_item(space, service_id, kind, number, ending, touch)


async def transition(ctx: JourneyContext, *, space: Space, service_id: str, body: Json) -> int:
    """`{"from": {"state_id", "disposition", "disposition_desc", ...}, "to": {"state_type",
    "est_duration", ...}, ...common}`: the common event fields go on both events, the common
    attached data on the new state; other keys of `from` are attached data of the ended state.
    The new state's `previous_state_id` is the ended one."""
    service_id = service_id_of(service_id)
    document = as_object(body)
    source = as_object(document.get("from"), "from")
    target = as_object(document.get("to"), "to")
    if source.get("state_id") is None:
        raise BadRequest("from.state_id is required: the state that the transition ends")
    from_id = item_id(source["state_id"], "from.state_id")
    common = {k: v for k, v in document.items() if k not in ("from", "to")}
    timing = {k: v for k, v in common.items() if k in EVENT_FIELDS or k == "timestamp"}
    end_body = {**timing, **{k: v for k, v in source.items() if k != "state_id"}}
    start_body = {
        **{k: v for k, v in common.items() if k not in END_FIELDS},
        **target,
        "previous_state_id": from_id,
    }
    now = now_ms(ctx.clock)
    ending, _ = parse_ending(ctx, end_body, now=now)
    new, touch = parse_item_start(ctx, Kind.STATE, start_body, now=now)
    return await ctx.store.transition(space, service_id, from_id, ending, new, touch)


async def get_item(
    ctx: JourneyContext,
    *,
    space: Space,
    service_id: str,
    kind: Kind,
    raw_id: str,
    params: filters.Params,
) -> JsonObject:
    """One state (with `active_tasks` / `completed_tasks`: its own tasks) or task."""
    service_id = service_id_of(service_id)
    number = path_item_id(kind, raw_id)
    nested = filters.nested(params)
    record = await ctx.store.get_item(
        space, service_id, kind, number, nested.tasks if kind is Kind.STATE else None
    )
    return render_item(record, filters.extensions(params), nested=nested)


async def list_items(
    ctx: JourneyContext,
    *,
    space: Space,
    service_id: str,
    kind: Kind,
    status: Status,
    params: filters.Params,
) -> list[JsonObject]:
    service_id = service_id_of(service_id)
    which = filters.item_filter(params, status, tasks=kind is Kind.TASK)
    nested = filters.nested(params)
    records = await ctx.store.list_items(
        space, service_id, kind, which, nested.tasks if kind is Kind.STATE else None
    )
    ext = filters.extensions(params)
    return [render_item(record, ext, with_service_id=False, nested=nested) for record in records]
