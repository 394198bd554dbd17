"""The Lead and Opportunity pages, and the relationship widgets, on a hand-built store.

The store is tests/test_records.py's (its docstring works the figures out),
plus five won deals so that similar won deals can be shown.
"""

from __future__ import annotations

import datetime as dt

import pytest

from ingest.base import Batch, write_batches
from rapport import store
from tests.test_app import run_page, texts
from tests.test_records import con as records_con  # noqa: F401  (the fixture)

D = dt.datetime


@pytest.fixture(scope="module")
def db(records_con, tmp_path_factory):  # noqa: F811
    path = records_con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0][0]
    b = Batch(file="won", layout="test", checksum="sha256:won")
    for i in range(5):
        b.add("opportunities", {
            "opportunity_id": f"W{i}", "name": f"Won deal {i}", "account_id": "A1",
            "contact_id": "C1", "owner_id": "U1", "state": "won",
            "amount": 10000.0 * (i + 1), "product": "Suite",
            "created_at": D(2023, 1, 1 + i), "closed_at": D(2023, 3, 1 + i)})
    write_batches(records_con, [b])
    records_con.close()
    return path


def test_lead_page_shows_the_leads_calls(db, monkeypatch):
    at = run_page(db, monkeypatch, "pages/lead.py", id="L1", as_of="2024-03-01", days="60")
    assert texts(at.title)[0] == "Sam Founder"
    table = at.table[0].value
    assert table.loc["Calls", "Initiated by us"] == 1
    assert table.loc["E-mails", "Initiated by us"] == 0
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Time invested by us"] == "0.2 h"
    assert metrics["Time invested by them"] == "0.2 h"


def test_lead_page_without_an_id_lists_the_leads(db, monkeypatch):
    at = run_page(db, monkeypatch, "pages/lead.py")
    assert texts(at.title) == ["Leads"]
    assert at.dataframe[0].value["state"].tolist() == ["open"]


def test_opportunity_page_shows_its_figures_and_similar_won_deals(db, monkeypatch):
    at = run_page(db, monkeypatch, "pages/opportunity.py", id="O1", as_of="2024-03-01",
                  days="60")
    assert texts(at.title)[0] == "Acme renewal"
    table = at.table[0].value
    assert table.loc["Meetings", "Initiated by us"] == 2
    assert "Similar won deals" in texts(at.subheader)
    deals = at.dataframe[0].value
    # Six won deals exist as of 2024-03-01 (O2 and W0-W4); five are shown.
    assert len(deals) == 5
    assert set(deals["Deal"]) <= {"Acme pilot"} | {f"Won deal {i}" for i in range(5)}
    assert "Relationship health" in texts(at.subheader)


def test_opportunity_list_page(db, monkeypatch):
    at = run_page(db, monkeypatch, "pages/opportunity.py")
    assert texts(at.title) == ["Opportunities"]
    assert len(at.dataframe[0].value) == 7


def test_overview_page_ranks_open_opportunities_and_accounts(db, monkeypatch):
    at = run_page(db, monkeypatch, "pages/overview.py", as_of="2024-03-01", days="60")
    assert texts(at.title) == ["Overview"]
    opportunities = at.dataframe[0].value
    assert len(opportunities) == 1 and opportunities["owner"].tolist() == ["Uma Owner"]
    accounts = at.dataframe[1].value
    assert len(accounts) == 2
    assert any(t.startswith("1 open opportunities:") for t in texts(at.markdown))
