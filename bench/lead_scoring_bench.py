"""Benchmark: bulk rescoring against one-lead-at-a-time scoring.

Scores the same synthetic leads (default rules: 20 rules, up to 12 events per lead)
with :func:`lead_scoring.bulk.score_columns` and with :func:`lead_scoring.scoring.score`
and prints leads/s for each and their ratio. The bulk figure is given twice: scoring
columns that are already built (as core would fill them from a query), and the whole
trip from ``LeadFacts`` objects. It also checks that both paths give the same totals.

    .venv/bin/python bench/lead_scoring_bench.py [--leads 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from lead_scoring.bulk import score_columns
from lead_scoring.columns import EventColumns, LeadColumns
from lead_scoring.examples.synthetic_leads import synthetic_leads
from lead_scoring.rules import default_rules
from lead_scoring.scoring import score

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    """Return the fastest of ``repeat`` timed runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Build the data, time both paths and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rules = default_rules()
    rule_count = len(rules.fit.rules) + len(rules.engagement.rules)
    leads, events = synthetic_leads(args.leads, seed=2025, now=NOW)
    event_count = sum(len(lead_events) for lead_events in events)
    print(f"{args.leads:,} leads, {event_count:,} events, {rule_count} rules")

    lead_columns = LeadColumns.from_facts(leads, rules)
    event_columns = EventColumns.from_facts(events)
    columns_s = best_seconds(
        lambda: score_columns(lead_columns, event_columns, rules, NOW), args.repeat
    )
    whole_s = best_seconds(
        lambda: score_columns(
            LeadColumns.from_facts(leads, rules), EventColumns.from_facts(events), rules, NOW
        ),
        args.repeat,
    )
    start = time.perf_counter()
    one_by_one = [
        score(lead, lead_events, rules, NOW)
        for lead, lead_events in zip(leads, events, strict=True)
    ]
    per_lead_s = time.perf_counter() - start

    bulk = score_columns(lead_columns, event_columns, rules, NOW)
    per_lead_totals = np.array([int(result.total * 100) for result in one_by_one])
    identical = bool((per_lead_totals == bulk.total).all())

    columns_rate = args.leads / columns_s
    whole_rate = args.leads / whole_s
    per_lead_rate = args.leads / per_lead_s
    print(f"bulk, from columns:      {columns_rate:>12,.0f} leads/s  ({columns_s:.3f} s)")
    print(f"bulk, from LeadFacts:    {whole_rate:>12,.0f} leads/s  ({whole_s:.3f} s)")
    print(f"per lead (score()):      {per_lead_rate:>12,.0f} leads/s  ({per_lead_s:.3f} s)")
    print(
        f"ratio bulk/per-lead:     {columns_rate / per_lead_rate:>12.1f}x from columns, "
        f"{whole_rate / per_lead_rate:.1f}x from LeadFacts"
    )
    print(f"same totals on every lead: {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
