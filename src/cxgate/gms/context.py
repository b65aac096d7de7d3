"""What a GMS use case needs from the running server, gathered in one object."""

from __future__ import annotations

import itertools
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
