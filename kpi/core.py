"""The figures of one record: counts, ratios, first and last, people, days.

Each figure has one definition here, written as SQL over the expressions of
:mod:`kpi.scope`; docs/figures.md states the same definitions in words.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from kpi import materialize, scope
from kpi.materialize import reads as _reads
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
    from kpi import materialize
    from rapport import settings as settings_mod

    return materialize.settings(con, settings_mod.load).display_timezone


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


def _stored_extent(con) -> tuple | None:
    """(first, last, count) of completed activities as the figure tables
    recorded them, when they are up to date."""
    from kpi import materialize

    if not materialize.is_fresh(con):
        return None
    extent = materialize.meta(con).get("extent")
    if not extent:
        return None
    when = [dt.datetime.fromisoformat(v) if v else None
            for v in (extent["first_at"], extent["last_at"])]
    return when[0], when[1], extent["completed"]


@_reads
def data_extent(con: duckdb.DuckDBPyConnection) -> dict:
    """What the store holds: activity count, date range, imported files."""
    extent = _stored_extent(con)
    if extent is not None:
        first, last, n = extent
    else:
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


@_reads
def default_as_of(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None,
                  window_days: int = 60) -> tuple[dt.datetime, str | None]:
    """Now, or the end of the data's last day when the data stop before the window.

    A historical data set (the Enron mail ends in 2002) opens on a window that
    holds its data, and says so, instead of an empty chart.
    """
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    extent = _stored_extent(con)
    if extent is not None and extent[1] is not None and extent[1] <= now:
        last = extent[1]
    else:
        last = scalar(con, "SELECT max(start_at) FROM activities WHERE state = 'completed' "
                           "AND start_at <= ?", [now])
    if last is None or last > now - dt.timedelta(days=window_days):
        return now, None
    end_of_day = dt.datetime.combine(last.date(), dt.time(23, 59, 59))
    note = (f"The data end on {last.date().isoformat()}, so figures are shown as of "
            "that day.")
    return end_of_day, note


# --- lists of records, from the figure tables --------------------------------

def computed_at(con: duckdb.DuckDBPyConnection) -> str:
    """When the figures shown were computed: the figure tables' computation
    when they are up to date, else now (the figures are computed as read)."""
    from kpi import materialize

    if materialize.is_fresh(con):
        return iso(materialize.computed_at(con))
    return iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0))


def _list_window(con, as_of, start, zone):
    """SQL pieces and values splitting (start, as_of] into record_day's whole
    days and the partial days read from record_activity / record_party."""
    days = _full_days(con, start, as_of, zone)
    values = {"as_of": as_of}
    if start is not None:
        values["start"] = start
    lower = "start_at > $start" if start is not None else "true"
    if days is None:
        return None, values, lower
    values.update(first=days[0], last=days[1], from_at=days[2], to_at=days[3])
    return days, values, lower


def _figure_rows(con, record_type: str, member_filter: str = "") -> str:
    """``WITH f_activity AS (...), f_party AS (...)``: the figure tables'
    record_activity and record_party rows of *record_type*, read from the
    tables when they are up to date, else computed from the canonical
    tables with the same definition (kpi.scope)."""
    if materialize.is_fresh(con):
        return (f"WITH f_activity AS (SELECT * FROM record_activity "
                f"WHERE record_type = '{record_type}'), "
                f"f_party AS (SELECT * FROM record_party WHERE record_type = '{record_type}')")
    where = f"WHERE record_type = '{record_type}' {member_filter}"
    return (f"WITH {scope.membership_ctes(member_filter=where)}, "
            f"f_activity AS ({scope.RECORD_ACTIVITY}), f_party AS ({scope.RECORD_PARTY})")


def list_accounts(con, *, search=None, sort="interactions", as_of=None, days=60,
                  limit=None, zone: str | None = None):
    """Accounts with people or activities, with their window's interactions.

    A window's whole days come from record_day when the figure tables are up
    to date, its partial first and last days (or all of it otherwise) from
    the accounts' activities, so the counts are those of the account pages.
    """
    zone = zone or _zone(con)
    if as_of is None:
        as_of, _ = default_as_of(con)
    start = None if days is None else as_of - dt.timedelta(days=days)
    split, values, lower = _list_window(con, as_of, start, zone)
    where = ""
    if search:
        values["search"] = f"%{search.strip().lower()}%"
        where = ("WHERE (lower(coalesce(acc.name, '')) LIKE $search "
                 "OR lower(coalesce(acc.domain, '')) LIKE $search)")
    order = {
        "interactions": "interactions DESC, last_at DESC NULLS LAST, name",
        "last_interaction": "last_at DESC NULLS LAST, interactions DESC, name",
        "name": "lower(name), account_id",
    }[sort]
    sums = ", ".join(f"{name}" for name, _, _ in scope.DAY_COUNTS)
    counted = f"record_type = 'account' AND {scope.COUNTED_FILTER}"
    if split is not None:
        days_sql = f"""SELECT record_id AS account_id, day, {sums}, last_at
            FROM record_day WHERE record_type = 'account' AND day <= $last"""
        detail_sql = f"""SELECT record_id AS account_id, type, start_at FROM f_activity
            WHERE {counted} AND start_at <= $as_of AND start_at >= $to_at
            UNION ALL
            SELECT record_id, type, start_at FROM f_activity
            WHERE {counted} AND {lower} AND start_at < $from_at"""
        in_window = "day >= $first"
    else:
        zeros = ", ".join(f"0 AS {name}" for name, _, _ in scope.DAY_COUNTS)
        days_sql = (f"SELECT CAST(NULL AS VARCHAR) AS account_id, CAST(NULL AS DATE) AS day, "
                    f"{zeros}, CAST(NULL AS TIMESTAMP) AS last_at WHERE false")
        detail_sql = f"""SELECT record_id AS account_id, type, start_at FROM f_activity
            WHERE {counted} AND {lower} AND start_at <= $as_of
            UNION ALL
            SELECT record_id, NULL, max(start_at) FROM f_activity
            WHERE {counted} AND start_at <= $as_of GROUP BY record_id"""
        in_window = "true"
    return con.execute(
        f"""{_figure_rows(con, 'account')},
        day_part AS ({days_sql}),
        detail AS ({detail_sql}),
        per_acc AS (
            SELECT account_id, sum(interactions) AS interactions, sum(emails) AS emails,
                   sum(meetings) AS meetings, sum(calls) AS calls, max(last_at) AS last_at
            FROM (
                SELECT account_id,
                       CASE WHEN {in_window} THEN emails_sent + emails_received
                            + meetings_sent + meetings_received + calls_made
                            + calls_received ELSE 0 END AS interactions,
                       CASE WHEN {in_window} THEN emails_sent + emails_received
                            ELSE 0 END AS emails,
                       CASE WHEN {in_window} THEN meetings_sent + meetings_received
                            ELSE 0 END AS meetings,
                       CASE WHEN {in_window} THEN calls_made + calls_received
                            ELSE 0 END AS calls,
                       last_at
                FROM day_part
                UNION ALL
                SELECT account_id, CASE WHEN type IS NULL THEN 0 ELSE 1 END,
                       CASE WHEN type = 'email' THEN 1 ELSE 0 END,
                       CASE WHEN type = 'meeting' THEN 1 ELSE 0 END,
                       CASE WHEN type = 'call' THEN 1 ELSE 0 END, start_at
                FROM detail
            ) GROUP BY account_id
        ),
        contacts AS (
            SELECT account_id, count(DISTINCT person_key) AS contacts FROM people
            WHERE side = 'them' AND account_id IS NOT NULL GROUP BY account_id
        )
        SELECT acc.account_id, coalesce(acc.name, acc.domain, acc.account_id) AS name,
               acc.domain, coalesce(c.contacts, 0) AS contacts,
               CAST(coalesce(pa.interactions, 0) AS BIGINT) AS interactions,
               CAST(coalesce(pa.emails, 0) AS BIGINT) AS emails,
               CAST(coalesce(pa.meetings, 0) AS BIGINT) AS meetings,
               CAST(coalesce(pa.calls, 0) AS BIGINT) AS calls, pa.last_at
        FROM accounts acc
        LEFT JOIN per_acc pa ON pa.account_id = acc.account_id
        LEFT JOIN contacts c ON c.account_id = acc.account_id
        {where}
        {"AND" if where else "WHERE"} (pa.account_id IS NOT NULL OR c.account_id IS NOT NULL)
        ORDER BY {order}
        {f"LIMIT {int(limit)}" if limit else ""}""",
        values,
    ).df()


def list_contacts(con, *, account_id=None, search=None, as_of=None, days=60, limit=None):
    """External people, with their window's interactions and last interaction.

    Read from the figure tables when they are up to date, else computed with
    the same definition. A contact's interactions are the window's completed emails, meetings and
    calls it takes part in, as on the contact's page (without activities that
    only name it as their regarding record).
    """
    if as_of is None:
        as_of, _ = default_as_of(con)
    start = None if days is None else as_of - dt.timedelta(days=days)
    values: dict = {"as_of": as_of}
    if start is not None:
        values["start"] = start
    window = "rp.start_at > $start" if start is not None else "true"
    filters = ["pe.side = 'them'"]
    if account_id:
        values["account"] = account_id
        filters.append("pe.account_id = $account")
        # The account's own rows hold every activity of its people.
        rows = _figure_rows(con, "account", "AND record_id = $account")
        source = "rp.record_id = $account"
    else:
        rows = _figure_rows(con, "contact")
        source = ("rp.record_id = rp.person_key "
                  "AND rp.record_id IN (SELECT person_key FROM pe)")
    if search:
        values["search"] = f"%{search.strip().lower()}%"
        filters.append("(lower(coalesce(pe.name, '')) LIKE $search "
                       "OR lower(coalesce(pe.email, '')) LIKE $search)")
    return con.execute(
        f"""{rows},
        pe AS (SELECT * FROM people pe WHERE {' AND '.join(filters)}),
        per AS (
            SELECT rp.person_key,
                   count(DISTINCT CASE WHEN {window} THEN rp.activity_id END)
                       AS interactions,
                   max(rp.start_at) AS last_at
            FROM f_party rp
            WHERE {source} AND rp.{scope.COUNTED_FILTER.replace(' AND ', ' AND rp.')}
              AND rp.start_at <= $as_of
              AND rp.person_key IN (SELECT person_key FROM pe)
            GROUP BY rp.person_key
        )
        SELECT pe.person_key AS contact_id,
               coalesce(max(pe.name), max(pe.email), pe.person_key) AS name,
               max(pe.email) AS email, max(pe.account_id) AS account_id,
               max(coalesce(acc.name, acc.domain)) AS account_name,
               coalesce(max(per.interactions), 0) AS interactions,
               max(per.last_at) AS last_at
        FROM pe
        LEFT JOIN per ON per.person_key = pe.person_key
        LEFT JOIN accounts acc ON acc.account_id = pe.account_id
        GROUP BY pe.person_key
        ORDER BY interactions DESC, last_at DESC NULLS LAST, name
        {f"LIMIT {int(limit)}" if limit else ""}""",
        values,
    ).df()
