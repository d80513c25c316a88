"""Mapping of canonical customers to the finance system's documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.errors import MappingError, PermanentError
from core.kinds import KINDS
from core.plugin_types import SyncRecord
from plugins.finance.mapping import customer_document, map_record

CUSTOMER: dict[str, Any] = {
    "type": "person",
    "name": "علي  كريمي\u200cنژاد",
    "national_id": "۰۰۱۳۵۴۲۴۱۹",
    "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷", "(021) 8888-1234", "0098 912 000 1111", "+44 20 7946 0958"],
    "emails": ["Ali.Karimi@Example.ir"],
}


def record(data: Any, type_: str = "customer") -> SyncRecord:
    return SyncRecord(
        type=type_,
        id="C-1",
        version=3,
        data=data,
        updated_at=datetime(2024, 3, 20, tzinfo=UTC),
        external_id="ACC-9",
    )


def customer(**changes: Any) -> Any:
    return KINDS["customers"].schema.model_validate({**CUSTOMER, **changes})


def test_a_customer_keeps_its_fields_and_gains_e164_phones() -> None:
    document = map_record(record(customer()))
    assert document["phones_e164"] == [
        "+989121234567",
        "+982188881234",
        "+989120001111",
        "+442079460958",
    ]
    assert document["phones"] == CUSTOMER["phones"]
    assert document["name"] == CUSTOMER["name"]
    assert document["national_id"] == "۰۰۱۳۵۴۲۴۱۹"
    assert document["emails"] == ["Ali.Karimi@Example.ir"]
    assert document == {
        **customer().model_dump(mode="json"),
        "phones_e164": document["phones_e164"],
    }


def test_a_customer_without_phones_gets_an_empty_list() -> None:
    assert map_record(record(customer(phones=[])))["phones_e164"] == []


@pytest.mark.parametrize("phone", ["12", "0912 abc 4567", "+98 21"])
def test_a_bad_phone_is_a_mapping_error(phone: str) -> None:
    # A record stored before its phone rules tightened: the schema would refuse it today.
    stored = KINDS["customers"].schema.model_construct(
        **{**customer().model_dump(), "phones": ["09121234567", phone]}
    )
    with pytest.raises(MappingError) as raised:
        customer_document(record(stored))
    assert isinstance(raised.value, PermanentError)
    assert str(raised.value).startswith("customer C-1: ")


def test_a_kind_the_plugin_does_not_take_is_a_mapping_error() -> None:
    agent = KINDS["agents"].schema.model_validate({"name": "رضا محمدی"})
    with pytest.raises(MappingError, match="does not map agent records"):
        map_record(record(agent, "agent"))
