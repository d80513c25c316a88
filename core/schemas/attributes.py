"""Custom attributes: the fields an organisation's CRM has beyond the canonical ones.

A lead or customer carries them in ``attributes``, a map of name to value (text, a
number, true/false, a date as ``YYYY-MM-DD``). The schema checks their shape only
(names, sizes, plain values), so a record stays valid on its own; which names exist
and what type each holds is declared in the settings (``[attributes.lead]``,
``[attributes.customer]``) and checked on write by :meth:`AttributeCatalog.check`, so
a misspelt name or a number sent as text is refused with an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

#: An attribute's name: lower-case letters, digits and ``_``, starting with a letter.
AttributeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]

#: An attribute's text value, at most 1,000 characters.
AttributeText = Annotated[str, Field(max_length=1000)]

#: A finite number (NaN and infinities refused).
AttributeNumber = Annotated[float, Field(allow_inf_nan=False)]

#: One attribute value as stored: true/false, an integer, a number or text.
AttributeValue = StrictBool | StrictInt | AttributeNumber | AttributeText

#: The attributes of one record; at most 100.
Attributes = Annotated[dict[AttributeName, AttributeValue], Field(max_length=100)]

AttributeType = Literal["text", "number", "boolean", "date", "choice"]


class AttributesRefused(ValueError):
    """Attributes that do not match their declaration; the message names each one."""


class AttributeSpec(BaseModel):
    """The declaration of one custom attribute: its type and, for ``choice``, its values.

    ``label`` is what pages show (the name when unset).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AttributeType
    choices: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    label: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _choices_for_choice(self) -> Self:
        """Require choices for a ``choice`` attribute, and only for it."""
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice attribute needs choices")
        if self.type != "choice" and self.choices:
            raise ValueError(f"choices apply to choice attributes, not to {self.type}")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError("choices must be distinct")
        return self

    def json_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of this attribute's values, for the OpenAPI document."""
        schemas: dict[str, dict[str, Any]] = {
            "text": {"type": "string", "maxLength": 1000},
            "number": {"type": "number"},
            "boolean": {"type": "boolean"},
            "date": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            "choice": {"type": "string", "enum": list(self.choices)},
        }
        schema = schemas[self.type]
        return {**schema, "title": self.label} if self.label else schema

    def problem(self, value: object) -> str | None:
        """Return why ``value`` does not fit this declaration, or None when it does."""
        if self.type == "boolean":
            return None if isinstance(value, bool) else "expected true or false"
        if self.type == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return None if ok else "expected a number"
        if not isinstance(value, str):
            return "expected text" if self.type == "text" else f"expected a {self.type} as text"
        if self.type == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                return "expected a date as YYYY-MM-DD"
            return None if len(value) == 10 else "expected a date as YYYY-MM-DD"
        if self.type == "choice" and value not in self.choices:
            return f"expected one of {', '.join(self.choices)}"
        return None


class AttributeCatalog(BaseModel):
    """The declared custom attributes of each record type (``lead``, ``customer``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead: dict[AttributeName, AttributeSpec] = Field(default_factory=dict)
    customer: dict[AttributeName, AttributeSpec] = Field(default_factory=dict)

    def declared(self, record_type: str) -> Mapping[str, AttributeSpec]:
        """Return the attributes declared for ``record_type`` (none for other types)."""
        if record_type == "lead":
            return self.lead
        if record_type == "customer":
            return self.customer
        return {}

    def json_schema(self, record_type: str) -> dict[str, Any]:
        """Return the JSON Schema of ``record_type``'s attributes: the declared ones only."""
        declared = self.declared(record_type)
        return {
            "type": "object",
            "properties": {name: spec.json_schema() for name, spec in sorted(declared.items())},
            "additionalProperties": False,
        }

    def check(self, record_type: str, attributes: Mapping[str, object]) -> None:
        """Raise AttributesRefused naming every undeclared attribute and every wrong value."""
        declared = self.declared(record_type)
        problems = []
        for name, value in sorted(attributes.items()):
            spec = declared.get(name)
            if spec is None:
                known = ", ".join(sorted(declared)) or "none are declared"
                problems.append(f"attributes.{name}: not declared for {record_type} ({known})")
            elif (problem := spec.problem(value)) is not None:
                problems.append(f"attributes.{name}: {problem}, got {value!r}")
        if problems:
            raise AttributesRefused("; ".join(problems))


__all__ = [
    "AttributeCatalog",
    "AttributeName",
    "AttributeSpec",
    "AttributeType",
    "AttributeValue",
    "Attributes",
    "AttributesRefused",
]
