"""Rapport's figures: every number the app and the command line show.

``figures()`` returns the figures of one record as the JSON of spec section 7;
the list functions feed the pickers and tables of the app. Definitions are in
docs/figures.md.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from kpi import (conversations, core, engagement, health, materialize, network, scope,
                 time_spent)
from kpi.core import data_extent, default_as_of, iso
from kpi.summary import sentences
from rapport import settings as settings_mod
from rapport.settings import Settings

__all__ = ["figures", "resolve", "list_accounts", "list_contacts", "list_records",
           "data_extent", "default_as_of", "window_start"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def window_start(as_of: dt.datetime, days: int | None) -> dt.datetime | None:
    """The open lower bound of the window (as_of - days), None for all."""
    return None if days is None else as_of - dt.timedelta(days=days)


def _unique(rows: list, what: str, key: str) -> tuple[str, str]:
    if len(rows) == 1:
        return rows[0][0], rows[0][1]
    if not rows:
        raise LookupError(f"no {what} matches {key!r}; try its id, name or e-mail address")
    names = ", ".join(f"{r[1]} ({r[0]})" for r in rows[:5])
    raise LookupError(f"{len(rows)} {what}s match {key!r}: {names}; use the id")


def resolve(con: duckdb.DuckDBPyConnection, record_type: str, key: str) -> tuple[str, str]:
    """The id and display name of the record *key* names (id, name or e-mail)."""
    if record_type not in scope.RECORD_TYPES:
        raise LookupError(f"unknown record type {record_type!r}")
    lowered = key.strip().lower()
    if record_type == "account":
        queries = [
            ("SELECT account_id, coalesce(name, domain, account_id) FROM accounts "
             "WHERE account_id = ?", [key]),
            ("SELECT account_id, coalesce(name, domain, account_id) FROM accounts "
             "WHERE lower(domain) = ? OR account_id = 'domain:' || ?", [lowered, lowered]),
            ("SELECT account_id, coalesce(name, domain, account_id) FROM accounts "
             "WHERE lower(name) = ?", [lowered]),
        ]
    elif record_type == "contact":
        base = ("SELECT person_key, coalesce(max(name), max(email), person_key) FROM people "
                "WHERE side = 'them' AND {} GROUP BY person_key")
        queries = [
            (base.format("(person_key = ? OR person_key = ? OR person_id = ?)"),
             [key, lowered, key]),
            (base.format("lower(email) = ?"), [lowered]),
            (base.format("lower(name) = ?"), [lowered]),
        ]
    elif record_type == "lead":
        base = "SELECT lead_id, coalesce(name, email, lead_id) FROM leads WHERE {}"
        queries = [(base.format("lead_id = ?"), [key]),
                   (base.format("lower(email) = ?"), [lowered]),
                   (base.format("lower(name) = ?"), [lowered])]
    else:
        base = ("SELECT opportunity_id, coalesce(name, opportunity_id) FROM opportunities "
                "WHERE {}")
        queries = [(base.format("opportunity_id = ?"), [key]),
                   (base.format("lower(name) = ?"), [lowered])]
    for sql, values in queries:
        rows = con.execute(sql, values).fetchall()
        if rows:
            return _unique(rows, record_type, key)
    if record_type == "contact":
        side = con.execute(
            "SELECT max(side) FROM people WHERE person_key = ? OR lower(email) = ? "
            "OR lower(name) = ?", [lowered, lowered, lowered]).fetchall()[0][0]
        if side == "us":
            raise LookupError(f"{key!r} is one of our own people (an internal domain), not a "
                              "customer contact; look up the customer's address instead, or "
                              "change internal_domains if this person is a customer")
        if side == "excluded":
            raise LookupError(f"{key!r} is excluded from every figure (an automated sender, "
                              "an excluded address or domain, or opted out)")
    return _unique([], record_type, key)


@materialize.reads
def figures(
    con: duckdb.DuckDBPyConnection,
    record_type: str,
    key: str,
    *,
    as_of: dt.datetime | None = None,
    days: int | None = 60,
    settings: Settings | None = None,
) -> dict:
    """Every figure of one record as of *as_of* over the last *days* days."""
    settings = settings or materialize.settings(con, settings_mod.load)
    record_id, name = resolve(con, record_type, key)
    note = None
    if as_of is None:
        as_of, note = default_as_of(con, window_days=days or settings.window_days)
    start = window_start(as_of, days)
    counts = core.interactions(con, record_type, record_id, as_of, start)
    result = {
        "entity": {"type": record_type, "id": record_id, "name": name},
        "as_of": iso(as_of),
        "window_days": days if days is not None else "all",
        "as_of_note": note,
        "interactions": counts,
        "email_ratio": core.email_ratio(counts),
        "last_interaction": core.last_interaction(con, record_type, record_id, as_of),
        "next_interaction": core.next_interaction(con, record_type, record_id, as_of),
        "most_contacted": core.most_contacted(con, record_type, record_id, as_of, start),
        "most_contacted_by": core.most_contacted_by(con, record_type, record_id, as_of,
                                                    start),
        "daily": core.daily(con, record_type, record_id, as_of, start,
                            settings.display_timezone),
    }
    result.update(_widgets(con, record_type, record_id, as_of, start, settings))
    result["summary"] = sentences(result)
    result["computed_at"] = core.computed_at(con)
    return result


# Health looks back 90 days and compares with the score 14 days earlier.
HEALTH_LOOKBACK = dt.timedelta(days=90 + 14)


def _widgets(con, record_type, record_id, as_of, start, settings: Settings) -> dict:
    """The figures computed from the record's frames of activities."""
    context = dt.timedelta(days=settings.response_within_days)
    lower = None if start is None else min(start - context, as_of - HEALTH_LOOKBACK)
    acts, parties = scope.record_frames(con, record_type, record_id, lower, as_of)
    if start is None:
        window_acts = acts
    else:
        window_acts = acts[acts["start_at"] > start]
    window_parties = parties[parties["activity_id"].isin(window_acts["activity_id"])]
    return {
        "time_spent_hours": time_spent.time_spent(window_acts, window_parties, settings),
        "response": conversations.response(acts, parties, start, as_of, settings),
        "email_engagement": engagement.email_engagement(window_acts),
        "health": health.health(acts, parties, as_of, settings),
        "who_knows_whom": network.who_knows_whom(
            window_acts, window_parties, as_of,
            record_people=_record_people(record_type, record_id, parties)),
    }


