"""First contact resolution, CSAT, NPS and the recurring-revenue KPIs against hand-computed answers.

The cases, answers and subscriptions are seeded by tests/kpis/conftest.py
(``seed_service`` and ``seed_revenue``). Mehr 1404 runs from 2025-09-23 to 2025-10-22,
Shahrivar from 2025-08-23, Aban to 2025-11-21, Azar to 2025-12-21.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from core.db.engine import reading
from kpis.catalog import KPIS, Context, Figure
from kpis.periods import parse_period
from kpis.queries import Bounds, Dimension
from kpis.report import build_report
from kpis.settings import KpiSettings
from tests.kpis.conftest import CALENDAR


def compute(
    engine: Engine, name: str, period: str, by: Dimension | None = None, margin: float = 1.0
) -> dict[Any, Figure]:
    """The figures of KPI ``name`` in ``period`` grouped ``by``."""
    span = parse_period(period)
    context = Context(CALENDAR, margin=margin)
    with reading(engine) as connection:
        return KPIS[name].figures(connection, Bounds(span.start, span.end), by, context)


def values(engine: Engine, name: str, period: str, by: Dimension) -> dict[Any, float | None]:
    """Each group's value, rounded to 2 places."""
    return {
        key: None if f.value is None else round(f.value, 2)
        for key, f in compute(engine, name, period, by).items()
    }


def test_first_contact_resolution(engine: Engine) -> None:
    # Resolved in Mehr: K1 (one call; its note is no contact), K2 (an email and a call),
    # K3 (one interaction but reopened before its last resolution), K4 (no agent
    # interaction at all: left out), K5 (one). K6 is open again, K7 resolved in Aban.
    total = compute(engine, "first_contact_resolution", "1404-07")[None]
    assert (total.numerator, total.denominator, total.value) == (2, 4, 50.0)
    assert total.details == {"reopened": 1, "untouched": 1}
    assert values(engine, "first_contact_resolution", "1404-07", "agent") == {
        "A1": 66.67, "A2": 0.0,
    }  # fmt: skip
    # The call channel's only case had no agent interaction: no data, not 0%.
    assert values(engine, "first_contact_resolution", "1404-07", "channel") == {
        "whatsapp": 66.67, "email": 0.0, "call": None,
    }  # fmt: skip
    assert values(engine, "first_contact_resolution", "1404-07", "team") == {
        "north": 66.67, "south": 0.0,
    }  # fmt: skip
    # No case was resolved in Shahrivar.
    assert compute(engine, "first_contact_resolution", "1404-06")[None].value is None
    assert compute(engine, "first_contact_resolution", "1404-08")[None].value == 100.0


def test_csat_mean_and_share_of_four_and_five(engine: Engine) -> None:
    # Mehr: 5, 4 (A1), 3, 5, 5 (A2); the 1 was answered in Aban.
    csat = compute(engine, "csat", "1404-07")[None]
    assert (round(csat.value or 0, 6), csat.count) == (4.4, 5)
    satisfied = compute(engine, "csat_satisfied", "1404-07")[None]
    assert (satisfied.numerator, satisfied.denominator, satisfied.value) == (4, 5, 80.0)
    assert values(engine, "csat", "1404-07", "agent") == {"A1": 4.5, "A2": 4.33}
    assert values(engine, "csat_satisfied", "1404-07", "channel") == {
        "whatsapp": 66.67, "email": 100.0, "call": 100.0,
    }  # fmt: skip
    assert compute(engine, "csat", "1404-08")[None].value == 1.0
    assert compute(engine, "csat", "1404-06")[None].value is None
    assert compute(engine, "csat_satisfied", "1404-06")[None].value is None


def test_nps(engine: Engine) -> None:
    # Mehr: 10, 9 (A1); 9, 7, 3 (A2): three promoters, one detractor, five answers.
    nps = compute(engine, "nps", "1404-07")[None]
    assert (nps.value, nps.count, nps.details) == (40.0, 5, {"promoters": 3, "detractors": 1})
    assert values(engine, "nps", "1404-07", "agent") == {"A1": 100.0, "A2": 0.0}
    assert compute(engine, "nps", "1404-08")[None].value is None


