"""The manager's overview: many records at once, ranked by health.

Every figure here is the figure of the record pages, computed for many
records in one pass: the same membership (:mod:`kpi.scope`) and the same
health formula (:mod:`kpi.health`). A record is *going cold* when its last
two-way contact (as the health formula defines it, within the 90 days it
looks at) is older than the ``cadence_days`` setting, or when there was none
in those 90 days although the record has activity before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from kpi import health as health_mod
from kpi import materialize, scope
from kpi.core import iso
from rapport import settings as settings_mod
from rapport.settings import Settings

LOOKBACK = dt.timedelta(days=90 + 14)


@dataclass
class Filters:
    """The overview's filters; None means any."""

    manager: str | None = None   # person_id of a manager of our sellers
    region: str | None = None    # regional office of our sellers
    product: str | None = None   # product of an opportunity

    def any(self) -> bool:
        return any((self.manager, self.region, self.product))


def choices(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """The values each filter can take: managers (id, name), regions, products."""
    managers = con.execute(
        """SELECT DISTINCT m.person_id, coalesce(m.name, m.email, m.person_id)
           FROM people s JOIN people m ON m.person_id = s.manager_id
           WHERE s.side = 'us' ORDER BY 2"""
    ).fetchall()
    regions = [r for (r,) in con.execute(
        "SELECT DISTINCT region FROM people WHERE side = 'us' AND region IS NOT NULL "
        "ORDER BY 1").fetchall()]
    products = [p for (p,) in con.execute(
        "SELECT DISTINCT product FROM opportunities WHERE product IS NOT NULL "
        "ORDER BY 1").fetchall()]
    return {"managers": managers, "regions": regions, "products": products}


def _seller_filter(filters: Filters, alias: str) -> tuple[str, dict]:
    """SQL keeping our people who match the manager and region filters."""
    parts, values = [], {}
    if filters.manager:
        parts.append(f"{alias}.manager_id = $manager")
        values["manager"] = filters.manager
    if filters.region:
        parts.append(f"{alias}.region = $region")
        values["region"] = filters.region
    return (" AND ".join(parts) or "true"), values


def _opportunities(con, filters: Filters, open_only: bool, as_of) -> pd.DataFrame:
    seller, values = _seller_filter(filters, "s")
    where = [seller]
    if filters.product:
        where.append("o.product = $product")
        values["product"] = filters.product
    if open_only:
        # Open as of T: not closed yet at T (a deal closed later was open then).
        where.append("(o.closed_at IS NULL OR o.closed_at > $as_of) "
                     "AND (o.created_at IS NULL OR o.created_at <= $as_of)")
        where.append("(o.state = 'open' OR o.closed_at > $as_of)")
        values["as_of"] = as_of
    return con.execute(
        f"""SELECT o.opportunity_id AS id, coalesce(o.name, o.opportunity_id) AS name,
                   o.account_id, coalesce(a.name, a.domain, o.account_id) AS account,
                   o.product, o.amount, o.state,
                   coalesce(s.name, s.email, o.owner_id) AS owner,
                   coalesce(m.name, m.email, s.manager_id) AS manager, s.region
            FROM opportunities o
            LEFT JOIN people s ON s.person_id = o.owner_id
            LEFT JOIN people m ON m.person_id = s.manager_id
            LEFT JOIN accounts a ON a.account_id = o.account_id
            WHERE {' AND '.join(where)}
            ORDER BY o.opportunity_id""",
        values,
    ).df()


def _frames(con, record_type: str, ids: list[str], as_of: dt.datetime):
    """The frames of many records at once, with a record_id column."""
    if not ids:
        empty = pd.DataFrame(columns=["record_id", *scope.ACT_COLUMNS])
        return empty, pd.DataFrame(columns=["record_id", *scope.PARTY_COLUMNS])
    con.register("_overview_ids", pd.DataFrame({"record_id": ids}))
    try:
        from kpi import materialize

        fresh = materialize.is_fresh(con)
        keep = (f"record_type = '{record_type}' AND record_id IN "
                "(SELECT record_id FROM _overview_ids) "
                "AND (NOT until_as_of OR start_at <= $as_of) "
                "AND start_at > $start AND start_at <= $as_of")
        values = {"as_of": as_of, "start": as_of - LOOKBACK}
        if fresh:
            ctes = ("WITH rec_acts AS (SELECT * FROM record_activity), "
                    "rec_party AS (SELECT * FROM record_party) ")
        else:
            member_filter = (f"WHERE record_type = '{record_type}' AND record_id IN "
                             "(SELECT record_id FROM _overview_ids)")
            ctes = (f"WITH {scope.membership_ctes(member_filter=member_filter)}, "
                    f"rec_acts AS ({scope.RECORD_ACTIVITY}), "
                    f"rec_party AS ({scope.RECORD_PARTY}) ")
        acts = con.execute(
            f"{ctes} SELECT record_id, {', '.join(scope.ACT_COLUMNS)} FROM rec_acts "
            f"WHERE {keep} ORDER BY record_id, start_at, activity_id", values).df()
        parties = con.execute(
            f"{ctes} SELECT record_id, {', '.join(scope.PARTY_COLUMNS)} FROM rec_party "
            f"WHERE {keep} ORDER BY record_id, activity_id, role, person_id", values).df()
    finally:
        con.unregister("_overview_ids")
    return acts, parties


def _last_interactions(con, record_type: str, ids: list[str], as_of) -> dict:
    """The latest completed email, meeting or call of each record up to as-of."""
    if not ids:
        return {}
    con.register("_overview_ids", pd.DataFrame({"record_id": ids}))
    try:
        from kpi import materialize

        if materialize.is_fresh(con):
            source = "record_activity"
            ctes = ""
        else:
            member_filter = (f"WHERE record_type = '{record_type}' AND record_id IN "
                             "(SELECT record_id FROM _overview_ids)")
            ctes = f"WITH {scope.membership_ctes(member_filter=member_filter)} "
            source = f"({scope.RECORD_ACTIVITY})"
        rows = con.execute(
            f"""{ctes} SELECT record_id, max(start_at) FROM {source}
                WHERE record_type = '{record_type}'
                  AND record_id IN (SELECT record_id FROM _overview_ids)
                  AND {scope.COUNTED_FILTER} AND start_at <= $as_of
                GROUP BY record_id""",
            {"as_of": as_of},
        ).fetchall()
    finally:
        con.unregister("_overview_ids")
    return dict(rows)


def _with_health(con, record_type: str, records: pd.DataFrame, as_of: dt.datetime,
                 settings: Settings) -> pd.DataFrame:
    ids = records["id"].tolist()
    acts, parties = _frames(con, record_type, ids, as_of)
    last = _last_interactions(con, record_type, ids, as_of)
    # What the score reads of each activity, worked out once for all records.
    prepared = health_mod.prepare(acts, parties)
    prepared_by = dict(tuple(prepared.groupby("record_id", sort=False)))
    empty = prepared.iloc[0:0]
    empty_acts = acts.iloc[0:0].drop(columns="record_id")
    empty_parties = parties.iloc[0:0].drop(columns="record_id")
    rows = []
    for record_id in ids:
        h = health_mod.health(empty_acts, empty_parties, as_of, settings,
                              prepared=prepared_by.get(record_id, empty))
        since = next((f["value"] for f in h["factors"] if f["name"] == "days_since_two_way"),
                     None)
        last_at = last.get(record_id)
        cold = last_at is not None and (since is None or since > settings.cadence_days)
        rows.append({"id": record_id, "score": h["score"], "grade": h["grade"],
                     "trend": h["trend"], "days_since_two_way": since,
                     "last_at": last_at, "going_cold": cold})
    scored = pd.DataFrame(rows, columns=["id", "score", "grade", "trend",
                                         "days_since_two_way", "last_at", "going_cold"])
    out = records.merge(scored, on="id", how="left")
    out["score"] = out["score"].astype("Int64")
    return out.sort_values(["score", "last_at", "id"], ascending=[False, False, True],
                           na_position="last", kind="stable").reset_index(drop=True)


@materialize.reads
def opportunities(con: duckdb.DuckDBPyConnection, as_of: dt.datetime,
                  filters: Filters | None = None,
                  settings: Settings | None = None) -> pd.DataFrame:
    """Open opportunities (as of T) ranked by health, best first."""
    settings = settings or settings_mod.load(con)
    records = _opportunities(con, filters or Filters(), True, as_of)
    return _with_health(con, "opportunity", records, as_of, settings)


MEMBER_FILTER = "WHERE record_type = 'account'"


@materialize.reads
def accounts(con: duckdb.DuckDBPyConnection, as_of: dt.datetime,
             filters: Filters | None = None,
             settings: Settings | None = None) -> pd.DataFrame:
    """Accounts with activity ranked by health, best first.

    With a filter, only the accounts of the opportunities that match it.
    """
    settings = settings or settings_mod.load(con)
    filters = filters or Filters()
    if materialize.is_fresh(con):
        members = ("SELECT DISTINCT record_id FROM record_activity "
                   "WHERE record_type = 'account'")
    else:
        members = (f"WITH {scope.membership_ctes(member_filter=MEMBER_FILTER)} "
                   "SELECT DISTINCT record_id FROM record_members")
    records = con.execute(
        f"""SELECT a.account_id AS id,
                   coalesce(a.name, a.domain, a.account_id) AS name, a.industry
            FROM accounts a WHERE a.account_id IN ({members})
            ORDER BY id"""
    ).df()
    if filters.any():
        keep = set(_opportunities(con, filters, False, as_of)["account_id"].dropna())
        records = records[records["id"].isin(keep)]
    return _with_health(con, "account", records, as_of, settings)


@materialize.reads
def sellers(con: duckdb.DuckDBPyConnection, as_of: dt.datetime, days: int | None,
            filters: Filters | None = None) -> pd.DataFrame:
    """Our people's completed activities with customers in the window, by type."""
    filters = filters or Filters()
    seller, values = _seller_filter(filters, "pe")
    values["as_of"] = as_of
    lower = ""
    if days is not None:
        values["start"] = as_of - dt.timedelta(days=days)
        lower = "AND c.start_at > $start"
    return con.execute(
        f"""WITH {scope.membership_ctes(member_filter="WHERE false")},
            ours AS (
                SELECT p.person_key, c.activity_id, c.type, c.start_at
                FROM party p JOIN counted c ON c.activity_id = p.activity_id
                WHERE p.side = 'us' AND {scope.COUNTED_FILTER.replace('type', 'c.type')
                                         .replace('state', 'c.state')
                                         .replace('initiated_by', 'c.initiated_by')}
                  AND c.start_at <= $as_of {lower}
            )
            SELECT pe.person_key AS id,
                   coalesce(max(pe.name), max(pe.email), pe.person_key) AS seller,
                   max(coalesce(m.name, m.email, pe.manager_id)) AS manager,
                   max(pe.region) AS region,
                   count(DISTINCT o.activity_id) AS activities,
                   count(DISTINCT CASE WHEN o.type = 'email' THEN o.activity_id END) AS emails,
                   count(DISTINCT CASE WHEN o.type = 'meeting' THEN o.activity_id END)
                       AS meetings,
                   count(DISTINCT CASE WHEN o.type = 'call' THEN o.activity_id END) AS calls,
                   max(o.start_at) AS last_at
            FROM people pe
            JOIN ours o ON o.person_key = pe.person_key
            LEFT JOIN people m ON m.person_id = pe.manager_id
            WHERE pe.side = 'us' AND {seller}
            GROUP BY pe.person_key
            ORDER BY activities DESC, seller""",
        values,
    ).df()


def summary(frame: pd.DataFrame) -> dict:
    """Counts by grade and of records going cold, for the page's headline."""
    grades = frame["grade"].value_counts().to_dict() if len(frame) else {}
    return {"records": int(len(frame)), "going_cold": int(frame["going_cold"].sum())
            if len(frame) else 0,
            **{g: int(grades.get(g, 0)) for g in ("good", "fair", "poor", "not_enough_data")}}


__all__ = ["Filters", "accounts", "choices", "iso", "opportunities", "sellers", "summary"]
