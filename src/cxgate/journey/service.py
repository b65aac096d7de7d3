"""Context Services use cases on services: start, end, read, delete, TTL, association,
extensions and the customer / anonymous queries. Verbs with keyword-only arguments; bodies come
in parsed (JSON values), results go out JSON-ready.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

from cxgate.errors import BadRequest, NotFound
from cxgate.journey import filters
from cxgate.journey.context import JourneyContext
from cxgate.journey.events import (
    EVENT_FIELDS,
    SERVICE_FIELDS,
    as_object,
    check_key,
    expiry,
    identity,
    item_id,
    optional_int,
    parse_event,
    text,
    type_value,
)
from cxgate.journey.models import (
    Association,
    Ending,
    Json,
    JsonObject,
    Kind,
    NewService,
    Space,
    Status,
    Touch,
)
from cxgate.journey.times import format_time, now_ms, parse_duration
from cxgate.journey.views import render_service

_SERVICE_ID = re.compile(
    r"[0-9]{1,19}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def service_id_of(raw: str) -> str:
    """A service id from a URL: anything not of our `<int>-<uuid>` form cannot exist."""
    if not _SERVICE_ID.fullmatch(raw):
        raise NotFound(f"service {raw[:80]} not found")
    return raw


def new_service_id(now: int) -> str:
    # `<int>-<uuid>` as Genesys shows them; the int is the creation second, which sorts ids
    # roughly by age for whoever reads logs. Clients must treat the id as opaque.
    return f"{now // 1000}-{uuid.uuid4()}"


def parse_service_start(ctx: JourneyContext, body: Json, *, now: int) -> NewService:
    parts = parse_event(
        as_object(body),
        now=now,
        own=SERVICE_FIELDS,
        end=False,
        max_key_length=ctx.max_key_length,
    )
    own = parts.own
    customer_id = identity(own["customer_id"], "customer_id") if "customer_id" in own else None
    contact_key = identity(own["contact_key"], "contact_key") if "contact_key" in own else None
    if customer_id is None and contact_key is None:
        raise BadRequest("customer_id or contact_key is required to start a service")
    props: JsonObject = {}
    type_key = None
    if "service_type" in own:
        props["service_type"], type_key = type_value(own["service_type"], "service_type")
    est = optional_int(own, "est_duration")
    if est is not None:
        props["est_duration"] = est
    auto = ctx.auto_complete_after
    if "auto_complete_after" in own:
        auto = parse_duration(own["auto_complete_after"], field="auto_complete_after")
        props["auto_complete_after"] = auto
    expires_at = parts.expires_at
    if expires_at is None:
        expires_at = now + ctx.expiration * 1000
    if expires_at <= now:
        raise BadRequest("expiration_time is in the past: the service would never be seen")
    return NewService(
        service_id=new_service_id(now),
        customer_id=customer_id,
        contact_key=contact_key,
        type_key=type_key,
        props=props,
        started_at=parts.at,
        started=parts.event,
        data=parts.data,
        expires_at=expires_at,
        auto_complete_after=auto,
    )


def parse_ending(ctx: JourneyContext, body: Json, *, now: int) -> tuple[Ending, Touch]:
    """An end body. Start-only fields (clients often send the start body again) are ignored."""
    parts = parse_event(
        as_object(body), now=now, own=frozenset(), end=True, max_key_length=ctx.max_key_length
    )
    return Ending(parts.at, parts.event, parts.data), Touch(now, parts.expires_at)


async def start_service(ctx: JourneyContext, *, space: Space, body: Json) -> str:
    new = parse_service_start(ctx, body, now=now_ms(ctx.clock))
    await ctx.store.start_service(space, new)
    return new.service_id


async def end_service(ctx: JourneyContext, *, space: Space, service_id: str, body: Json) -> None:
    service_id = service_id_of(service_id)
    ending, touch = parse_ending(ctx, body, now=now_ms(ctx.clock))
    await ctx.store.end_service(space, service_id, ending, touch)


async def get_service(
    ctx: JourneyContext, *, space: Space, service_id: str, params: filters.Params
) -> JsonObject:
    nested = filters.nested(params)
    ext = filters.extensions(params)
    record = await ctx.store.get_service(space, service_id_of(service_id), nested)
    return render_service(record, ext, nested)


async def delete_service(ctx: JourneyContext, *, space: Space, service_id: str) -> None:
    await ctx.store.delete_service(space, service_id_of(service_id))


async def set_expiry(ctx: JourneyContext, *, space: Space, service_id: str, body: Json) -> str:
    """`PUT /services/{id}` with `ttl` (wins) or `expiration_time`; returns the new expiry."""
    service_id = service_id_of(service_id)
    now = now_ms(ctx.clock)
    expires_at = expiry(as_object(body), now=now)
    if expires_at is None:
        raise BadRequest("send ttl (seconds) or expiration_time (ISO 8601) to set the expiry")
    await ctx.store.set_expiry(space, service_id, Touch(now, expires_at))
    return format_time(expires_at)


async def associate(
    ctx: JourneyContext, *, space: Space, customer_id: str, service_id: str, body: Json
) -> None:
    """Give a service to a customer (off any earlier one). Event fields in the body update the
    start event (not its timestamp: the start stays where it happened), other keys the
    attached data; service start fields (contact_key, service_type, ...) are ignored."""
    service_id = service_id_of(service_id)
    customer = identity(customer_id, "customer_id")
    if customer is None:
        raise BadRequest("customer_id must not be empty")
    now = now_ms(ctx.clock)
    parts = parse_event(
        as_object(body),
        now=now,
        own=SERVICE_FIELDS,
        end=False,
        max_key_length=ctx.max_key_length,
    )
    started = {key: value for key, value in parts.event.items() if key in EVENT_FIELDS}
    association = Association(customer, started, parts.data)
    await ctx.store.associate(space, service_id, association, Touch(now, parts.expires_at))


async def put_extension(
    ctx: JourneyContext,
    *,
    space: Space,
    service_id: str,
    kind: Kind | None,
    raw_item_id: str | None,
    name: str,
    value: Json,
) -> None:
    """Replace one attached-data key of a service, state or task with the body (any JSON)."""
    service_id = service_id_of(service_id)
    check_key(text(name, "the extension name", ctx.max_key_length), ctx.max_key_length)
    item = None
    if kind is not None and raw_item_id is not None:
        item = (kind, path_item_id(kind, raw_item_id))
    touch = Touch(now_ms(ctx.clock))
    await ctx.store.put_extension(space, service_id, item, name, value, touch)


def path_item_id(kind: Kind, raw: str) -> int:
    """A state or task id from a URL; one that is not a number cannot exist (404)."""
    try:
        return item_id(raw, f"{kind}_id")
    except BadRequest as exc:
        raise NotFound(f"{kind} {raw[:40]} not found") from exc


async def query_services(
    ctx: JourneyContext,
    *,
    space: Space,
    status: Status,
    params: filters.Params,
    customer_id: str | None = None,
    contact_key: str | None = None,
) -> tuple[list[JsonObject], int | None]:
    """One page of a customer's services, or of a contact key's anonymous services, newest
    first; and the offset of the next page when there may be one."""
    if customer_id is not None:
        customer_id = text(customer_id, "customer_id")
    if contact_key is not None:
        contact_key = text(contact_key, "contact_key")
    query = filters.service_query(
        params,
        space=space,
        status=status,
        customer_id=customer_id,
        contact_key=contact_key,
        page_size=ctx.config.page_size,
        max_page_size=ctx.config.max_page_size,
    )
    nested = filters.nested(params)
    ext = filters.extensions(params)
    # One row more than the page tells whether another page follows, at no extra query.
    records = await ctx.store.query_services(replace(query, limit=query.limit + 1), nested)
    more = query.offset + query.limit if len(records) > query.limit else None
    return [render_service(record, ext, nested) for record in records[: query.limit]], more
