"""Evaluate predictive lead scoring through the product's path, against strong baselines.

Two data sets, each split two ways: by time (the earlier 80% of leads are the history,
the later 20% the leads to predict, as a new user with that history would) and at
random (a seeded 80/20 shuffle, where history and predicted leads come from the same
period):

- bank-marketing (41,188 contacts; ``duration`` dropped), its customer columns as custom
  attributes;
- online courses (generated, :mod:`lead_scoring.examples.online_courses`): channel,
  country, custom fields and a timeline of interactions, with events after each outcome
  that must not be learned from.

Through the product: every lead is written as a Lead record (and its interactions as
Interaction records) with the library's write path into a fresh SQLite database, the
history with its outcome and ``closed_at``, the later leads open; then ``crm-sync db
upgrade`` and ``crm-sync score --train --all`` run, and the probabilities the product
stored for the later leads are read back. Each later lead is written as of the moment
it is predicted (its timeline shifted so that this moment is now).

In the same run, on the same features (the rows the product's model computes) and the
same split: ``LeadModel`` through the library, scikit-learn's logistic regression
(one-hot text, standardised numbers with missing indicators) and its histogram
gradient boosting (native categories), and a rules score. For each: ROC AUC, top-decile
lift, log-loss, Brier score and a reliability table, with the AUC's standard error; then
the product's AUC against gradient boosting's (target: within 0.01) and the rules'. A
Markdown table of every figure ends the output.

    .venv/bin/pip install scikit-learn        # a benchmark dependency only
    .venv/bin/python bench/lead_scoring_eval.py [--online-leads 20000] [--skip-product]
        [--splits time,random]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from core.cli import app
from core.kinds import kind_by_type
from core.store import write_record_in
from lead_scoring.bulk import score_many
from lead_scoring.evaluation import roc_auc, top_decile_lift
from lead_scoring.examples.bank_marketing import (
    CUSTOMER_FEATURES,
    DEFAULT_PATH,
    bank_marketing_rules,
    load_bank_marketing,
)
from lead_scoring.examples.online_courses import ATTRIBUTES, online_courses
from lead_scoring.facts import EngagementEvent, LeadFacts
from lead_scoring.predictive import LeadModel
from lead_scoring.rules import default_rules
from lead_scoring.scoring import score
from lead_scoring.service import fact_attributes, model_row
from lead_scoring.store import LeadScoreRow

BANK_NUMBERS = ("age", "campaign", "pdays", "previous")

#: How an interaction is written for each engagement event of the generated set.
INTERACTION_OF = {
    ("whatsapp_reply", "inbound"): ("whatsapp", "inbound"),
    ("call_answered", "outbound"): ("call", "outbound"),
    ("call_answered", "inbound"): ("call", "inbound"),
}


@dataclass
class Case:
    """One lead of an evaluation set as the product receives it."""

    lead_id: str
    body: dict[str, Any]
    created_at: datetime
    decided_at: datetime
    events: list[EngagementEvent]
    converted: bool


def bank_cases(path: Path) -> tuple[list[Case], list[str]]:
    """Return the bank-marketing contacts as cases, a minute apart, and their features."""
    data = load_bank_marketing(path)
    start = datetime(2008, 5, 1, tzinfo=UTC)
    cases = []
    for number, (row, outcome) in enumerate(zip(data.rows, data.outcomes, strict=True)):
        attributes: dict[str, Any] = {}
        for name in CUSTOMER_FEATURES:
            value = row.get(name)
            if isinstance(value, Decimal):
                attributes[name] = int(value) if value == value.to_integral() else float(value)
            elif value is not None:
                attributes[name] = str(value)
        created = start + timedelta(minutes=number)
        body = {"source": "telemarketing", "attributes": attributes}
        cases.append(
            Case(f"B-{number:06d}", body, created, created + timedelta(days=1), [], bool(outcome))
        )
    return cases, [f"attributes.{name}" for name in CUSTOMER_FEATURES]


def bank_catalog() -> dict[str, Any]:
    """The attribute declarations of the bank-marketing leads."""
    return {
        "lead": {
            name: {"type": "number" if name in BANK_NUMBERS else "text"}
            for name in CUSTOMER_FEATURES
        }
    }


def online_cases(count: int) -> list[Case]:
    """Return the generated online-course leads as cases."""
    cases = []
    for number, lead in enumerate(online_courses(count)):
        body: dict[str, Any] = {"source": lead.source, "channel": lead.channel}
        if lead.country is not None:
            body["country"] = lead.country
        body["attributes"] = dict(lead.attributes)
        cases.append(
            Case(
                f"W-{number:06d}",
                body,
                lead.created_at,
                lead.decided_at,
                lead.events,
                lead.converted,
            )
        )
    return cases


def facts_of(case: Case) -> LeadFacts:
    """Return a case's profile as the product reads it back."""
    body = case.body
    return LeadFacts(
        created_at=case.created_at,
        source=body.get("source"),
        channel=body.get("channel"),
        country=body.get("country"),
        attributes=fact_attributes(body.get("attributes")),
    )


