"""Which paths the store guard covers: whole path segments, never a mere prefix of a name."""

from __future__ import annotations

import pytest

from cxgate.status.guard import is_guarded


@pytest.mark.parametrize(
    "path",
    [
        "/genesys/1/service",
        "/genesys/1/service/request-access",
        "/genesys/1/service/abc/storage/key",
        "/genesys/1/storage/60",
        "/genesys/1/cs/services",
        "/genesys/1/cs",
    ],
)
def test_store_backed_apis_are_guarded(path: str) -> None:
    assert is_guarded(path)


@pytest.mark.parametrize(
    "path",
    [
        "/genesys/1/node",
        "/genesys/1/admin/maintenance",
        "/genesys/1/services",
        "/genesys/1/csv",
        "/api/v2/services",
        "/genesys/cometd",
        "/metrics",
    ],
)
def test_everything_else_is_not(path: str) -> None:
    assert not is_guarded(path)