def test_mrr_arr_and_growth(engine: Engine) -> None:
    # Running on 31 Shahrivar: U1 10M, U2 (120M a year: 10M a month), U4 5M = 25M.
    # Running on 30 Mehr: U1 10M, U5 7M, U6 20M = 37M.
    mrr = compute(engine, "mrr", "1404-07")[None]
    assert (mrr.value, mrr.count, mrr.details) == (37_000_000, 3, {"opening": 25_000_000})
    assert compute(engine, "arr", "1404-07")[None].value == 444_000_000
    growth = compute(engine, "mrr_growth", "1404-07")[None]
    assert growth.value == pytest.approx(48.0)
    assert values(engine, "mrr_growth", "1404-07", "product_line") == {
        "support": -50.0, "hosting": 440.0,
    }  # fmt: skip
    # Shahrivar: the same three ran from its start to its end: a real 0% growth.
    assert compute(engine, "mrr_growth", "1404-06")[None].value == 0.0
    # Azar: C3 is back with 8M.
    assert compute(engine, "mrr", "1404-09")[None].value == 45_000_000
    assert compute(engine, "mrr_growth", "1404-09")[None].value == pytest.approx(800 / 37)
    # Khordad: nothing ran on its first day, so growth has no base.
    assert compute(engine, "mrr_growth", "1404-03")[None].value is None


def test_churn_counts_a_customer_who_left_and_came_back_once(engine: Engine) -> None:
    # Mehr: C3's only subscription ended on 1 October: lost, with its 10M of the 25M.
    # C4 switched from U4 to U5 within Mehr: kept.
    customers = compute(engine, "customer_churn", "1404-07")[None]
    assert (customers.numerator, customers.denominator) == (1, 3)
    assert customers.value == pytest.approx(100 / 3)
    revenue = compute(engine, "revenue_churn", "1404-07")[None]
    assert (revenue.numerator, revenue.denominator, revenue.value) == (10e6, 25e6, 40.0)
    assert values(engine, "customer_churn", "1404-07", "product_line") == {
        "support": 50.0, "hosting": 0.0,
    }  # fmt: skip
    # C3 came back in Azar: not a churn of Aban or Azar, nor a negative one.
    assert compute(engine, "customer_churn", "1404-08")[None].value == 0.0
    assert compute(engine, "customer_churn", "1404-09")[None].value == 0.0
    # Over the quarter (Mehr to Azar) C3 ran at the start and at the end: not lost.
    assert compute(engine, "customer_churn", "1404-Q3")[None].value == 0.0
    # Before any subscription ran there is nobody to lose: no data.
    assert compute(engine, "customer_churn", "1404-03")[None].value is None


def test_customer_lifetime_value(engine: Engine) -> None:
    # Mehr: 25M over 3 customers a month, a third of them lost: lifetime 3 months.
    clv = compute(engine, "customer_lifetime_value", "1404-07")[None]
    assert clv.value == pytest.approx(25_000_000)
    assert clv.details["lifetime_months"] == pytest.approx(3.0)
    margin = compute(engine, "customer_lifetime_value", "1404-07", margin=0.6)[None]
    assert margin.value == pytest.approx(15_000_000)
    # Nobody lost in Shahrivar: the lifetime is unbounded, so no data rather than infinity.
    assert compute(engine, "customer_lifetime_value", "1404-06")[None].value is None


def test_the_report_takes_the_margin_from_the_settings(engine: Engine) -> None:
    settings = KpiSettings(gross_margin=60)
    mehr = parse_period("1404-07")
    report = build_report(
        engine, settings, CALENDAR, mehr, names=["customer_lifetime_value"], trend=False
    )
    assert report.lines[0].figure.value == pytest.approx(15_000_000)
    assert report.lines[0].figure.details["margin"] == pytest.approx(60.0)
    for wrong in (0, 101):
        with pytest.raises(ValidationError, match="gross_margin"):
            KpiSettings(gross_margin=wrong)


NEW = ("first_contact_resolution", "csat", "csat_satisfied", "nps", "mrr", "arr", "mrr_growth",
       "customer_churn", "revenue_churn", "customer_lifetime_value")  # fmt: skip


@pytest.mark.parametrize("name", NEW)
def test_every_breakdown_of_the_new_kpis_runs(engine: Engine, name: str) -> None:
    for by in KPIS[name].dimensions:
        groups = compute(engine, name, "1404-07", by)
        assert groups, f"{name} by {by} found no group"
    # The subscriptions name no owner: by agent they are one group of their own, null.
    if "agent" in KPIS[name].dimensions and name in NEW[4:]:
        assert set(compute(engine, name, "1404-07", "agent")) == {None}
