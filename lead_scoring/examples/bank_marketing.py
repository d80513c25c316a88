"""The UCI bank-marketing data set as a stand-in for an organisation's conversion history.

41,188 telemarketing contacts (2008-2010) in time order, ``y`` = 1 when the contact
subscribed. ``duration`` is dropped on loading: a call's length is only known after the
outcome, so it would leak the answer. Rows become model features (for the predictive
model) and :class:`LeadFacts` with the same values as ``attributes.<column>`` (for a
rules file such as ``bank_marketing_rules.toml``).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lead_scoring.facts import AttributeValue, LeadFacts
from lead_scoring.rules import ScoringRules, load_rules

#: The copy bundled with the package (CC BY 4.0, see ``data/README.md``).
BUNDLED_PATH = Path(__file__).with_name("data") / "bank-marketing.csv.gz"

#: Where the data set is read from: ``CRM_SYNC_BANK_MARKETING`` or the bundled copy.
DEFAULT_PATH = Path(os.environ.get("CRM_SYNC_BANK_MARKETING") or BUNDLED_PATH)

#: The bundled rules file written for this data set.
RULES_PATH = Path(__file__).with_name("bank_marketing_rules.toml")

#: Columns dropped: ``duration`` leaks the outcome; ``y`` is the outcome.
DROPPED = frozenset({"duration", "y"})

#: Columns that describe the month's economy, the same for every contact that month.
#: They cannot rank leads contacted at the same time, and a model that learns them
#: extrapolates badly to months unlike any in its history (see docs/lead_scoring.md).
ECONOMIC_INDICATORS = frozenset(
    {"emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed"}
)

#: The columns that describe the customer and the contact history: the model's features.
CUSTOMER_FEATURES = (
    "age", "job", "marital", "education", "default", "housing", "loan",
    "campaign", "pdays", "previous",
)  # fmt: skip

_CREATED_AT = datetime(2008, 5, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BankMarketing:
    """The data set's rows (feature name -> value) and outcomes, in time order."""

    rows: list[dict[str, AttributeValue | None]]
    outcomes: NDArray[np.int8]

    def leads(self) -> list[LeadFacts]:
        """Return each row as a lead whose attributes are the row's columns."""
        return [
            LeadFacts(
                created_at=_CREATED_AT,
                attributes={k: v for k, v in row.items() if v is not None},
            )
            for row in self.rows
        ]


def _value(text: str) -> AttributeValue | None:
    """Return a cell as a number when it is one, else as text; ``unknown`` is missing."""
    if text in {"", "unknown"}:
        return None
    try:
        return Decimal(text)
    except ArithmeticError:
        return text


def load_bank_marketing(path: Path = DEFAULT_PATH, limit: int | None = None) -> BankMarketing:
    """Read the CSV (``;``-separated, gzipped when named ``.gz``) at ``path``.

    ``limit`` keeps only the first rows.
    """
    rows: list[dict[str, AttributeValue | None]] = []
    outcomes: list[int] = []
    with (
        gzip.open(path) if path.suffix == ".gz" else path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle,
    ):
        for record in csv.DictReader(handle, delimiter=";"):
            if limit is not None and len(rows) >= limit:
                break
            rows.append({k: _value(v) for k, v in record.items() if k not in DROPPED})
            outcomes.append(int(record["y"]))
    return BankMarketing(rows, np.array(outcomes, dtype=np.int8))


def bank_marketing_rules() -> ScoringRules:
    """Return the rules file written for this data set."""
    return load_rules(RULES_PATH)
