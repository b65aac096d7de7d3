"""THE access table: which callers may use which path. Routers never check credentials.

Rules are matched by path prefix and method, first match wins; a path no rule names needs an
authenticated caller (deny by default), so a new route is protected before anyone thinks of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Need(Enum):
    OPEN = "open"  # load balancers, scrapers, the API document
    ANY_USER = "any user"  # any authenticated `[users]` user
    GMS = "gms"  # any user, or GMS's own `[server]` / `[service.NAME]` credentials
    ROLES = "roles"  # a user holding one of `roles`


READS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Rule:
    prefix: str
    methods: frozenset[str]
    need: Need
    roles: frozenset[str] = frozenset()


def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


RULES: tuple[Rule, ...] = (
    Rule("/genesys/1/node", ALL, Need.OPEN),
    Rule("/metrics", ALL, Need.OPEN),
    Rule("/openapi.json", ALL, Need.OPEN),
    Rule("/genesys/1/admin/maintenance", READS, Need.ANY_USER),
    Rule("/genesys/1/admin/maintenance", ALL, Need.ROLES, _roles("admin")),
    Rule("/genesys/1/cs", READS, Need.ROLES, _roles("admin", "apiuser", "supervisor")),
    Rule("/genesys/1/cs", ALL, Need.ROLES, _roles("admin", "apiuser")),
    Rule("/api/v2", ALL, Need.ROLES, _roles("agent", "supervisor", "admin")),
    Rule("/genesys/1/service", ALL, Need.GMS),
    Rule("/genesys/1/storage", ALL, Need.GMS),
    Rule("/genesys/cometd", ALL, Need.ANY_USER),
    # The console: its API needs a user; its files are open, or the login form could not load.
    Rule("/console/api", ALL, Need.ANY_USER),
    Rule("/console", READS, Need.OPEN),
)
DEFAULT = Rule("/", ALL, Need.ANY_USER)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def rule_for(path: str, method: str) -> Rule:
    for rule in RULES:
        if _under(path, rule.prefix) and method in rule.methods:
            return rule
    return DEFAULT
