"""Whatever text a client stores comes back identical, whichever encoding and API wrote it.

Keys: any non-empty Unicode text without NUL, up to TEST_CONFIG's max_key_length (256).
Values: any Unicode text without NUL, empty included. Each example writes a new area (or
service), so examples do not depend on each other.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api

MAX_KEY = 256

# No NUL (refused by design, SPEC: changes nothing) and no lone surrogates (not UTF-8).
_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
# HTML5 multipart form encoding (httpx, browsers) sends `"` and control characters in a field
# name as %22, %0A, ...: the server cannot tell them from a literal %22, so they are left out of
# multipart names only.
_multipart_name_chars = st.characters(
    exclude_categories=["Cs", "Cc"], exclude_characters='"', include_characters="\x1b\x7f"
)

keys = st.text(_chars, min_size=1, max_size=MAX_KEY)
multipart_keys = st.text(_multipart_name_chars, min_size=1, max_size=MAX_KEY)
values = st.text(_chars, max_size=100)

EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _body(encoding: str, data: dict[str, str]) -> dict[str, Any]:
    if encoding == "urlencoded":
        return {"data": data}
    if encoding == "multipart":
        # (None, bytes): a plain field, not a file; httpx then sends multipart even with no file.
        return {"files": [(key, (None, value.encode())) for key, value in data.items()]}
    return {"json": data}


def _data(encoding: str) -> st.SearchStrategy[dict[str, str]]:
    names = multipart_keys if encoding == "multipart" else keys
    return st.dictionaries(names, values, min_size=1, max_size=8)


ENCODINGS = ["urlencoded", "multipart", "json"]


@pytest.mark.parametrize("encoding", ENCODINGS)
@EXAMPLES
@given(draw=st.data())
async def test_storage_area_reads_back_what_was_written(
    api: Api, encoding: str, draw: st.DataObject
) -> None:
    data = draw.draw(_data(encoding), label="data")
    created = await api.client.post("/genesys/1/storage/600", **_body(encoding, data))
    assert created.status_code == 200, created.text
    area_id = created.json()["id"]
    stored = await api.client.get(f"/genesys/1/storage/{area_id}")
    assert stored.status_code == 200
    assert stored.json() == data


@pytest.mark.parametrize("encoding", ENCODINGS)
@EXAMPLES
@given(draw=st.data())
async def test_service_storage_reads_back_what_was_written(
    api: Api, encoding: str, draw: st.DataObject
) -> None:
    data = draw.draw(_data(encoding), label="data")
    created = await api.client.post("/genesys/1/service/store")
    assert created.status_code == 200, created.text
    service_id = created.json()["_id"]
    written = await api.client.post(
        f"/genesys/1/service/{service_id}/storage", **_body(encoding, data)
    )
    assert written.status_code == 200, written.text
    stored = await api.client.get(f"/genesys/1/service/{service_id}/storage")
    assert stored.status_code == 200
    assert stored.json() == data
