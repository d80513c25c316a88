"""Benchmark: training the predictive model and scoring with it, on 100,000 leads.

Synthetic leads (:mod:`lead_scoring.examples.synthetic_leads`, up to 12 events each)
get ten custom attributes beside their profile, so each has about 30 features:
profile, attributes and the engagement features of its events. Printed:

- features: every lead's model features from its profile and events, as columns
  (``model_columns``, what training and bulk scoring use) and as one dict per lead
  (``model_row``);
- training: ``LeadModel.fit_columns`` (target: features and fit under 30 s), against
  scikit-learn's logistic regression fitted on the same one-hot design in the same run;
- scoring: probabilities and top-3 factors of every lead at once from the columns, in
  leads/s (target: above 50,000), with and without naming every lead's factors, the
  same from dicts (``predict_with_factors``), and ``explain`` called lead by lead.

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
from lead_scoring.model_columns import model_columns
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
    columns = model_columns(leads, events, [NOW] * len(leads))
    columns_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = [model_row(lead, e, NOW) for lead, e in zip(leads, events, strict=True)]
    rows_s = time.perf_counter() - started
    size = len(rows)
    print(f"{size:,} leads, {len(columns)} features, {sum(map(len, events)):,} events")
    print(f"  features as columns                {columns_s:6.2f} s")
    print(f"  features as one dict per lead      {rows_s:6.2f} s")

    started, cpu = time.perf_counter(), time.process_time()
    model = LeadModel.fit_columns(columns, outcomes, size=size)
    fit_s, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    levels = sum(len(encoding.levels) for encoding in model.encodings)
    print(f"  LeadModel.fit_columns ({levels} levels) {fit_s:6.2f} s ({fit_cpu:.2f} s of CPU)")
    print(f"  features + fit                     {columns_s + fit_s:6.2f} s (target < 30 s)")

    codes = [e.codes(columns[e.name]) for e in model.encodings]
    offsets = np.cumsum([0] + [len(encoding.levels) for encoding in model.encodings])
    stacked = np.column_stack([c + o for c, o in zip(codes, offsets[:-1], strict=True)])
    design = sparse.csr_matrix(
        (np.ones(stacked.size), stacked.ravel(), np.arange(0, stacked.size + 1, stacked.shape[1])),
        shape=(size, int(offsets[-1])),
    )
    started = time.perf_counter()
    LogisticRegression(C=0.1, max_iter=1000).fit(design, outcomes)
    sklearn_s = time.perf_counter() - started
    print(
        f"  scikit-learn LogisticRegression    {sklearn_s:6.2f} s on the same one-hot design "
        f"(LeadModel.fit_columns takes {fit_s / sklearn_s:.2f} times as long)"
    )

    runs = []
    for _ in range(3):
        started, cpu = time.perf_counter(), time.process_time()
        scores = model.predict_columns(columns, size, 3)
        runs.append((time.perf_counter() - started, time.process_time() - cpu))
    arrays_s, arrays_cpu = min(runs)
    started = time.perf_counter()
    named = [scores.factors(row) for row in range(size)]
    named_s = arrays_s + time.perf_counter() - started
    started = time.perf_counter()
    model.predict_with_factors(rows, 3)
    dicts_s = time.perf_counter() - started
    sample = rows[:5000]
    started = time.perf_counter()
    for row in sample:
        model.predict_proba([row])
        model.explain(row, top=3)
    single_s = (time.perf_counter() - started) * size / len(sample)
    assert len(named) == size
    print(
        f"  scoring from columns, top-3 factors {size / arrays_s:10,.0f} leads/s, best of 3 "
        f"({size / arrays_cpu:,.0f} per CPU second; target > 50,000)"
    )
    print(f"    and every lead's factors named   {size / named_s:10,.0f} leads/s")
    print(f"    with the features built too      {size / (columns_s + named_s):10,.0f} leads/s")
    print(f"  scoring from dicts                 {size / dicts_s:10,.0f} leads/s")
    print(
        f"  one lead at a time                 {size / single_s:10,.0f} leads/s "
        f"(columns are {single_s / named_s:.0f} times faster)"
    )


if __name__ == "__main__":
    main()
