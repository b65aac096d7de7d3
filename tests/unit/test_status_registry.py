"""Service records, their stable ids and the `fields` selection of the GWS resource."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxgate.errors import BadRequest, NotFound
from cxgate.status.registry import (
    FIELDS,
    Registry,
    ServiceState,
    ServiceStatus,
    ServiceType,
    parse_fields,
    service_id,
)


def test_ids_are_uuid5_of_type_and_name_and_stable() -> None:
    first = service_id(ServiceType.VOICE, "SIPS1")
    assert first == service_id(ServiceType.VOICE, "SIPS1")
    assert uuid.UUID(first).version == 5
    assert first != service_id(ServiceType.VOICE, "SIPS2")
    assert first != service_id(ServiceType.MEDIA, "SIPS1")


def test_a_new_service_is_inactive_until_probed() -> None:
    service = ServiceStatus.new(ServiceType.PROVISIONING, "Provisioning")
    assert service.state is ServiceState.INACTIVE
    assert service.id == service_id(ServiceType.PROVISIONING, "Provisioning")


def test_resource_lists_fields_in_order_and_leaves_out_missing_ones() -> None:
    voice = ServiceStatus.new(ServiceType.VOICE, "SIPS1", uri="sip:10.0.0.1:5060")
    assert voice.resource() == {
        "id": voice.id,
        "name": "SIPS1",
        "type": "Voice",
        "state": "Inactive",
        "uri": "sip:10.0.0.1:5060",
    }
    media = ServiceStatus.new(ServiceType.MEDIA, "Media")
    assert "uri" not in media.resource()
    assert media.resource(("state", "name")) == {"state": "Inactive", "name": "Media"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("*", FIELDS),
        ("name,state", ("name", "state")),
        (" name , state ,name", ("name", "state")),
        ("uri", ("uri",)),
    ],
)
def test_parse_fields(raw: str | None, expected: tuple[str, ...] | None) -> None:
    assert parse_fields(raw) == expected


@pytest.mark.parametrize("raw", ["", " , ", "name,colour", "*,name", "ID"])
def test_parse_fields_refuses_unknown_or_empty(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_fields(raw)


@given(st.lists(st.sampled_from(FIELDS), min_size=1))
def test_any_list_of_known_fields_parses_to_its_distinct_names(names: list[str]) -> None:
    assert parse_fields(",".join(names)) == tuple(dict.fromkeys(names))


def test_registry_records_changes_only() -> None:
    provisioning = ServiceStatus.new(ServiceType.PROVISIONING, "Provisioning")
    registry = Registry([provisioning])
    changed = registry.set_state(provisioning.id, ServiceState.ACTIVE)
    assert changed is not None
    assert changed.state is ServiceState.ACTIVE
    assert registry.set_state(provisioning.id, ServiceState.ACTIVE) is None
    assert registry.get(provisioning.id).state is ServiceState.ACTIVE
    with pytest.raises(NotFound):
        registry.get("no-such-id")
    assert [s.name for s in registry] == ["Provisioning"]