def library_rows(cases: Sequence[Case]) -> list[dict[str, Any]]:
    """Return each case's model features as of its decision (what the product computes)."""
    return [model_row(facts_of(case), case.events, case.decided_at) for case in cases]


# -- through the product -------------------------------------------------------------------


def write_cases(url: str, cases: Sequence[Case], history: int, now: datetime) -> None:
    """Write the cases as Lead and Interaction records with the library's write path.

    History leads carry their outcome and ``closed_at``; later leads are open, written as
    of the moment they are predicted: their timeline is shifted so that it is ``now``,
    and only what happened before it is written.
    """
    engine = create_engine(url)
    lead_kind, interaction_kind = kind_by_type("lead"), kind_by_type("interaction")
    with engine.begin() as connection:
        for index, case in enumerate(cases):
            closed = index < history
            shift = timedelta(0) if closed else now - case.decided_at
            body = dict(case.body)
            if closed:
                body["status"] = "converted" if case.converted else "lost"
                body["closed_at"] = case.decided_at.isoformat()
            lead = lead_kind.schema.model_validate(body)
            write_record_in(
                connection, lead_kind, case.lead_id, lead, subscribers=(),
                now=case.created_at + shift,
            )  # fmt: skip
            for number, event in enumerate(case.events):
                if not closed and event.at > case.decided_at:
                    continue
                channel, direction = INTERACTION_OF[(event.type, event.direction or "")]
                record = interaction_kind.schema.model_validate(
                    {
                        "lead_id": case.lead_id,
                        "channel": channel,
                        "direction": direction,
                        "occurred_at": (event.at + shift).isoformat(),
                    }
                )
                write_record_in(
                    connection, interaction_kind, f"{case.lead_id}-{number}", record,
                    subscribers=(), now=event.at + shift,
                )  # fmt: skip
    engine.dispose()


def product_probabilities(
    cases: Sequence[Case], history: int, catalog: dict[str, Any], workdir: Path
) -> tuple[NDArray[np.float64], dict[str, float]]:
    """Run the product's path; return the later leads' stored probabilities and timings."""
    url = f"sqlite:///{workdir / 'crm-sync.db'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRM_SYNC_")},
        "CRM_SYNC_DATABASE_URL": url,
        "CRM_SYNC_ATTRIBUTES": json.dumps(catalog),
    }
    runner = CliRunner()
    upgraded = runner.invoke(app, ["db", "upgrade"], env=env)
    if upgraded.exit_code != 0:
        raise RuntimeError(upgraded.output)
    started = time.perf_counter()
    write_cases(url, cases, history, datetime.now(UTC))
    written = time.perf_counter() - started
    started = time.perf_counter()
    result = runner.invoke(app, ["score", "--train", "--all"], env=env)
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    trained = time.perf_counter() - started
    engine = create_engine(url)
    with engine.connect() as connection:
        stored = dict(
            connection.execute(select(LeadScoreRow.lead_id, LeadScoreRow.probability)).all()
        )
    engine.dispose()
    later = [stored[case.lead_id] for case in cases[history:]]
    if any(p is None for p in later):
        raise RuntimeError("the product stored no probability for some later leads")
    return np.array(later, dtype=np.float64), {"write": written, "train+score": trained}


# -- baselines -----------------------------------------------------------------------------


