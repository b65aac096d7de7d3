"""`POST /services_composite/start`: find or create, per entry, a service, a state inside it
and a task inside that. Every entry is validated before anything is written, and all entries
are written in one transaction: a bad entry changes nothing."""

from __future__ import annotations

from cxgate.errors import BadRequest
from cxgate.journey.context import JourneyContext
from cxgate.journey.items import parse_item_start
from cxgate.journey.models import (
    CompositeEntry,
    CompositeOutcome,
    Json,
    JsonObject,
    Kind,
    Space,
    Touch,
)
from cxgate.journey.service import parse_service_start
from cxgate.journey.times import now_ms

MAX_ENTRIES = 100


def _entry(ctx: JourneyContext, raw: Json, index: int, now: int) -> CompositeEntry:
    if not isinstance(raw, dict):
        raise BadRequest(f"services[{index}] must be a JSON object")
    if not isinstance(raw.get("service"), dict):
        raise BadRequest(f"services[{index}].service is required: the service start body")
    link = raw.get("associate_state_task", False)
    if not isinstance(link, bool):
        raise BadRequest(f"services[{index}].associate_state_task must be true or false")
    service = parse_service_start(ctx, raw["service"], now=now)
    state = task = None
    if raw.get("state") is not None:
        state, _ = parse_item_start(ctx, Kind.STATE, raw["state"], now=now)
    if raw.get("task") is not None:
        task, _ = parse_item_start(ctx, Kind.TASK, raw["task"], now=now)
    return CompositeEntry(service, state, task, link and state is not None and task is not None)


def _render(outcome: CompositeOutcome) -> JsonObject:
    out: JsonObject = {
        "service_id": outcome.service_id,
        "service_created": outcome.service_created,
    }
    if outcome.state_id is not None:
        out.update(state_id=outcome.state_id, state_created=outcome.state_created)
    if outcome.task_id is not None:
        out.update(task_id=outcome.task_id, task_created=outcome.task_created)
    return out


async def composite_start(ctx: JourneyContext, *, space: Space, body: Json) -> list[JsonObject]:
    if not isinstance(body, dict) or not isinstance(body.get("services"), list):
        raise BadRequest('the body must be {"services": [{"service": {...}, ...}, ...]}')
    raw_entries = body["services"]
    if not 0 < len(raw_entries) <= MAX_ENTRIES:
        raise BadRequest(f"services must hold 1 to {MAX_ENTRIES} entries")
    now = now_ms(ctx.clock)
    entries = [_entry(ctx, raw, i, now) for i, raw in enumerate(raw_entries)]
    outcomes = await ctx.store.composite_start(space, entries, Touch(now))
    return [_render(outcome) for outcome in outcomes]
