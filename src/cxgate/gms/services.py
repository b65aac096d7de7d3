"""The GMS Service API use cases: create a service, its specific requests, its storage."""

from __future__ import annotations

from typing import Any

from cxgate.backends.base import AreaKind, Value
from cxgate.config import ServiceSection
from cxgate.errors import NotFound
from cxgate.gms.builtins import BUILTINS, HttpStrategy, ServiceLogic, StartCall
from cxgate.gms.context import GmsContext, new_id
from cxgate.gms.values import check_values, is_number, split_parameters

SERVICE = AreaKind.SERVICE


def _definition(ctx: GmsContext, name: str) -> ServiceSection:
    definition = ctx.config.service.get(name)
    if definition is None:
        raise NotFound(f"service {name!r} is not configured")
    return definition


def logic_for(definition: ServiceSection) -> ServiceLogic:
    if definition.type == "http":
        return HttpStrategy(definition.service)
    return BUILTINS[definition.service]


def _effective_params(definition: ServiceSection, sent: dict[str, str]) -> dict[str, str]:
    """GMS's rule: a configured value wins over the request's, unless it is overwritable."""
    merged = dict(sent)
    for key, value in definition.parameters.items():
        if key not in definition.overwritable_options or key not in sent:
            merged[key] = value
    return merged


def _effective_ttl(definition: ServiceSection, params: dict[str, str]) -> int:
    sent = params.get("_ttl", "")
    if "_ttl" in definition.overwritable_options and is_number(sent) and int(sent) > 0:
        return int(sent)
    return definition.ttl


async def create(ctx: GmsContext, *, name: str, fields: dict[str, Value]) -> dict[str, Any]:
    definition = _definition(ctx, name)
    sent, data = split_parameters(fields)
    check_values(data, ctx.limits)
    params = _effective_params(definition, sent)
    call = StartCall(
        name=name,
        definition=definition,
        params=params,
        data=data,
        service_id=new_id(),
        ttl=_effective_ttl(definition, params),
    )
    return await logic_for(definition).start(ctx, call)


async def request(
    ctx: GmsContext, *, service_id: str, request: str, fields: dict[str, Value]
) -> dict[str, Any]:
    """A service-specific request; `update` (add or replace storage keys) exists on every one."""
    info = await ctx.store.areas.info(service_id, kind=SERVICE, owner=None)
    if request == "update":
        _, data = split_parameters(fields)
        check_values(data, ctx.limits)
        await ctx.store.areas.write(service_id, kind=SERVICE, owner=None, values=data)
        return {"_id": service_id}
    definition = ctx.config.service.get(info.label)
    answer = None
    if definition is not None:
        answer = await logic_for(definition).request(ctx, info, request, fields)
    if answer is None:
        raise NotFound(f"service {info.label!r} has no request {request!r}")
    return answer


async def write_storage(ctx: GmsContext, *, service_id: str, fields: dict[str, Value]) -> None:
    check_values(fields, ctx.limits)
    await ctx.store.areas.write(service_id, kind=SERVICE, owner=None, values=fields)


async def read_storage(ctx: GmsContext, *, service_id: str) -> dict[str, str]:
    return await ctx.store.areas.read_strings(service_id, kind=SERVICE, owner=None)


async def read_key(ctx: GmsContext, *, service_id: str, key: str) -> Value:
    return await ctx.store.areas.read_value(service_id, key, kind=SERVICE, owner=None)


async def delete_keys(ctx: GmsContext, *, service_id: str, keys: list[str] | None) -> None:
    await ctx.store.areas.delete_keys(service_id, keys, kind=SERVICE, owner=None)


async def delete(ctx: GmsContext, *, service_id: str) -> None:
    await ctx.store.areas.delete(service_id, kind=SERVICE, owner=None)
    await ctx.store.reservations.release_service(service_id)
