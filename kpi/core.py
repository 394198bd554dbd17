"""The figures of one record: counts, ratios, first and last, people, days.

Each figure has one definition here, written as SQL over the expressions of
:mod:`kpi.scope`; docs/figures.md states the same definitions in words.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from kpi import scope
from rapport.store import scalar

WINDOW_FILTER = "state = 'completed' AND type IN ('email', 'meeting', 'call') " \
                "AND start_at <= $as_of {lower}"


def _lower(start: dt.datetime | None, alias: str = "") -> str:
    return f"AND {alias}start_at > $start" if start is not None else ""


def _values(record_type, record_id, as_of, start) -> dict:
    values = scope.params(record_type, record_id, as_of)
    values["as_of"] = as_of
    if start is not None:
        values["start"] = start
    return values


def iso(value) -> str | None:
    """A naive UTC time as ISO-8601 with a Z."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    return value.replace(microsecond=0).isoformat() + "Z"


def _day_start(day: dt.date, zone: str) -> dt.datetime:
    """The first UTC instant of a calendar day of *zone* (naive UTC)."""
    from zoneinfo import ZoneInfo

    local = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _full_days(con, start, as_of, zone: str):
    """The whole days of the window the record_day table can answer.

    (first, last, from_at, to_at): the calendar days of *zone* lying wholly
    in (start, as_of], and the UTC span [from_at, to_at) they cover; None
    when the figure tables are not up to date for *zone* or no day is whole.
    """
    from kpi import materialize

    if not materialize.is_fresh(con) or materialize.meta(con).get("zone") != zone:
        return None
    last = _local_day(as_of, zone)
    while _day_start(last + dt.timedelta(days=1), zone) > as_of:
        last -= dt.timedelta(days=1)
    if start is None:
        first = dt.date(1, 1, 2)
    else:
        first = _local_day(start, zone)
        while _day_start(first, zone) <= start:
            first += dt.timedelta(days=1)
    if first > last:
        return None
    from_at = dt.datetime.min if start is None else _day_start(first, zone)
    return first, last, from_at, _day_start(last + dt.timedelta(days=1), zone)


def _day_rows(con, record_type, record_id, first, last) -> list[tuple]:
    """record_day rows of one record between two days, both included."""
    names = ", ".join(name for name, _, _ in scope.DAY_COUNTS)
    return con.execute(
        f"SELECT day, {names}, last_at FROM record_day WHERE record_type = ? "
        "AND record_id = ? AND day BETWEEN ? AND ? ORDER BY day",
        [record_type, record_id, first, last],
    ).fetchall()


def _outside(days) -> str:
    """SQL leaving out the rows the whole days of *days* already counted."""
    if days is None:
        return ""
    return "AND NOT (start_at >= $from_at AND start_at < $to_at)"


def _day_values(values: dict, days) -> dict:
    if days is not None:
        values = {**values, "from_at": days[2], "to_at": days[3]}
    return values


def interactions(con, record_type, record_id, as_of, start, zone: str | None = None) -> dict:
    """Completed emails, meetings and calls in the window, by initiating side.

    Whole days come from record_day when it is up to date, the window's
    partial first and last days from the record's activities.
    """
    zone = zone or _zone(con)
    days = _full_days(con, start, as_of, zone)
    rows = con.execute(
        f"""{scope.record_ctes(record_type, con=con)}
        SELECT type, initiated_by, count(*) FROM rec_acts
        WHERE {WINDOW_FILTER.format(lower=_lower(start))} AND initiated_by IS NOT NULL
          {_outside(days)}
        GROUP BY type, initiated_by""",
        _day_values(_values(record_type, record_id, as_of, start), days),
    ).fetchall()
    result = {f"{t}s": {"by_us": 0, "by_them": 0} for t in scope.COUNTED_TYPES}
    for kind, side, n in rows:
        result[f"{kind}s"][f"by_{side}"] += int(n)
    if days is not None:
        for _, *counts, _ in _day_rows(con, record_type, record_id, days[0], days[1]):
            for (name, kind, side), n in zip(scope.DAY_COUNTS, counts):
                result[f"{kind}s"][f"by_{side}"] += int(n)
    return result


