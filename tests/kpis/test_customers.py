"""Customers new, returning, won back and lost per month, against a hand-computed history.

Gregorian months in the Tehran zone, a customer lost after 90 days without a purchase.
Purchases are won opportunities at their ``closed_at`` (Tehran wall-clock):

- K1: 10 Jan, 15 Feb, then nothing until 1 Jul (churned then returned), then nothing;
- K2: 3 Feb only;
- K3: 31 Mar 23:50 (still March in Tehran, 20:20 UTC), 20 Apr;
- K4: 5 May and 20 May (new once, not returning within its first month);
- K5: only a lost opportunity; K6 only an open one: neither ever bought.

So, month by month (a lost customer counts in the month its 90 days run out):
Jan new K1 · Feb new K2, returning K1 · Mar new K3 · Apr returning K3 ·
May new K4, lost K1 (15 Feb + 90 = 16 May; next purchase 136 days later) and K2
(3 Feb + 90 = 4 May) · Jun nothing · Jul returning and won back K1, lost K3
(20 Apr + 90 = 19 Jul) · Aug lost K4 (20 May + 90 = 18 Aug) · Sep lost K1 (1 Jul + 90
= 29 Sep). Active at the start of May (bought 31 Jan - 30 Apr): K1, K2, K3; of July
(2 Apr - 30 Jun): K3, K4.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from kpis.customers import customer_trend
from kpis.periods import parse_period
from tests.kpis.conftest import database, iso, put, tehran

SEPTEMBER = parse_period("2025-09")


def seed_customers(engine: Engine) -> None:
    """The purchases of the module docstring."""
    early = tehran(1, 1, year=2025)
    for cid in ("K1", "K2", "K3", "K4", "K5", "K6"):
        put(engine, "customer", cid, {"type": "organization", "name": cid}, early)

    def deal(oid: str, customer: str, closed: datetime, status: str = "won") -> None:
        body: dict[str, Any] = {"customer_id": customer, "title": oid, "stage": "won",
                                "status": status, "opened_at": iso(early)}  # fmt: skip
        if status != "open":
            body["closed_at"] = iso(closed)
        if status == "lost":
            body["lost_reason"] = "price"
        put(engine, "opportunity", oid, body, closed)

    deal("P1", "K1", tehran(1, 10, year=2025))
    deal("P2", "K1", tehran(2, 15, year=2025))
    deal("P3", "K1", tehran(7, 1, year=2025))
    deal("P4", "K2", tehran(2, 3, year=2025))
    deal("P5", "K3", tehran(3, 31, 23, 50, year=2025))
    deal("P6", "K3", tehran(4, 20, year=2025))
    deal("P7", "K4", tehran(5, 5, year=2025))
    deal("P8", "K4", tehran(5, 20, year=2025))
    deal("P9", "K5", tehran(3, 10, year=2025), status="lost")
    deal("P10", "K6", tehran(3, 10, year=2025), status="open")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database holding only the customers' purchases."""
    folder: Path = tmp_path_factory.mktemp("customers")
    with database(request.param, folder) as url:
        built = create_db_engine(url)
        upgrade(built)
        seed_customers(built)
        yield built
        built.dispose()


def test_new_returning_won_back_and_lost_month_by_month(engine: Engine) -> None:
    trend = customer_trend(engine, SEPTEMBER, periods=9, lost_after_days=90)
    assert [c.period.label for c in trend] == [f"2025-{m:02d}" for m in range(1, 10)]
    table = [(c.new, c.returning, c.won_back, c.lost) for c in trend]
    assert table == [
        (1, 0, 0, 0),  # Jan
        (1, 1, 0, 0),  # Feb
        (1, 0, 0, 0),  # Mar: K3 at 23:50 Tehran time is a March customer
        (0, 1, 0, 0),  # Apr
        (1, 0, 0, 2),  # May
        (0, 0, 0, 0),  # Jun
        (0, 1, 1, 1),  # Jul: K1 returns after being lost
        (0, 0, 0, 1),  # Aug
        (0, 0, 0, 1),  # Sep
    ]
    may, july = trend[4], trend[6]
    assert (may.active_at_start, may.lost_rate) == (3, pytest.approx(200 / 3))
    assert (july.active_at_start, july.lost_rate, july.active) == (2, 50.0, 1)


def test_no_one_active_is_no_data_not_zero(engine: Engine) -> None:
    january = customer_trend(engine, parse_period("2025-01"), periods=1, lost_after_days=90)[0]
    assert (january.active_at_start, january.lost, january.lost_rate) == (0, 0, None)


def test_a_loss_not_yet_due_is_not_counted(engine: Engine) -> None:
    # On 10 September K1's 90 days (until 29 September) have not run out yet.
    now = tehran(9, 10, year=2025)
    september = customer_trend(engine, SEPTEMBER, periods=1, lost_after_days=90, now=now)[0]
    assert september.lost == 0


def test_a_shorter_window_loses_customers_sooner(engine: Engine) -> None:
    # 30 days: K1 is lost on 17 Mar (15 Feb + 30) and won back in July; K2 on 5 Mar.
    march, april = customer_trend(engine, parse_period("2025-04"), periods=2, lost_after_days=30)
    assert (march.lost, april.lost) == (2, 0)
    july = customer_trend(engine, parse_period("2025-07"), periods=1, lost_after_days=30)[0]
    assert (july.returning, july.won_back) == (1, 1)


def test_a_bad_window_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="lost_after_days"):
        customer_trend(engine, SEPTEMBER, periods=1, lost_after_days=0)
    with pytest.raises(ValueError, match="periods"):
        customer_trend(engine, SEPTEMBER, periods=0, lost_after_days=90)
