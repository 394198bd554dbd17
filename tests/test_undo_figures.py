"""Undo of an import: every figure, and the figure tables, as before that import."""

from __future__ import annotations

import shutil
from pathlib import Path

import kpi
from ingest import undo
from ingest.layouts import run_import
from rapport import store

DATA = Path(__file__).resolve().parent / "data" / "dataverse_small"


def test_undo_restores_every_figure_and_the_figure_tables(tmp_path):
    con = store.connect(tmp_path / "rapport.duckdb")
    first = tmp_path / "first"
    shutil.copytree(DATA, first)
    run_import(con, [first])
    accounts = kpi.list_accounts(con, days=None)
    assert len(accounts) > 0
    key = accounts.iloc[0]["account_id"]
    before = kpi.figures(con, "account", key, days=None)
    before_tables = store.table_counts(con)

    # A second export adds one more email with the account's contact.
    extra = tmp_path / "extra.mbox"
    email = con.execute(
        "SELECT email FROM people WHERE account_id = ? AND email IS NOT NULL LIMIT 1", [key]
    ).fetchall()[0][0]
    extra.write_text(
        "From someone Mon Jun 24 09:00:00 2024\n"
        f"From: {email}\nTo: seller@example.org\n"
        "Subject: One more\nDate: Mon, 24 Jun 2024 09:00:00 +0000\n"
        "Message-ID: <undo-test-1@example.org>\n\nbody\n"
    )
    result = run_import(con, [extra])[0]
    after = kpi.figures(con, "account", key, days=None)
    assert after["interactions"]["emails"]["by_them"] == \
        before["interactions"]["emails"]["by_them"] + 1

    undo.undo_import(con, result.import_id)
    restored = kpi.figures(con, "account", key, days=None)
    for name in ("interactions", "email_ratio", "last_interaction", "most_contacted",
                 "daily", "time_spent_hours", "response", "health"):
        assert restored[name] == before[name], name
    orphans = con.execute(
        "SELECT count(*) FROM record_activity WHERE activity_id NOT IN "
        "(SELECT activity_id FROM activities)").fetchall()[0][0]
    assert orphans == 0
