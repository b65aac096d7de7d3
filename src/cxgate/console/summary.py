"""The configuration as the console shows it: services and resource pools, never a secret.

Password hashes and GMS credentials are left out entirely; a URL's user and password are masked,
and so is any parameter whose name says it holds a secret (`_api_key`, `_token`, ...).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cxgate.config import FileConfig, ServiceSection
from cxgate.gms.builtins.access import DEFAULT_GROUP

MASK = "********"
_SECRET_NAME = re.compile(r"pass|secret|token|api_?key|credential|auth", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`https://user:pw@host/x` -> `https://********@host/x`; other URLs unchanged."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


def shown_parameters(service: ServiceSection) -> dict[str, str]:
    return {
        key: MASK if _SECRET_NAME.search(key) else value
        for key, value in service.parameters.items()
    }


def _protection(config: FileConfig, service: ServiceSection) -> str:
    """Who may call this service, in the words of SPEC section 2 (never the credentials)."""
    ways = []
    if config.users:
        ways.append("any [users] user")
    if service.password:
        ways.append("its own GMS password")
    elif service.username is None and config.server.password:
        ways.append("the [server] GMS password")
    return " or ".join(ways) or "anyone (auth off: loopback only)"


def describe(config: FileConfig) -> dict[str, Any]:
    services = []
    for name, service in config.service.items():
        services.append(
            {
                "name": name,
                "type": service.type,
                "service": mask_url(service.service) if service.type == "http" else service.service,
                "ttl": service.ttl,
                "resource_group": group_of(service),
                "parameters": shown_parameters(service),
                "overwritable_options": list(service.overwritable_options),
                "protection": _protection(config, service),
            }
        )
    pools = []
    for name, pool in config.resources.items():
        used_by = [s for s, svc in config.service.items() if group_of(svc) == name]
        pools.append(
            {
                "name": name,
                "numbers": list(pool.numbers),
                "allocation": pool.allocation,
                "used_by": used_by,
            }
        )
    return {"services": services, "pools": pools}


ACCESS_BUILTINS = frozenset({"request-interaction", "request-access"})


def group_of(service: ServiceSection) -> str | None:
    """The pool a service reserves from when a request names none; None: it reserves nothing."""
    if service.type != "builtin" or service.service not in ACCESS_BUILTINS:
        return None
    return service.parameters.get("_resource_group", DEFAULT_GROUP)