def _record_people(record_type, record_id, parties) -> list[str] | None:
    """The person keys that are the record's own people, where a rule says so."""
    if record_type == "account":
        own = parties[(parties["side"] == "them") & (parties["account_id"] == record_id)]
        return sorted(set(own["person_key"].dropna()))
    if record_type == "contact":
        return [record_id]
    return None


@materialize.reads
def list_accounts(
    con: duckdb.DuckDBPyConnection,
    *,
    search: str | None = None,
    sort: str = "interactions",
    as_of: dt.datetime | None = None,
    days: int | None = 60,
    limit: int | None = None,
) -> pd.DataFrame:
    """Accounts with people or activities, with their window's interactions
    (kpi.core.list_accounts)."""
    if as_of is None:
        as_of, _ = default_as_of(con)
    return core.list_accounts(con, search=search, sort=sort, as_of=as_of, days=days,
                              limit=limit)


@materialize.reads
def list_contacts(
    con: duckdb.DuckDBPyConnection,
    *,
    account_id: str | None = None,
    search: str | None = None,
    as_of: dt.datetime | None = None,
    days: int | None = 60,
    limit: int | None = None,
) -> pd.DataFrame:
    """External people, with their window's interactions and last interaction
    (kpi.core.list_contacts)."""
    if as_of is None:
        as_of, _ = default_as_of(con)
    return core.list_contacts(con, account_id=account_id, search=search, as_of=as_of,
                              days=days, limit=limit)


@materialize.reads
def list_records(con: duckdb.DuckDBPyConnection, record_type: str,
                 search: str | None = None, limit: int = 500) -> pd.DataFrame:
    """Ids and names of leads or opportunities, for pickers."""
    table, key = {"lead": ("leads", "lead_id"),
                  "opportunity": ("opportunities", "opportunity_id")}[record_type]
    extra = ", state" if record_type in ("lead", "opportunity") else ""
    values: list = []
    where = ""
    if search:
        where = f"WHERE lower(coalesce(name, '')) LIKE ? OR {key} = ?"
        values = [f"%{search.strip().lower()}%", search.strip()]
    return con.execute(
        f"SELECT {key} AS id, coalesce(name, {key}) AS name{extra} FROM {table} {where} "
        f"ORDER BY name, id LIMIT {int(limit)}",
        values,
    ).df()
