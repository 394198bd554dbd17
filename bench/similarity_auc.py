"""How well distance to similar won deals separates wins from losses.

On the sales-pipeline workspace (public CRM pipeline, generated activity; see
docs/pipeline.md), the model is fitted on the deals won before a cutoff date
and then scores later deals by their mean distance to their k nearest won
deals: a deal that looks like past wins should be won more often. The ROC AUC
says how well that score ranks later wins above later losses (0.5 = chance).

That score measures how typical a deal is of past wins. Lost deals can be
just as typical (short deals with little activity are common among wins too),
so the bench also reports a *relative* score: mean distance to the k nearest
deals lost before the cutoff minus mean distance to the k nearest won ones,
both in the won deals' scaled space (positive = nearer to wins than losses).

Two ways of looking at the later deals:

- **closed after the cutoff**: their features over their whole life;
- **open at the cutoff**: their features as they were at the cutoff (what the
  opportunity page shows while a deal is open), outcome known later.

Each is scored with three feature sets: deal and activity features (the
model as shipped), deal features only (amount, product, industry, employees,
region, sales-cycle length; the baseline) and activity features only.

Run: ``.venv/bin/python bench/similarity_auc.py [--db PATH] [--cutoff 2017-07-01]``.
Without --db it builds the workspace in a temporary folder. The figures are
printed and written into docs/similarity.md between the bench markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapport import store  # noqa: E402
from rapport.workspaces import pipeline  # noqa: E402
from similarity import features as feats  # noqa: E402
from similarity.model import DEFAULT_WEIGHTS, SimilarDeals  # noqa: E402

DOC = ROOT / "docs" / "similarity.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

FEATURE_SETS = {
    "deal + activity": None,
    "deal only (baseline)": feats.DEAL_FEATURES,
    "activity only": tuple(f for f in feats.ALL_FEATURES if f not in feats.DEAL_FEATURES),
}


def _model(columns, k: int) -> SimilarDeals:
    def keep(names):
        return tuple(n for n in names if columns is None or n in columns)

    weights = {n: w for n, w in DEFAULT_WEIGHTS.items() if columns is None or n in columns}
    return SimilarDeals(n_neighbors=k, log_features=keep(feats.LOG_FEATURES),
                        plain_features=keep(feats.PLAIN_FEATURES),
                        categorical_features=keep(feats.CATEGORICAL_FEATURES),
                        feature_weights=weights)


def _aucs(won: pd.DataFrame, lost: pd.DataFrame, test: pd.DataFrame, outcome: pd.Series,
          columns, k: int) -> tuple[float, float]:
    """AUC of the won-distance score and of the relative score."""
    model = _model(columns, k).fit(won)
    to_won = model.kneighbors(test)[0].mean(axis=1)
    losses = NearestNeighbors(n_neighbors=k).fit(model.transform(lost))
    to_lost = losses.kneighbors(model.transform(test))[0].mean(axis=1)
    truth = (outcome == "won").to_numpy()
    # nearer to past wins = more likely won
    return float(roc_auc_score(truth, -to_won)), float(roc_auc_score(truth, to_lost - to_won))


def evaluate(con, cutoff: dt.datetime, k: int) -> tuple[list[dict], dict]:
    """AUC rows for both views and all feature sets, and the sample sizes."""
    final = feats.deal_features(con, pipeline.AS_OF)
    won_before = final[(final["state_as_of"] == "won") & (final["closed_at"] < cutoff)]
    lost_before = final[(final["state_as_of"] == "lost") & (final["closed_at"] < cutoff)]
    closed_after = final[final["state_as_of"].isin(["won", "lost"])
                         & (final["closed_at"] >= cutoff)]
    at_cutoff = feats.deal_features(con, cutoff - dt.timedelta(microseconds=1))
    open_then = at_cutoff[(at_cutoff["state_as_of"] == "open")]
    outcome_later = final.loc[open_then.index, "state_as_of"]
    open_then = open_then[outcome_later.isin(["won", "lost"])]
    outcome_later = outcome_later[open_then.index]
    rows = []
    for label, columns in FEATURE_SETS.items():
        closed = _aucs(won_before, lost_before, closed_after, closed_after["state_as_of"],
                       columns, k)
        still_open = _aucs(won_before, lost_before, open_then, outcome_later, columns, k)
        rows.append({"features": label, "closed": closed, "open": still_open})
    sizes = {
        "won / lost before cutoff (fitted)": f"{len(won_before)} / {len(lost_before)}",
        "closed after cutoff (won / lost)":
            f"{(closed_after['state_as_of'] == 'won').sum()} / "
            f"{(closed_after['state_as_of'] == 'lost').sum()}",
        "open at cutoff, later won / lost":
            f"{(outcome_later == 'won').sum()} / {(outcome_later == 'lost').sum()}",
    }
    return rows, sizes


def _table(rows: list[dict]) -> str:
    lines = ["| features | won distance, closed after cutoff | won distance, open at cutoff "
             "| relative, closed after cutoff | relative, open at cutoff |",
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['features']} | {row['closed'][0]:.3f} | {row['open'][0]:.3f} "
                     f"| {row['closed'][1]:.3f} | {row['open'][1]:.3f} |")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        doc = doc.rstrip() + f"\n\n{START}\n{END}\n"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    DOC.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", doc), encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="a built pipeline workspace (default: build one)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cutoff", default="2017-07-01", help="ISO date (default 2017-07-01)")
    parser.add_argument("-k", type=int, default=5, help="neighbours per deal (default 5)")
    parser.add_argument("--no-doc", action="store_true",
                        help="do not update docs/similarity.md")
    args = parser.parse_args(argv)
    cutoff = dt.datetime.fromisoformat(args.cutoff)

    with tempfile.TemporaryDirectory() as folder:
        path = args.db or str(Path(folder) / "pipeline.duckdb")
        build_note = ""
        if not args.db:
            summary = pipeline.build(path, seed=args.seed)
            build_note = f" Workspace built with seed {args.seed} in {summary['seconds']} s."
            print(build_note)
        con = store.connect(path, read_only=True)
        counts = store.table_counts(con)
        build_note += (f" Workspace: {counts['opportunities']:,} opportunities, "
                       f"{counts['activities']:,} activities.")
        started = time.perf_counter()
        rows, sizes = evaluate(con, cutoff, args.k)
        seconds = time.perf_counter() - started
        con.close()

    table = _table(rows)
    print(table)
    for name, value in sizes.items():
        print(f"{name}: {value}")
    if not args.no_doc:
        text = "\n".join([
            f"Cutoff {cutoff:%Y-%m-%d}, k = {args.k}; ROC AUC of later wins against later "
            f"losses; won distance = mean distance to the k nearest won deals, relative = "
            f"that to lost deals minus that to won deals (`bench/similarity_auc.py`, "
            f"{seconds:.0f} s).{build_note}",
            "",
            table,
            "",
            "; ".join(f"{name}: {value}" for name, value in sizes.items()) + ".",
        ])
        write_doc(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
