"""Bayeux channel names: validation, wildcard matching and the subscription index.

A channel name is `/segment/segment/...`. Segments use the Bayeux 1.0 token characters
(ASCII letters, digits and `- _ ! ~ ( ) $ @`) plus `.`, which real deployments put in
channel names. Only the last segment may be a wildcard: `*` matches exactly one segment
(`/a/*` matches `/a/b`, not `/a/b/c` nor `/a`), `**` one or more (`/a/**` matches `/a/b`
and `/a/b/c`, not `/a`).

`/meta/**` channels are the protocol itself: nobody subscribes or publishes to them.
`/service/**` channels are client-to-server requests: a publish to one is acknowledged but
never reaches another client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_SEGMENT = re.compile(r"[A-Za-z0-9\-_!~()$@.]+")
WILDCARDS = frozenset({"*", "**"})


def segments(name: object, *, wildcard: bool = False) -> tuple[str, ...] | None:
    """The segments of a valid channel name, or None; `wildcard` allows a `*`/`**` tail."""
    if not isinstance(name, str) or not name.startswith("/") or len(name) < 2:
        return None
    parts = tuple(name[1:].split("/"))
    last = len(parts) - 1
    for index, part in enumerate(parts):
        if wildcard and index == last and part in WILDCARDS:
            continue
        if _SEGMENT.fullmatch(part) is None:
            return None
    return parts


def is_valid(name: object, *, wildcard: bool = False) -> bool:
    return segments(name, wildcard=wildcard) is not None


def is_wildcard(name: str) -> bool:
    return name.endswith(("/*", "/**"))


def is_meta(name: str) -> bool:
    return name == "/meta" or name.startswith("/meta/")


def is_service(name: str) -> bool:
    return name == "/service" or name.startswith("/service/")


def matching_patterns(channel: str) -> Iterator[str]:
    """Every subscription pattern that matches the concrete `channel`, the channel included.

    `/a/b/c` is matched by `/a/b/c`, `/a/b/*`, `/**`, `/a/**` and `/a/b/**`: looking those up
    in a dict costs one probe per segment, however many subscriptions exist.
    """
    yield channel
    parts = channel[1:].split("/")
    parent = "/" + "/".join(parts[:-1]) if len(parts) > 1 else ""
    yield parent + "/*"
    prefix = ""
    for part in parts[:-1]:
        yield prefix + "/**"
        prefix += "/" + part
    yield prefix + "/**"


def matches(pattern: str, channel: str) -> bool:
    """Whether the subscription `pattern` (maybe a wildcard) matches the concrete `channel`."""
    return pattern in set(matching_patterns(channel))


class SubscriptionIndex:
    """Which subscribers hold which patterns, keyed by pattern for O(depth) delivery lookups."""

    def __init__(self) -> None:
        self._by_pattern: dict[str, set[str]] = {}

    def add(self, pattern: str, subscriber: str) -> None:
        self._by_pattern.setdefault(pattern, set()).add(subscriber)

    def discard(self, pattern: str, subscriber: str) -> None:
        holders = self._by_pattern.get(pattern)
        if holders is None:
            return
        holders.discard(subscriber)
        if not holders:
            # Dropping empty sets is what keeps the index from growing with every channel
            # anyone ever subscribed to.
            del self._by_pattern[pattern]

    def discard_all(self, patterns: Iterable[str], subscriber: str) -> None:
        for pattern in patterns:
            self.discard(pattern, subscriber)

    def subscribers(self, channel: str) -> set[str]:
        """Subscribers of any pattern matching the concrete `channel`, each once."""
        found: set[str] = set()
        for pattern in matching_patterns(channel):
            holders = self._by_pattern.get(pattern)
            if holders:
                found |= holders
        return found

    def __len__(self) -> int:
        """How many distinct patterns have at least one subscriber."""
        return len(self._by_pattern)
