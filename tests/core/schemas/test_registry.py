"""The kind registry: every kind's schema, table and lookup columns, and the stored round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from core.db.base import Base, RecordMixin
from core.kinds import KINDS, Kind, kind_by_name, kind_by_type
from core.schemas.leads import Opportunity
from core.schemas.parties import Customer
from core.schemas.registry import KIND_LIST

Bodies = dict[str, dict[str, Any]]

NAMES_AND_TYPES = {
    "customers": ("customer", "customers"),
    "contacts": ("contact", "contacts"),
    "leads": ("lead", "leads"),
    "opportunities": ("opportunity", "opportunities"),
    "products": ("product", "products"),
    "proformas": ("proforma", "proformas"),
    "orders": ("order", "orders"),
    "reservations": ("reservation", "reservations"),
    "returns": ("return", "returns"),
    "production": ("production_status", "production_statuses"),
    "interactions": ("interaction", "interactions"),
    "tasks": ("task", "tasks"),
    "agents": ("agent", "agents"),
    "cases": ("service_case", "service_cases"),
    "surveys": ("survey_answer", "survey_answers"),
    "subscriptions": ("subscription", "subscriptions"),
    "events": ("event", "events"),
}

#: Columns every record table has; the rest of a table's columns come from index().
MIXIN_COLUMNS = {"id", "version", "digest", "data", "created_at", "updated_at"}

ALL_KINDS = pytest.mark.parametrize("name", sorted(NAMES_AND_TYPES))


def stored_dump(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    """Validate ``body`` and return what the store keeps, through real JSON text."""
    model = kind.schema.model_validate(body)
    data = model.model_dump(mode="json", exclude_computed_fields=True)
    return dict(json.loads(json.dumps(data, ensure_ascii=False)))


def test_kinds_are_importable_from_core_kinds() -> None:
    assert list(KINDS) == [kind.name for kind in KIND_LIST]
    assert set(KINDS) == set(NAMES_AND_TYPES)
    for name, kind in KINDS.items():
        type_, table_name = NAMES_AND_TYPES[name]
        assert kind.type == type_
        assert inspect(kind.table).local_table is Base.metadata.tables[table_name]
    assert kind_by_name("production") is kind_by_type("production_status")
    assert kind_by_name("unknown") is None


def test_every_kind_has_an_example(bodies: Bodies) -> None:
    assert set(bodies) == set(KINDS)


@ALL_KINDS
def test_index_returns_exactly_the_tables_extra_columns(name: str, bodies: Bodies) -> None:
    kind = KINDS[name]
    columns = {column.name for column in inspect(kind.table).columns}
    assert columns >= MIXIN_COLUMNS
    model = kind.schema.model_validate(bodies[name])
    assert set(kind.index(model)) == columns - MIXIN_COLUMNS


@ALL_KINDS
def test_index_refuses_another_kinds_record(name: str, bodies: Bodies) -> None:
    other = "agents" if name != "agents" else "customers"
    model = KINDS[other].schema.model_validate(bodies[other])
    with pytest.raises(TypeError, match="expected a"):
        KINDS[name].index(model)


@ALL_KINDS
def test_unknown_fields_are_refused(name: str, bodies: Bodies) -> None:
    body = {**bodies[name], "unexpected": "x"}
    with pytest.raises(ValidationError) as error:
        KINDS[name].schema.model_validate(body)
    assert error.value.errors()[0]["type"] == "extra_forbidden"
    assert error.value.errors()[0]["loc"] == ("unexpected",)


@ALL_KINDS
def test_the_id_is_not_part_of_the_body(name: str, bodies: Bodies) -> None:
    with pytest.raises(ValidationError, match="extra"):
        KINDS[name].schema.model_validate({**bodies[name], "id": "x-1"})


@ALL_KINDS
def test_stored_dump_validates_back_to_an_equal_model(name: str, bodies: Bodies) -> None:
    kind = KINDS[name]
    model = kind.schema.model_validate(bodies[name])
    data = stored_dump(kind, bodies[name])
    again = kind.schema.model_validate(data)
    assert again == model
    assert again.model_dump(mode="json", exclude_computed_fields=True) == data
    assert kind.index(again) == kind.index(model)


@ALL_KINDS
def test_json_body_and_dict_body_give_the_same_model(name: str, bodies: Bodies) -> None:
    kind = KINDS[name]
    body = bodies[name]
    from_text = kind.schema.model_validate_json(json.dumps(body, ensure_ascii=False))
    assert from_text == kind.schema.model_validate(body)


@ALL_KINDS
def test_text_is_stored_exactly_as_sent(name: str, bodies: Bodies) -> None:
    data = stored_dump(KINDS[name], bodies[name])
    for field, value in bodies[name].items():
        if isinstance(value, str) and not field.endswith(("_at", "_date", "date", "eta")):
            assert data[field] == value, field


def test_persian_text_and_digits_round_trip_unchanged(bodies: Bodies) -> None:
    data = stored_dump(KINDS["customers"], bodies["customers"])
    assert data["name"] == "علي  كريمي\u200cنژاد"
    assert data["national_id"] == "۰۰۱۳۵۴۲۴۱۹"
    assert data["phones"] == ["۰۹۱۲ ۱۲۳ ۴۵۶۷", "(021) 8888-1234"]
    assert data["addresses"][0]["postal_code"] == "۱۴۳۴۸۶۳۱۱۱"
    interaction = stored_dump(KINDS["interactions"], bodies["interactions"])
    assert interaction["text"] == "سلام، قیمت پمپ ۲ اینچ چند است؟ كد ۱۲۳"


def test_stored_dump_leaves_out_computed_totals(bodies: Bodies) -> None:
    data = stored_dump(KINDS["proformas"], bodies["proformas"])
    assert "total" not in data
    assert "subtotal" not in data
    assert all("net" not in line and "total" not in line for line in data["lines"])


def test_customer_index_normalises_for_matching(bodies: Bodies) -> None:
    customer = Customer.model_validate(bodies["customers"])
    columns = KINDS["customers"].index(customer)
    assert columns["name"] == "علي  كريمي\u200cنژاد"  # the display name, as sent
    assert columns["national_id"] == "0013542419"
    assert columns["search"] == (
        "علی کریمی نژاد +989121234567 +982188881234 ali.karimi@example.ir 0013542419 0013542419"
    )


def test_lead_index_takes_the_first_phone_and_email(bodies: Bodies) -> None:
    lead = KINDS["leads"].schema.model_validate(bodies["leads"])
    columns = KINDS["leads"].index(lead)
    assert columns["phone_e164"] == "+989351234567"
    assert columns["email"] == "sara@example.com"
    assert (columns["fit_score"], columns["score"], columns["grade"]) == (70, 58, "B")
    bare = KINDS["leads"].schema.model_validate({"contact_name": "x"})
    assert KINDS["leads"].index(bare)["phone_e164"] is None


@ALL_KINDS
def test_rows_store_and_load_on_sqlite(name: str, bodies: Bodies) -> None:
    kind = KINDS[name]
    engine = create_engine("sqlite://")
    table_name = NAMES_AND_TYPES[name][1]
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[table_name]])
    now = datetime(2024, 3, 20, 6, 0, tzinfo=UTC)
    model = kind.schema.model_validate(bodies[name])
    columns = kind.index(model)
    row = cast(Any, kind.table)(
        id="r-1",
        version=1,
        digest="0" * 64,
        data=stored_dump(kind, bodies[name]),
        created_at=now,
        updated_at=now,
        **columns,
    )
    with Session(engine) as session:
        session.add(row)
        session.commit()
    with Session(engine) as session:
        loaded = session.scalars(select(kind.table)).one()
        assert isinstance(loaded, RecordMixin)
        assert {key: getattr(loaded, key) for key in columns} == columns
        assert kind.schema.model_validate(loaded.data) == model


def test_interaction_occurred_at_column_is_aware_utc(bodies: Bodies) -> None:
    model = KINDS["interactions"].schema.model_validate(bodies["interactions"])
    occurred_at = KINDS["interactions"].index(model)["occurred_at"]
    assert occurred_at == datetime(2024, 3, 20, 6, 0, tzinfo=UTC)


def test_amounts_stay_decimal_through_the_dump(bodies: Bodies) -> None:
    data = stored_dump(KINDS["opportunities"], bodies["opportunities"])
    assert data["amount"] == "1500000000.50"
    assert Opportunity.model_validate(data).amount == Decimal("1500000000.50")