def _zone(con) -> str:
    from rapport import settings as settings_mod

    return settings_mod.load(con).display_timezone


def email_ratio(counts: dict) -> dict:
    """Emails by one side per email by the other; null when the divisor is 0."""
    us, them = counts["emails"]["by_us"], counts["emails"]["by_them"]
    return {
        "by_them": round(them / us, 2) if us else None,
        "by_us": round(us / them, 2) if them else None,
    }


def last_interaction(con, record_type, record_id, as_of) -> dict | None:
    """The latest completed email, meeting or call at or before as-of."""
    rows = con.execute(
        f"""{scope.record_ctes(record_type, con=con)}
        SELECT start_at, type, subject, initiated_by FROM rec_acts
        WHERE {WINDOW_FILTER.format(lower='')}
        ORDER BY start_at DESC, activity_id LIMIT 1""",
        _values(record_type, record_id, as_of, None),
    ).fetchall()
    if not rows:
        return None
    at, kind, subject, side = rows[0]
    return {"at": iso(at), "type": kind, "subject": subject, "initiated_by": side}


def next_interaction(con, record_type, record_id, as_of) -> dict | None:
    """The earliest scheduled meeting, call or task after as-of."""
    rows = con.execute(
        f"""{scope.record_ctes(record_type, con=con)}
        SELECT start_at, type, subject FROM rec_acts
        WHERE state = 'scheduled' AND type IN ('meeting', 'call', 'task')
          AND start_at > $as_of
        ORDER BY start_at, activity_id LIMIT 1""",
        _values(record_type, record_id, as_of, None),
    ).fetchall()
    if not rows:
        return None
    at, kind, subject = rows[0]
    return {"at": iso(at), "type": kind, "subject": subject}


def _people_ranking(con, record_type, record_id, as_of, start, side: str, limit: int):
    """People of one side ranked by the window activities they took part in."""
    if side == "them":
        own = {
            "account": "AND account_id = $rec",
            "contact": "AND person_key = $rec",
            "lead": "AND email = (SELECT lower(email) FROM leads WHERE lead_id = $rec)",
            "opportunity": "",
        }[record_type]
    else:
        own = ""
    rows = con.execute(
        f"""{scope.record_ctes(record_type, con=con)},
        seen AS (
            SELECT person_key, activity_id, max(type) AS type, max(start_at) AS start_at,
                   max(name) AS name, max(email) AS email
            FROM rec_party
            WHERE {WINDOW_FILTER.format(lower=_lower(start))} AND side = '{side}' {own}
            GROUP BY person_key, activity_id
        )
        SELECT person_key, max(name), max(email), count(*) AS n,
               count(CASE WHEN type = 'email' THEN 1 END),
               count(CASE WHEN type = 'meeting' THEN 1 END),
               count(CASE WHEN type = 'call' THEN 1 END),
               max(start_at) AS last_at
        FROM seen
        GROUP BY person_key
        ORDER BY n DESC, last_at DESC, person_key
        LIMIT {int(limit)}""",
        _values(record_type, record_id, as_of, start),
    ).fetchall()
    return [
        {"id": key, "name": name or email or key, "email": email, "interactions": int(n),
         "emails": int(e), "meetings": int(m), "calls": int(c), "last_at": iso(last)}
        for key, name, email, n, e, m, c, last in rows
    ]


def most_contacted(con, record_type, record_id, as_of, start, limit=3):
    """The record's own external people with the most window activities."""
    return _people_ranking(con, record_type, record_id, as_of, start, "them", limit)


def most_contacted_by(con, record_type, record_id, as_of, start, limit=3):
    """Our people with the most window activities with the record's people."""
    return _people_ranking(con, record_type, record_id, as_of, start, "us", limit)


