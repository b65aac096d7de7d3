"""What a GMS use case needs from the running server, gathered in one object."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from cxgate.backends.base import Store
from cxgate.clock import Clock
from cxgate.config import FileConfig
from cxgate.gms.values import ValueLimits


@dataclass
class GmsContext:
    store: Store
    clock: Clock
    config: FileConfig
    http: httpx.AsyncClient
    limits: ValueLimits = field(default_factory=ValueLimits)
    # Round-robin positions per resource group. Per process on purpose: they only spread load;
    # uniqueness of reservations is enforced by the store, never here.
    _cursors: dict[str, Iterator[int]] = field(default_factory=dict)

    def next_position(self, group: str) -> int:
        return next(self._cursors.setdefault(group, itertools.count()))


def new_id() -> str:
    """A random (version 4) UUID in its usual text form, as `str(uuid.uuid4())` gives it in a
    third of the time (no UUID object in between): every service and area creation makes one."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # variant RFC 4122
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
