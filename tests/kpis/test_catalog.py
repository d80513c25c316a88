"""Each KPI against the hand-computed answers of the seeded history (tests/kpis/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from core.db.engine import reading
from kpis.catalog import KPIS, Context, Figure
from kpis.periods import parse_period
from kpis.queries import Bounds, Dimension, UnsupportedDimension, lost_reasons
from tests.kpis.conftest import CALENDAR


def compute(
    engine: Engine, name: str, period: str, by: Dimension | None = None
) -> dict[Any, Figure]:
    """The figures of KPI ``name`` in ``period`` grouped ``by``."""
    span = parse_period(period)
    with reading(engine) as connection:
        return KPIS[name].figures(connection, Bounds(span.start, span.end), by, Context(CALENDAR))


def value(engine: Engine, name: str, period: str = "1404-07") -> float | None:
    """The whole organisation's value of ``name`` in ``period``."""
    return compute(engine, name, period)[None].value


def test_lead_to_opportunity(engine: Engine) -> None:
    # Qualified in Mehr: L1, L2, L5 (L3 on Shahrivar 30, L4 at 23:55 on Shahrivar 31).
    # Opened from leads in Mehr: O1 (L1), O2 (L3); O3 (L5) opens in Aban.
    total = compute(engine, "lead_to_opportunity", "1404-07")[None]
    assert (total.numerator, total.denominator) == (2, 3)
    assert total.value == pytest.approx(200 / 3)
    by_agent = compute(engine, "lead_to_opportunity", "1404-07", "agent")
    assert {k: f.value for k, f in by_agent.items()} == {"A1": 50.0, "A2": 100.0}
    by_source = compute(engine, "lead_to_opportunity", "1404-07", "source")
    assert {k: f.value for k, f in by_source.items()} == {"web": 50.0, "expo": 100.0}
    by_team = compute(engine, "lead_to_opportunity", "1404-07", "team")
    assert {k: f.value for k, f in by_team.items()} == {"north": 50.0, "south": 100.0}
    # Shahrivar: L3 and L4 qualified, no opportunity opened: a real 0%, not "no data".
    assert value(engine, "lead_to_opportunity", "1404-06") == 0.0


def test_opportunity_to_order_and_win_rate_by_value(engine: Engine) -> None:
    # Closed in Mehr: O1 won 1M, O4 won 2M, O2 lost 4M, O6 lost (no amount); O5 in Aban.
    total = compute(engine, "opportunity_to_order", "1404-07")[None]
    assert (total.numerator, total.denominator, total.value) == (2, 4, 50.0)
    lines = compute(engine, "opportunity_to_order", "1404-07", "product_line")
    assert {k: f.value for k, f in lines.items()} == {"pumps": 100.0, "valves": 0.0}
    by_source = compute(engine, "opportunity_to_order", "1404-07", "source")
    assert {k: (f.numerator, f.denominator) for k, f in by_source.items()} == {
        "web": (1, 1), "expo": (0, 1), None: (1, 2),
    }  # fmt: skip
    assert value(engine, "win_rate_by_value") == pytest.approx(300 / 7)
    assert value(engine, "average_won_value") == 1_500_000


def test_cycle_length_and_pipeline_velocity(engine: Engine) -> None:
    # Won in Mehr: O1 after 10 days, O4 after 30. Open when Mehr ends: O7, and O5 (lost in Aban).
    assert value(engine, "cycle_length") == pytest.approx(20.0)
    velocity = compute(engine, "pipeline_velocity", "1404-07")[None]
    assert velocity.details["open"] == 2
    assert velocity.value == pytest.approx(2 * 1_500_000 * 0.5 / 20)
    by_agent = compute(engine, "cycle_length", "1404-07", "agent")
    assert {k: round(f.value or 0, 6) for k, f in by_agent.items()} == {"A1": 10.0, "A2": 30.0}


def test_lost_reasons(engine: Engine) -> None:
    span = parse_period("1404-07")
    with reading(engine) as connection:
        assert lost_reasons(connection, Bounds(span.start, span.end)) == [
            ("price", 1),
            ("timing", 1),
        ]


def test_first_response_time_in_working_minutes(engine: Engine) -> None:
    # L1 answered after 30 minutes; L2 came on Thursday at 16:00 (closed since 13:00) and
    # was answered on Saturday at 08:20: 20 working minutes; L5 came at 00:10 and was
    # answered at 08:45: 45; L3 has only a note: unanswered. L4 belongs to Shahrivar.
    total = compute(engine, "first_response_time", "1404-07")[None]
    assert total.value == pytest.approx(95 / 3)
    assert total.details == {"median": 30.0, "unanswered": 1}
    assert total.count == 3
    by_agent = compute(engine, "first_response_time", "1404-07", "agent")
    assert by_agent["A1"].value == 25.0
    assert by_agent["A2"].details == {"median": 45.0, "unanswered": 1}
    # L4 was answered at 23:59 the night it came: no working time passed.
    assert value(engine, "first_response_time", "1404-06") == 0.0


def test_average_response_time_counts_turns_not_messages(engine: Engine) -> None:
    # M1+M2 are one turn answered 20 minutes after M1; M4 on Thursday at 12:50 answered on
    # Saturday at 08:05 (10 + 5 working minutes); M6 has only a note after it: unanswered.
    total = compute(engine, "average_response_time", "1404-07")[None]
    assert total.value == pytest.approx(17.5)
    assert total.details == {"median": 17.5, "unanswered": 1}
    by_channel = compute(engine, "average_response_time", "1404-07", "channel")
    assert by_channel["whatsapp"].value == pytest.approx(17.5)
    assert by_channel["email"].value is None
    assert by_channel["email"].details["unanswered"] == 1


def test_on_time_follow_up(engine: Engine) -> None:
    # Due in Mehr: T1 and T2 done in time, T5 done (no done_at: its last change) in time,
    # T3 still open; T4 cancelled is left out, T6 is due in Aban.
    total = compute(engine, "on_time_follow_up", "1404-07")[None]
    assert (total.numerator, total.denominator, total.value) == (3, 4, 75.0)
    by_agent = compute(engine, "on_time_follow_up", "1404-07", "agent")
    assert {k: f.value for k, f in by_agent.items()} == {"A1": 100.0, "A2": 50.0}


def test_touchpoints_to_conversion(engine: Engine) -> None:
    # L1: call, WhatsApp, visit before converting (the note and the later email do not
    # count); L5: email and call.
    assert value(engine, "touchpoints_to_conversion") == 2.5
    by_source = compute(engine, "touchpoints_to_conversion", "1404-07", "source")
    assert {k: f.value for k, f in by_source.items()} == {"web": 3.0, "expo": 2.0}


@pytest.mark.parametrize("name", sorted(KPIS))
def test_an_empty_period_is_no_data(engine: Engine, name: str) -> None:
    # Farvardin 1404: before every record, and before any subscription ran.
    figure = compute(engine, name, "1404-01")[None]
    assert figure.value is None


@pytest.mark.parametrize("name", sorted(KPIS))
def test_a_dimension_a_kpi_lacks_is_refused(engine: Engine, name: str) -> None:
    missing = next(
        d for d in ("channel", "product_line", "source") if d not in KPIS[name].dimensions
    )
    with pytest.raises(UnsupportedDimension, match=f"^{name} cannot"):
        compute(engine, name, "1404-07", missing)  # type: ignore[arg-type]