def daily(con, record_type, record_id, as_of, start, zone: str) -> list[dict]:
    """One row per calendar day (display zone) of the window, zeros included."""
    values = _values(record_type, record_id, as_of, start)
    values["zone"] = zone
    days = _full_days(con, start, as_of, zone)
    rows = con.execute(
        f"""{scope.record_ctes(record_type, con=con)},
        win AS (
            SELECT CAST(timezone($zone, timezone('UTC', start_at)) AS DATE) AS day,
                   type, initiated_by
            FROM rec_acts
            WHERE {WINDOW_FILTER.format(lower=_lower(start))} AND initiated_by IS NOT NULL
              {_outside(days)}
        )
        SELECT day,
               count(*) FILTER (WHERE type = 'email' AND initiated_by = 'us'),
               count(*) FILTER (WHERE type = 'email' AND initiated_by = 'them'),
               count(*) FILTER (WHERE type = 'meeting' AND initiated_by = 'us'),
               count(*) FILTER (WHERE type = 'meeting' AND initiated_by = 'them'),
               count(*) FILTER (WHERE type = 'call' AND initiated_by = 'us'),
               count(*) FILTER (WHERE type = 'call' AND initiated_by = 'them')
        FROM win GROUP BY day ORDER BY day""",
        _day_values(values, days),
    ).fetchall()
    if days is not None:
        rows += [row[:-1] for row in _day_rows(con, record_type, record_id, days[0],
                                                days[1])]
    names = tuple(name for name, _, _ in scope.DAY_COUNTS)
    by_day: dict = {}
    for day, *counts in rows:
        if hasattr(day, "date") and not isinstance(day, dt.date):
            day = day.date()
        previous = by_day.get(day, dict.fromkeys(names, 0))
        by_day[day] = {n: previous[n] + int(c) for n, c in zip(names, counts)}
    last_day = _local_day(as_of, zone)
    if start is not None:
        span = round((as_of - start).total_seconds() / 86400)
        first_day = last_day - dt.timedelta(days=max(span, 1) - 1)
    elif by_day:
        first_day = min(by_day)
    else:
        return []
    out = []
    day = first_day
    while day <= last_day:
        out.append({"date": day.isoformat(), **by_day.get(day, dict.fromkeys(names, 0))})
        day += dt.timedelta(days=1)
    return out


def _local_day(moment: dt.datetime, zone: str) -> dt.date:
    from zoneinfo import ZoneInfo

    return moment.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(zone)).date()


def data_extent(con: duckdb.DuckDBPyConnection) -> dict:
    """What the store holds: activity count, date range, imported files."""
    first, last, n = con.execute(
        "SELECT min(start_at), max(start_at), count(*) FROM activities "
        "WHERE state = 'completed'"
    ).fetchall()[0]
    files = [f for (f,) in con.execute(
        "SELECT file FROM imports WHERE outcome = 'imported' ORDER BY import_id"
    ).fetchall()]
    path = scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = "
                       "current_database()")
    return {"activities": int(n), "first_at": iso(first), "last_at": iso(last),
            "imports": len(files), "files": files, "db": path}


def default_as_of(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None,
                  window_days: int = 60) -> tuple[dt.datetime, str | None]:
    """Now, or the end of the data's last day when the data stop before the window.

    A historical data set (the Enron mail ends in 2002) opens on a window that
    holds its data, and says so, instead of an empty chart.
    """
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    last = scalar(con, "SELECT max(start_at) FROM activities WHERE state = 'completed' "
                       "AND start_at <= ?", [now])
    if last is None or last > now - dt.timedelta(days=window_days):
        return now, None
    end_of_day = dt.datetime.combine(last.date(), dt.time(23, 59, 59))
    note = (f"The data end on {last.date().isoformat()}, so figures are shown as of "
            "that day.")
    return end_of_day, note
