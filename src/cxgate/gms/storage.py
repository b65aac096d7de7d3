"""The GMS Storage API use cases: areas of keys with a TTL, optionally owned by a `gms_user`."""

from __future__ import annotations

from cxgate.backends.base import AreaKind, Value
from cxgate.errors import BadRequest
from cxgate.gms.context import GmsContext, new_id
from cxgate.gms.values import check_values, is_number

STORAGE = AreaKind.STORAGE
DEFAULT_TTL = 30


def parse_ttl(raw: str) -> int:
    """Seconds > 0; anything else (0, negative, not a number) means 30, as GMS documents."""
    text = raw.strip()
    if is_number(text) and 0 < int(text) <= 10**9:
        return int(text)
    return DEFAULT_TTL


async def create(ctx: GmsContext, *, ttl: int, owner: str | None, fields: dict[str, Value]) -> str:
    check_values(fields, ctx.limits)
    area_id = new_id()
    await ctx.store.areas.create(
        area_id, kind=STORAGE, label="", owner=owner, ttl=ttl, values=fields
    )
    return area_id


async def create_custom(
    ctx: GmsContext, *, area_id: str, ttl: int, owner: str | None, fields: dict[str, Value]
) -> str:
    if not owner:
        raise BadRequest("a custom storage id needs the gms_user header, which then owns it")
    check_values(fields, ctx.limits)
    await ctx.store.areas.write(
        area_id, kind=STORAGE, owner=owner, values=fields, ttl=ttl, create=True
    )
    return area_id


async def update(
    ctx: GmsContext, *, area_id: str, ttl: int, owner: str | None, fields: dict[str, Value]
) -> None:
    check_values(fields, ctx.limits)
    await ctx.store.areas.write(area_id, kind=STORAGE, owner=owner, values=fields, ttl=ttl)


async def read_all(ctx: GmsContext, *, area_id: str, owner: str | None) -> dict[str, str]:
    return await ctx.store.areas.read_strings(area_id, kind=STORAGE, owner=owner)


async def read_key(ctx: GmsContext, *, area_id: str, key: str, owner: str | None) -> Value:
    return await ctx.store.areas.read_value(area_id, key, kind=STORAGE, owner=owner)


async def delete(ctx: GmsContext, *, area_id: str, owner: str | None) -> None:
    await ctx.store.areas.delete(area_id, kind=STORAGE, owner=owner)
