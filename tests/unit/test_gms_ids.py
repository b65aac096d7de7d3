"""Service and area ids (cxgate.gms.context.new_id): what `str(uuid.uuid4())` gave."""

from __future__ import annotations

import re
import uuid

from cxgate.gms.context import new_id

UUID4_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_new_ids_are_random_uuid4_texts() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        assert UUID4_TEXT.fullmatch(text)
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
    # The variant keeps two bits free: all four values come up.
    assert {text[19] for text in ids} == set("89ab")
