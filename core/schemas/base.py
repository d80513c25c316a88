"""Base classes and reusable field types of the canonical model."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

#: Identifier chosen by the calling system (the CRM's own id).
RecordId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]

#: Exact money amount; never a float.

#: ISO 4217 currency code; IRR unless the caller says otherwise.
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class CanonicalModel(BaseModel):
    """Base of every canonical write schema: unknown fields are refused, text stays as sent.

    ``system_fields`` names the fields other systems write back (an invoice number from
    the ERP, a score from lead scoring): a PUT from the CRM that leaves one out keeps its
    stored value instead of erasing it; a PUT that sends it (even as null) sets it.
    """

    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=False)
    system_fields: ClassVar[frozenset[str]] = frozenset()
