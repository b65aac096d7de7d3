"""Configuration problems the console highlights: only what would really go wrong.

The file was validated at startup (unknown built-ins, undefined `_resource_group` pools, plain
passwords and empty pools already stop the server), so these are the mistakes that validation
lets through: a default pool that does not exist, a parameter no code reads, a credential that is
not enforced, a number shared by two pools, and an http service whose endpoint does not answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx

from cxgate.config import FileConfig, ServiceSection
from cxgate.console.summary import ACCESS_BUILTINS, group_of, mask_url
from cxgate.gms.builtins.access import DEFAULT_GROUP

Severity = Literal["error", "warning", "info"]

# The parameters each built-in reads (SPEC section 3); any other `_` key configured is ignored.
BUILTIN_PARAMETERS: dict[str, frozenset[str]] = {
    "session": frozenset(),
    "request-interaction": frozenset(
        {"_phone_number", "_provide_code", "_resource_group", "_access_code_length"}
    ),
    "request-access": frozenset(
        {"_id", "_phone_number", "_provide_code", "_resource_group", "_access_code_length"}
    ),
    "match-interaction": frozenset(
        {"_access_number", "_access_code", "_phone_number", "_return_user_data"}
    ),
}
PROBE_TIMEOUT = 2.0  # seconds an http service's endpoint gets to answer the console's probe


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    where: str  # the TOML table: `service.NAME`, `resources.NAME`, `users`
    message: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def static_problems(config: FileConfig) -> list[Problem]:
    """What the file alone tells, without calling anything."""
    found: list[Problem] = []
    for name, service in config.service.items():
        found += _service_problems(config, name, service)
    found += _pool_problems(config)
    if not config.service:
        found.append(
            Problem("warning", "service", "no [service.NAME] table: the Service API has nothing")
        )
    if not config.users and not config.server.password:
        found.append(
            Problem(
                "info",
                "users",
                "no [users] table: auth is off, and cxgate binds loopback addresses only "
                "(unless started with --insecure)",
            )
        )
    return found


def _service_problems(config: FileConfig, name: str, service: ServiceSection) -> list[Problem]:
    where = f"service.{name}"
    found: list[Problem] = []
    group = group_of(service)
    if group is not None and group not in config.resources:
        found.append(
            Problem(
                "error",
                where,
                f"reserves from the default pool {DEFAULT_GROUP!r}, and there is no "
                f"[resources.{DEFAULT_GROUP}] table: every creation will fail",
            )
        )
    if group in config.resources and service.service in ACCESS_BUILTINS:
        params = service.parameters
        with_code = params.get("_provide_code", "false").strip().lower() == "true"
        if not with_code and "_provide_code" not in service.overwritable_options:
            size = len(config.resources[group].numbers)
            found.append(
                Problem(
                    "info",
                    where,
                    f"no access codes: a number is held by one service at a time, so at most "
                    f"{size} live reservation{'s' if size != 1 else ''} (the pool {group!r})",
                )
            )
    if service.type == "builtin":
        known = BUILTIN_PARAMETERS.get(service.service, frozenset())
        for key in sorted(set(service.parameters) - known):
            found.append(
                Problem("warning", where, f"{key} is ignored: {service.service} never reads it")
            )
    for key in service.overwritable_options:
        if key != "_ttl" and key not in service.parameters:
            found.append(
                Problem(
                    "info",
                    where,
                    f"_overwritable_options lists {key}, which this table does not set: "
                    "listing it changes nothing",
                )
            )
    if service.username is not None and service.password is None:
        found.append(
            Problem(
                "warning",
                where,
                "a username without a password is not enforced, and it replaces the [server] "
                "credentials for this service: no GMS password protects it",
            )
        )
    return found


def _pool_problems(config: FileConfig) -> list[Problem]:
    found: list[Problem] = []
    owners: dict[str, list[str]] = {}
    for name, pool in config.resources.items():
        for number in pool.numbers:
            owners.setdefault(number, []).append(name)
        if len(set(pool.numbers)) != len(pool.numbers):
            found.append(Problem("info", f"resources.{name}", "lists a number more than once"))
    for number, pools in owners.items():
        distinct = sorted(set(pools))
        if len(distinct) > 1:
            for pool_name in distinct:
                found.append(
                    Problem(
                        "warning",
                        f"resources.{pool_name}",
                        f"{number} is also in {', '.join(p for p in distinct if p != pool_name)}: "
                        "a call to it cannot tell the pools' reservations apart",
                    )
                )
    # A pool no service reserves from, while no request may name another pool, is dead weight.
    open_choice = any(
        "_resource_group" not in svc.parameters or "_resource_group" in svc.overwritable_options
        for svc in config.service.values()
        if svc.type == "builtin" and svc.service in ACCESS_BUILTINS
    )
    used = {group_of(svc) for svc in config.service.values()}
    for name in config.resources:
        if name not in used and not open_choice:
            found.append(Problem("info", f"resources.{name}", "no service reserves from it"))
    return found


async def endpoint_problems(config: FileConfig, http: httpx.AsyncClient) -> list[Problem]:
    """Ask every http service's endpoint whether it answers (any HTTP status counts as an
    answer: the probe is a GET, and endpoints only have to handle POSTs)."""
    services = [(name, svc) for name, svc in config.service.items() if svc.type == "http"]
    answers = await asyncio.gather(*(_probe(http, svc.service) for _, svc in services))
    return [
        Problem("error", f"service.{name}", why)
        for (name, _), why in zip(services, answers, strict=True)
        if why is not None
    ]


async def _probe(http: httpx.AsyncClient, url: str) -> str | None:
    shown = mask_url(url)
    try:
        await http.get(url, timeout=PROBE_TIMEOUT, follow_redirects=False)
    except httpx.TimeoutException:
        return f"the endpoint {shown} did not answer within {PROBE_TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        return f"the endpoint {shown} is unreachable ({type(exc).__name__}): creations get 502"
    return None
