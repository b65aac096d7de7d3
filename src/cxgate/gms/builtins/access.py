"""Access numbers and codes: picking a free number of a resource group and reserving it.

The store guarantees that a (number, code) pair is held by one live reservation at a time, on
every node; this module only chooses candidates and retries on a clash.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from cxgate.backends.base import Reservation
from cxgate.clock import iso_utc
from cxgate.errors import BadRequest, PoolExhausted
from cxgate.gms.context import GmsContext
from cxgate.gms.values import is_number

DEFAULT_GROUP = "DNIS"
DEFAULT_CODE_LENGTH = 6
MAX_CODE_LENGTH = 18
_CODE_ATTEMPTS_PER_NUMBER = 8


@dataclass(frozen=True, slots=True)
class AccessRequest:
    group: str
    provide_code: bool
    code_length: int


def parse_access_request(params: dict[str, str]) -> AccessRequest:
    provide = params.get("_provide_code", "false").strip().lower()
    if provide not in ("true", "false"):
        raise BadRequest("_provide_code must be true or false")
    raw_length = params.get("_access_code_length", str(DEFAULT_CODE_LENGTH)).strip()
    if not is_number(raw_length) or not 1 <= int(raw_length) <= MAX_CODE_LENGTH:
        raise BadRequest(f"_access_code_length must be a whole number from 1 to {MAX_CODE_LENGTH}")
    return AccessRequest(
        group=params.get("_resource_group", DEFAULT_GROUP),
        provide_code=provide == "true",
        code_length=int(raw_length),
    )


def _candidate_numbers(ctx: GmsContext, group: str) -> list[str]:
    pool = ctx.config.resources.get(group)
    if pool is None:
        raise BadRequest(f"unknown resource group {group!r}")
    numbers = list(pool.numbers)
    if pool.allocation == "random":
        random.shuffle(numbers)
        return numbers
    start = ctx.next_position(group) % len(numbers)
    return numbers[start:] + numbers[:start]


def _new_code(ctx: GmsContext, length: int) -> str:
    first = secrets.choice(ctx.config.server.code_first_digits())
    return first + "".join(secrets.choice("0123456789") for _ in range(length - 1))


async def reserve_access(
    ctx: GmsContext, request: AccessRequest, *, service_id: str, ttl: int
) -> dict[str, str]:
    """Reserve a number (and a code when asked) for `service_id` until now + ttl.

    Returns `_access_number`, `_expiration_time` and, with a code, `_access_code`;
    raises PoolExhausted when no number is free."""
    now = ctx.clock.now()
    expires_at = now + ttl
    for number in _candidate_numbers(ctx, request.group):
        attempts = _CODE_ATTEMPTS_PER_NUMBER if request.provide_code else 1
        for _ in range(attempts):
            code = _new_code(ctx, request.code_length) if request.provide_code else None
            held = Reservation(number, code, service_id, now, expires_at)
            if await ctx.store.reservations.reserve(held):
                answer = {"_access_number": number, "_expiration_time": iso_utc(expires_at)}
                if code is not None:
                    answer["_access_code"] = code
                return answer
    raise PoolExhausted(f"no access number of resource group {request.group!r} is free; try later")
