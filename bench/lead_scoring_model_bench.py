"""Benchmark: training the predictive model and scoring with it, on 100,000 leads.

Synthetic leads (:mod:`lead_scoring.examples.synthetic_leads`, up to 12 events each)
get ten custom attributes beside their profile, so each has about 30 features:
profile, attributes and the engagement features of its events. Printed:

- features: building every lead's model row from its profile and events;
- training: ``LeadModel.fit`` (target: rows and fit under 30 s), against scikit-learn's
  logistic regression fitted on the same one-hot design in the same run;
- scoring: probabilities and top-3 factors of every lead at once, in leads/s (target:
  above 50,000), against ``explain`` called lead by lead.

    .venv/bin/python bench/lead_scoring_model_bench.py [--leads 100000]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from lead_scoring.examples.synthetic_leads import synthetic_leads
from lead_scoring.predictive import LeadModel
from lead_scoring.service import model_row

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def main() -> None:
    """Build the leads, then time features, training and scoring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    leads, events = synthetic_leads(args.leads, seed=1, now=NOW)
    rng = random.Random(2)
    leads = [
        replace(
            lead,
            attributes={
                **{f"score_{i}": rng.randrange(100) for i in range(5)},
                **{f"answer_{i}": rng.choice("abcdef") for i in range(5)},
            },
        )
        for lead in leads
    ]
    outcomes = np.array(
        [
            int(rng.random() < (0.4 if lead.industry == "تولیدی" or len(e) > 8 else 0.1))
            for lead, e in zip(leads, events, strict=True)
        ]
    )

    started = time.perf_counter()
    rows = [model_row(lead, e, NOW) for lead, e in zip(leads, events, strict=True)]
    features_s = time.perf_counter() - started
    names = {name for row in rows for name in row}
    print(f"{len(rows):,} leads, {len(names)} features, {sum(map(len, events)):,} events")
    print(f"  features from profiles and events  {features_s:6.2f} s")

    started = time.perf_counter()
    model = LeadModel.fit(rows, outcomes)
    fit_s = time.perf_counter() - started
    levels = sum(len(encoding.levels) for encoding in model.encodings)
    print(f"  LeadModel.fit ({levels} levels)       {fit_s:6.2f} s")
    print(f"  features + fit                     {features_s + fit_s:6.2f} s (target < 30 s)")

    codes = [e.codes([row.get(e.name) for row in rows]) for e in model.encodings]
    offsets = np.cumsum([0] + [len(encoding.levels) for encoding in model.encodings])
    columns = np.column_stack([c + o for c, o in zip(codes, offsets[:-1], strict=True)])
    design = sparse.csr_matrix(
        (np.ones(columns.size), columns.ravel(), np.arange(0, columns.size + 1, columns.shape[1])),
        shape=(len(rows), int(offsets[-1])),
    )
    started = time.perf_counter()
    LogisticRegression(C=0.1, max_iter=1000).fit(design, outcomes)
    sklearn_s = time.perf_counter() - started
    print(
        f"  scikit-learn LogisticRegression    {sklearn_s:6.2f} s on the same one-hot design "
        f"(LeadModel.fit takes {fit_s / sklearn_s:.2f} times as long)"
    )

    started = time.perf_counter()
    model.predict_with_factors(rows, 3)
    bulk_s = time.perf_counter() - started
    sample = rows[:5000]
    started = time.perf_counter()
    for row in sample:
        model.predict_proba([row])
        model.explain(row, top=3)
    single_s = (time.perf_counter() - started) * len(rows) / len(sample)
    print(
        f"  scoring with top-3 factors, bulk   {len(rows) / bulk_s:10,.0f} leads/s "
        f"(target > 50,000)"
    )
    print(
        f"  one lead at a time                 {len(rows) / single_s:10,.0f} leads/s "
        f"(bulk is {single_s / bulk_s:.0f} times faster)"
    )


if __name__ == "__main__":
    main()