def table(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split feature names into text and number columns, as the rows hold them.

    A feature no row has a value of is left out: it can teach nothing.
    """
    text, numbers = [], []
    for name in names:
        values = [row.get(name) for row in rows if row.get(name) is not None]
        if not values:
            continue
        is_text = any(isinstance(value, str) for value in values)
        (text if is_text else numbers).append(name)
    return text, numbers


def frame(
    rows: Sequence[dict[str, Any]], text: Sequence[str], numbers: Sequence[str]
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Return the text columns (missing as "(missing)") and the number columns (NaN)."""
    texts = np.array(
        [[str(row.get(name, "(missing)") or "(missing)") for name in text] for row in rows],
        dtype=object,
    ).reshape(len(rows), len(text))
    values = np.array(
        [
            [np.nan if row.get(name) is None else float(row[name]) for name in numbers]
            for row in rows
        ],
        dtype=np.float64,
    ).reshape(len(rows), len(numbers))
    return texts, values


def baselines(
    train_rows: Sequence[dict[str, Any]],
    outcomes: NDArray[np.int8],
    test_rows: Sequence[dict[str, Any]],
) -> dict[str, NDArray[np.float64]]:
    """Fit scikit-learn's logistic regression and gradient boosting; predict the test rows."""
    names = sorted({name for row in train_rows for name in row})
    text, numbers = table(train_rows, names)
    train_text, train_numbers = frame(train_rows, text, numbers)
    test_text, test_numbers = frame(test_rows, text, numbers)
    train_x = np.hstack([train_text, train_numbers.astype(object)])
    test_x = np.hstack([test_text, test_numbers.astype(object)])
    text_columns = list(range(len(text)))
    number_columns = list(range(len(text), len(text) + len(numbers)))
    logistic = make_pipeline(
        ColumnTransformer(
            [
                ("text", OneHotEncoder(handle_unknown="ignore", min_frequency=20), text_columns),
                (
                    "numbers",
                    make_pipeline(
                        SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                    ),
                    number_columns,
                ),
            ]
        ),
        LogisticRegression(max_iter=2000, C=1.0),
    )
    logistic.fit(train_x, outcomes)
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    train_codes = encoder.fit_transform(train_text) if text else np.zeros((len(train_rows), 0))
    test_codes = encoder.transform(test_text) if text else np.zeros((len(test_rows), 0))
    boosting = HistGradientBoostingClassifier(
        categorical_features=list(range(len(text))) or None, random_state=0
    )
    boosting.fit(np.hstack([train_codes, train_numbers]), outcomes)
    return {
        "scikit-learn logistic regression": logistic.predict_proba(test_x)[:, 1],
        "scikit-learn gradient boosting": boosting.predict_proba(
            np.hstack([test_codes, test_numbers])
        )[:, 1],
    }


# -- figures -------------------------------------------------------------------------------


def log_loss(probabilities: NDArray[np.float64], outcomes: NDArray[np.int8]) -> float:
    """Return the mean negative log-likelihood of the outcomes."""
    p = np.clip(probabilities, 1e-12, 1 - 1e-12)
    return float(-np.mean(outcomes * np.log(p) + (1 - outcomes) * np.log(1 - p)))


def brier(probabilities: NDArray[np.float64], outcomes: NDArray[np.int8]) -> float:
    """Return the mean squared difference between probability and outcome."""
    return float(np.mean((probabilities - outcomes) ** 2))


def reliability(probabilities: NDArray[np.float64], outcomes: NDArray[np.int8]) -> str:
    """Return a reliability table: per decile of probability, predicted vs observed rate."""
    order = np.argsort(probabilities, kind="stable")
    cells = []
    for part in np.array_split(order, 10):
        cells.append(f"{probabilities[part].mean():.2f}/{outcomes[part].mean():.2f}")
    return " ".join(cells)


def auc_error(auc: float, outcomes: NDArray[np.int8]) -> float:
    """Return the standard error of an AUC (Hanley and McNeil, 1982)."""
    positives = int(outcomes.sum())
    negatives = len(outcomes) - positives
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return float(np.sqrt(variance))


@dataclass(frozen=True)
class Figures:
    """One score's figures on the predicted leads (Brier only for probabilities)."""

    auc: float
    lift: float
    brier: float | None


def report(name: str, scores: NDArray[np.float64], outcomes: NDArray[np.int8]) -> Figures:
    """Print one score's figures (log-loss, Brier and reliability for probabilities)."""
    auc = roc_auc(scores, outcomes)
    lift = top_decile_lift(scores, outcomes)
    line = f"  {name:<36} AUC {auc:.4f} (±{auc_error(auc, outcomes):.4f})  lift {lift:.2f}"
    score_brier = None
    if np.all((scores >= 0) & (scores <= 1)) and name != "rules":
        score_brier = brier(scores, outcomes)
        line += f"  log-loss {log_loss(scores, outcomes):.4f}  Brier {score_brier:.4f}"
        line += f"\n  {'':<36} reliability (predicted/observed by decile): "
        line += reliability(scores, outcomes)
    print(line)
    return Figures(auc, lift, score_brier)


def split_order(size: int, split: str) -> NDArray[np.intp]:
    """Return the order of the cases for a split: as given (time) or a seeded shuffle."""
    if split == "time":
        return np.arange(size)
    return np.random.default_rng(14).permutation(size)


def evaluate(
    title: str,
    given: list[Case],
    catalog: dict[str, Any],
    given_rules: NDArray[np.float64],
    *,
    split: str,
    product: bool,
) -> dict[str, Figures]:
    """Print every score's figures on the predicted 20% of ``given``; return them by score.

    The first 80% in the split's order are the history (all of it written as closed
    leads), the rest are predicted.
    """
    order = split_order(len(given), split)
    cases = [given[i] for i in order]
    rules_scores = given_rules[order]
    history = int(len(cases) * 0.8)
    outcomes = np.array([case.converted for case in cases], dtype=np.int8)
    test = outcomes[history:]
    print(
        f"{title}, {split} split: history {history:,} leads "
        f"({outcomes[:history].mean():.1%} converted), predicted {len(cases) - history:,} "
        f"leads ({test.mean():.1%} converted)"
    )
    rows = library_rows(cases)
    started = time.perf_counter()
    model = LeadModel.fit(rows[:history], outcomes[:history])
    fitted = time.perf_counter() - started
    library = model.predict_proba(rows[history:])
    figures = {"rules": report("rules", rules_scores[history:], test)}
    if product:
        with tempfile.TemporaryDirectory() as workdir:
            stored, timings = product_probabilities(cases, history, catalog, Path(workdir))
        figures["product"] = report("product (crm-sync score --train)", stored, test)
        gap = float(np.max(np.abs(stored - library)))
        print(
            f"  {'':<36} written in {timings['write']:.1f} s, trained and scored in "
            f"{timings['train+score']:.1f} s; largest difference to the library: {gap:.2g}"
        )
    figures["library"] = report(f"LeadModel (library, fit {fitted:.1f} s)", library, test)
    fitted_baselines = baselines(rows[:history], outcomes[:history], rows[history:])
    for name, probabilities in fitted_baselines.items():
        figures[name] = report(name, probabilities, test)
    ours = figures.get("product", figures["library"]).auc
    boosting = figures["scikit-learn gradient boosting"].auc
    print(
        f"  AUC ours - gradient boosting: {ours - boosting:+.4f} (target >= -0.01); "
        f"ours - rules: {ours - figures['rules'].auc:+.4f}"
    )
    top = model.explain(rows[history + int(np.argmax(library))])
    print("  top factors of the best-scored predicted lead: " + ", ".join(
        f"{factor.condition} ({factor.contribution:+.2f})" for factor in top
    ))  # fmt: skip
    return figures


def markdown(results: dict[tuple[str, str], dict[str, Figures]]) -> str:
    """Return every figure as the Markdown table the README and the docs show."""
    names = {
        "rules": "rules",
        "product": "**product (`crm-sync score --train`)**",
        "library": "LeadModel (library)",
        "scikit-learn logistic regression": "scikit-learn logistic regression",
        "scikit-learn gradient boosting": "scikit-learn gradient boosting",
    }
    lines = [
        "| data set | split | score | AUC | top-decile lift | Brier |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (title, split), figures in results.items():
        for key, label in names.items():
            if key not in figures or (key == "library" and "product" in figures):
                continue
            f = figures[key]
            score_brier = "" if f.brier is None else f"{f.brier:.3f}"
            lines.append(
                f"| {title} | {split} | {label} | {f.auc:.3f} | {f.lift:.2f} | {score_brier} |"
            )
            title = split = ""
    return "\n".join(lines)


def online_rules(cases: Sequence[Case]) -> NDArray[np.float64]:
    """Return the default rules' totals of the generated leads at their decision."""
    rules = default_rules()
    totals = [
        float(score(facts_of(case), [e for e in case.events if e.at <= case.decided_at],
                    rules, case.decided_at).total)
        for case in cases
    ]  # fmt: skip
    return np.array(totals, dtype=np.float64)


def main() -> None:
    """Evaluate on both data sets and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--online-leads", type=int, default=20_000)
    parser.add_argument("--skip-product", action="store_true", help="library figures only")
    parser.add_argument("--splits", default="time,random", help="time, random or both")
    args = parser.parse_args()
    started = time.perf_counter()
    cases, _ = bank_cases(args.data)
    facts = [facts_of(case) for case in cases]
    now = datetime(2011, 1, 1, tzinfo=UTC)
    rules = score_many(facts, [[] for _ in facts], bank_marketing_rules(), now).total / 100
    online = online_cases(args.online_leads)
    sets = [
        ("bank-marketing", cases, bank_catalog(), rules.astype(np.float64)),
        ("online courses (generated)", online, {"lead": ATTRIBUTES}, online_rules(online)),
    ]
    results = {}
    for title, set_cases, catalog, rules_scores in sets:
        for split in args.splits.split(","):
            results[(title, split)] = evaluate(
                title, set_cases, catalog, rules_scores, split=split, product=not args.skip_product
            )
    print()
    print(markdown(results))
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
