"""Base classes and reusable field types of the canonical model."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.json_limits import FORBIDDEN_MESSAGE, RefusedJSON, check

#: What an id may be made of: letters, digits and ``. _ : @ -``, not dots alone (``.``
#: and ``..`` would name another path in a target's URL). 1 to 128 characters.
ID_PATTERN = r"^[A-Za-z0-9._:@-]*[A-Za-z0-9_:@-][A-Za-z0-9._:@-]*$"
MAX_ID = 128

#: Identifier chosen by the calling system (the CRM's own id).
RecordId = Annotated[str, Field(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)]

#: A name crm-sync gives: a plugin, a document type. Shaped like an id, 64 at most.
NameId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]

#: An id another system chose (a message id, a webhook's event id), kept as sent:
#: 1 to 256 characters, any but dots alone.
ExternalId = Annotated[
    str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]*[^.\x00][^\x00]*$")
]

#: Validation context of a record read back from its table (``model_validate(data,
#: context=STORED)``). It was checked in full when it was written, so the checks that
#: only guard input (NUL and surrogates in text, phone numbers' ranges) are skipped:
#: they cost more than the rest of the validation together, and a sync job reads every
#: record it pushes. The types are still built (decimals, dates, nested models).
STORED: dict[str, bool] = {"stored": True}


def from_store(info: ValidationInfo) -> bool:
    """Whether the value being validated is a stored record read back (see STORED)."""
    context = info.context
    return isinstance(context, dict) and context.get("stored") is True


#: Exact money amount; never a float.

#: ISO 4217 currency code; IRR unless the caller says otherwise.
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


def _present(names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "required": list(names),
        "properties": {name: {"not": {"type": "null"}} for name in names},
    }


def exactly_one(*names: str) -> dict[str, Any]:
    """JSON Schema: exactly one of ``names`` is given (present and not null).

    The cross-field rules of the models are stated with these in their JSON Schema, so
    the OpenAPI document carries them and a generated client honours them.
    """
    return {
        "oneOf": [
            {
                "required": [name],
                "properties": {
                    other: {"not": {"type": "null"}} if other == name else {"type": "null"}
                    for other in names
                },
            }
            for name in names
        ]
    }


def at_least_one(*names: str, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """JSON Schema: at least one of ``names`` is given, or one of ``lists`` is not empty."""
    filled = [
        {"required": [name], "properties": {name: {"type": "array", "minItems": 1}}}
        for name in lists
    ]
    return {"anyOf": [*(_present((name,)) for name in names), *filled]}


def required_when(field: str, value: str, *names: str) -> dict[str, Any]:
    """JSON Schema: when ``field`` is ``value``, ``names`` are given."""
    return {
        "if": {"required": [field], "properties": {field: {"const": value}}},
        "then": _present(names),
    }


def null_unless(field: str, values: tuple[str, ...], name: str) -> dict[str, Any]:
    """JSON Schema: ``name`` is null or absent unless ``field`` is one of ``values``.

    An absent ``field`` counts as not one of them (its default is never among them).
    """
    return {
        "if": {"not": {"required": [field], "properties": {field: {"enum": list(values)}}}},
        "then": {"properties": {name: {"type": "null"}}},
    }


def together(*names: str) -> dict[str, Any]:
    """JSON Schema: ``names`` are all given or none is."""
    return {"anyOf": [_present(names), {"properties": {name: {"type": "null"} for name in names}}]}


class CanonicalModel(BaseModel):
    """Base of every canonical write schema: unknown fields are refused, text stays as sent.

    ``system_fields`` names the fields other systems write back (an invoice number from
    the ERP, a score from lead scoring): a PUT from the CRM that leaves one out keeps its
    stored value instead of erasing it; a PUT that sends it (even as null) sets it.
    """

    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=False)
    system_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse text holding NUL or an unpaired surrogate, whoever writes the record.

        The API's body guard refuses them first; this holds for plugins writing records
        from what a target sent, so no database ever receives such text. A stored record
        read back (``context=STORED``) passed this check when it was written.
        """
        if isinstance(value, str | list | dict) and not from_store(info):
            try:
                check(value)
            except RefusedJSON:
                raise ValueError(FORBIDDEN_MESSAGE) from None
        return value
