"""The manager's overview on the hand-built store of tests/test_records.py.

As of 2024-03-01: O1 is open with seven activities of its own in the 90 days
before (a1, a4, a5, a6: four completed, two-way since Pat and Lee took part in
meetings and a call), so it has a health score; O2 was won in 2023 and is not
open. Account A1 has all six activities; startup.io (the lead's domain) one. Our sellers
in the last 60 days:
Uma a1, a6, l1 (3; l1 is with the lead), Tim a3, a5, a6 (3), Ola a2, a4, a6 (3).
"""

from __future__ import annotations

import datetime as dt

import pytest

import kpi
from kpi import overview
from rapport import settings as settings_mod
from tests.test_records import AS_OF
from tests.test_records import con as records_con  # noqa: F401  (the fixture)


def test_open_opportunities_ranked_with_the_record_pages_health(records_con):  # noqa: F811
    frame = overview.opportunities(records_con, AS_OF)
    assert frame["id"].tolist() == ["O1"]
    page = kpi.figures(records_con, "opportunity", "O1", as_of=AS_OF, days=60)["health"]
    row = frame.iloc[0]
    assert (row["score"], row["grade"], row["trend"]) == (page["score"], page["grade"],
                                                           page["trend"])
    assert row["owner"] == "Uma Owner" and row["account"] == "Acme"


def test_accounts_and_going_cold(records_con):  # noqa: F811
    frame = overview.accounts(records_con, AS_OF)
    # Sam's startup.io is an account of its own, with one call: not enough data, last.
    assert frame["id"].tolist() == ["A1", "domain:startup.io"]
    assert frame.iloc[1]["grade"] == "not_enough_data"
    page = kpi.figures(records_con, "account", "A1", as_of=AS_OF, days=60)["health"]
    assert frame.iloc[0]["score"] == page["score"]
    since = next(f["value"] for f in page["factors"] if f["name"] == "days_since_two_way")
    cadence = settings_mod.load(records_con).cadence_days
    assert bool(frame.iloc[0]["going_cold"]) == (since is None or since > cadence)
    # Sixty days later nothing new happened: every record with activity goes cold.
    later = AS_OF + dt.timedelta(days=60)
    assert overview.accounts(records_con, later)["going_cold"].tolist() == [True, True]


def test_sellers_and_filters(records_con):  # noqa: F811
    sellers = overview.sellers(records_con, AS_OF, 60)
    assert dict(zip(sellers["seller"], sellers["activities"])) == {
        "Uma Owner": 3, "Tim Team": 3, "Ola Other": 3}
    assert overview.opportunities(records_con, AS_OF,
                                  overview.Filters(product="Nothing")).empty
    assert overview.summary(overview.opportunities(records_con, AS_OF))["records"] == 1


@pytest.mark.parametrize("days", [None, 30])
def test_sellers_window(records_con, days):  # noqa: F811
    sellers = overview.sellers(records_con, AS_OF, days)
    total = int(sellers["activities"].sum())
    # In 30 days (after 01-31): a1, a2, a4, a5, a6 (Uma, Tim, Ola), l1: 3 + 2 + 3 = 8.
    assert total == (9 if days is None else 8)


def test_accounts_are_the_same_from_the_figure_tables_and_from_the_store(  # noqa: F811
        records_con, monkeypatch):
    from kpi import materialize

    assert materialize.is_fresh(records_con)
    stored = overview.accounts(records_con, AS_OF)
    monkeypatch.setattr(materialize, "is_fresh", lambda con, current=None: False)
    live = overview.accounts(records_con, AS_OF)
    assert stored["id"].tolist() == ["A1", "domain:startup.io"]
    assert stored.equals(live)
