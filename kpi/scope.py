"""Which activities count, who initiated them, and which belong to a record.

Spec sections 2 to 4 live here as SQL, so every figure starts from the same
definition of "the activities of this record". The definition is written once,
for every record at the same time (:data:`MEMBERS`); the figure tables of
:mod:`kpi.materialize` hold its result, :mod:`kpi.spark` runs the very same
text on Spark, and a page that finds no up-to-date figure tables runs it for
its one record. The SQL keeps to constructs DuckDB and Spark SQL share, and
names no parameter: per-record queries add ``$rec`` and ``$as_of`` around it.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

RECORD_TYPES = ("account", "contact", "lead", "opportunity")
COUNTED_TYPES = ("email", "meeting", "call")

# The tables the definitions read. Restricting them (to the activities one
# import touched) restricts every expression built on them.
SOURCES = {"activities": "activities", "activity_parties": "activity_parties"}

# Parties who are visible to the figures: excluded people are left out here,
# so no figure can see them.
PARTY_TEMPLATE = """
party AS (
    SELECT ap.activity_id, ap.person_id, ap.role, p.person_key, p.side,
           p.name, p.email, p.account_id
    FROM {activity_parties} ap
    JOIN people p ON p.person_id = ap.person_id
    WHERE p.side IN ('us', 'them')
)"""

# Activities that count at all, with the side that initiated them. An email is
# initiated by its sender, a call by its caller (or the source's direction), a
# meeting by its organizer, else its owner: importers put that person in
# initiator_id, and direction where the source states one.
COUNTED_TEMPLATE = """
counted AS (
    SELECT a.activity_id, a.type, a.subject, a.start_at, a.end_at,
           a.duration_minutes, a.state, a.regarding_type, a.regarding_id,
           a.message_id, a.in_reply_to, a.refs, a.conversation_id, a.followed,
           a.opens, a.clicks, a.replies, a.attachment_opens,
           CASE
               WHEN ip.side IN ('us', 'them') THEN ip.side
               WHEN ip.side = 'excluded' THEN NULL
               WHEN a.direction = 'outgoing' THEN 'us'
               WHEN a.direction = 'incoming' THEN 'them'
           END AS initiated_by
    FROM {activities} a
    LEFT JOIN people ip ON ip.person_id = a.initiator_id
    WHERE coalesce(a.direction, '') <> 'internal'
      AND (a.regarding_id IS NOT NULL
           OR a.activity_id IN (SELECT activity_id FROM party WHERE side = 'them'))
)"""

PARTY = PARTY_TEMPLATE.format(**SOURCES)
COUNTED = COUNTED_TEMPLATE.format(**SOURCES)

# The activities of every record (spec section 3), one row per record and
# activity. ``open_end`` is 1 where the activity belongs to the record only up
# to the as-of time: an open opportunity's activities between its people.
MEMBERS = """
contact_keys AS (
    SELECT DISTINCT person_key FROM people WHERE side = 'them'
),
opp_us AS (
    SELECT o.opportunity_id, p.person_key
    FROM opportunities o JOIN people p ON p.person_id = o.owner_id
    UNION
    SELECT m.opportunity_id, p.person_key
    FROM opportunity_members m JOIN people p ON p.person_id = m.person_id
    WHERE m.role = 'team'
),
opp_them AS (
    SELECT o.opportunity_id, p.person_key
    FROM opportunities o JOIN people p ON p.person_id = o.contact_id
    UNION
    SELECT m.opportunity_id, p.person_key
    FROM opportunity_members m JOIN people p ON p.person_id = m.person_id
    WHERE m.role <> 'team'
),
opp_pairs AS (
    SELECT u.opportunity_id, u.person_key AS us_key, t.person_key AS them_key,
           o.created_at, o.closed_at
    FROM opp_us u
    JOIN opp_them t ON t.opportunity_id = u.opportunity_id
    JOIN opportunities o ON o.opportunity_id = u.opportunity_id
),
act_pairs AS (
    SELECT DISTINCT s.activity_id, a.start_at, s.person_key AS us_key,
           c.person_key AS them_key
    FROM party s
    JOIN party c ON c.activity_id = s.activity_id
    JOIN counted a ON a.activity_id = s.activity_id
    WHERE s.side = 'us' AND c.side = 'them'
),
lead_people AS (
    SELECT ld.lead_id, lower(ld.email) AS email, owner.person_key AS owner_key
    FROM leads ld JOIN people owner ON owner.person_id = ld.owner_id
),
members AS (
    -- Contact C: activities where C is a party in any role, or regarding C.
    SELECT 'contact' AS record_type, p.person_key AS record_id, p.activity_id,
           0 AS open_end
    FROM party p
    WHERE p.person_key IN (SELECT person_key FROM contact_keys)
    UNION ALL
    SELECT 'contact' AS record_type, pe.person_key AS record_id, c.activity_id,
           0 AS open_end
    FROM counted c JOIN people pe ON pe.person_id = c.regarding_id
    WHERE pe.person_key IN (SELECT person_key FROM contact_keys)
    UNION ALL
    -- Account A: activities regarding A, and with an external person of A.
    SELECT 'account' AS record_type, p.account_id AS record_id, p.activity_id,
           0 AS open_end
    FROM party p
    WHERE p.side = 'them' AND p.account_id IS NOT NULL
    UNION ALL
    SELECT 'account' AS record_type, c.regarding_id AS record_id, c.activity_id,
           0 AS open_end
    FROM counted c
    WHERE c.regarding_id IN (SELECT account_id FROM accounts)
    UNION ALL
    -- Lead L: activities regarding L, and between L's owner and L's address.
    SELECT 'lead' AS record_type, c.regarding_id AS record_id, c.activity_id,
           0 AS open_end
    FROM counted c
    WHERE c.regarding_id IN (SELECT lead_id FROM leads)
    UNION ALL
    -- (A semi-join: joining the owner's rows first would pair every lead
    -- with all of its owner's activities before narrowing them down.)
    SELECT 'lead' AS record_type, lp.lead_id AS record_id, l.activity_id,
           0 AS open_end
    FROM lead_people lp
    JOIN party l ON l.email = lp.email
    WHERE (l.activity_id, lp.owner_key) IN (SELECT activity_id, person_key FROM party)
    UNION ALL
    -- Opportunity O: activities regarding O, and between O's owner or sales
    -- team and its customer contact or stakeholders, from its creation to
    -- the day after its close (to as-of while it is open).
    SELECT 'opportunity' AS record_type, c.regarding_id AS record_id, c.activity_id,
           0 AS open_end
    FROM counted c
    WHERE c.regarding_id IN (SELECT opportunity_id FROM opportunities)
    UNION ALL
    SELECT 'opportunity' AS record_type, op.opportunity_id AS record_id, ap.activity_id,
           CASE WHEN op.closed_at IS NULL THEN 1 ELSE 0 END AS open_end
    FROM act_pairs ap
    JOIN opp_pairs op ON op.us_key = ap.us_key AND op.them_key = ap.them_key
    WHERE (op.created_at IS NULL OR ap.start_at >= op.created_at)
      AND (op.closed_at IS NULL OR ap.start_at <= op.closed_at + INTERVAL 1 DAY)
),
record_members AS (
    SELECT record_type, record_id, activity_id, min(open_end) AS open_end
    FROM members {member_filter}
    GROUP BY record_type, record_id, activity_id
)"""

ACT_COLUMNS = [
    "activity_id", "type", "subject", "start_at", "end_at", "duration_minutes", "state",
    "initiated_by", "message_id", "in_reply_to", "refs", "conversation_id", "followed",
    "opens", "clicks", "replies", "attachment_opens", "regarding_type", "regarding_id",
]
PARTY_COLUMNS = ["activity_id", "person_id", "person_key", "role", "side", "name",
                 "email", "account_id"]
# What a party row carries of its activity, so a record's parties are read
# without going back to the activities.
PARTY_ACT_COLUMNS = ["start_at", "type", "state", "initiated_by"]


def base_ctes(sources: dict | None = None) -> str:
    """The ``party, counted`` expressions, without WITH."""
    sources = {**SOURCES, **(sources or {})}
    return ",\n".join([PARTY_TEMPLATE.format(**sources), COUNTED_TEMPLATE.format(**sources)])


def membership_ctes(sources: dict | None = None, member_filter: str = "") -> str:
    """The ``party, counted, ..., record_members`` expressions, without WITH."""
    return ",\n".join([base_ctes(sources), MEMBERS.format(member_filter=member_filter)])


# record_members computed once, for the figure tables built from it.
RECORD_MEMBERS = "SELECT record_type, record_id, activity_id, open_end FROM record_members"


# The figure tables, each a SELECT over membership_ctes(). Rows are kept in
# record order so that one record's rows sit together.
RECORD_ACTIVITY = """
SELECT m.record_type, m.record_id, m.open_end = 1 AS until_as_of,
       {act_columns}
FROM record_members m JOIN counted c ON c.activity_id = m.activity_id
""".format(act_columns=", ".join("c." + c for c in ACT_COLUMNS))

RECORD_PARTY = """
SELECT m.record_type, m.record_id, m.open_end = 1 AS until_as_of,
       {act_columns}, {party_columns}
FROM record_members m
JOIN counted c ON c.activity_id = m.activity_id
JOIN party p ON p.activity_id = m.activity_id
""".format(act_columns=", ".join("c." + c for c in PARTY_ACT_COLUMNS),
           party_columns=", ".join("p." + c for c in PARTY_COLUMNS))

RECORD_ORDER = "record_type, record_id"

# Completed emails, meetings and calls per record and calendar day of the
# display zone, by initiating side; last_at is the day's latest of them.
DAY_COUNTS = (
    ("emails_sent", "email", "us"), ("emails_received", "email", "them"),
    ("meetings_sent", "meeting", "us"), ("meetings_received", "meeting", "them"),
    ("calls_made", "call", "us"), ("calls_received", "call", "them"),
)
COUNTED_FILTER = ("state = 'completed' AND type IN ('email', 'meeting', 'call') "
                  "AND initiated_by IS NOT NULL")


def local_day(column: str, zone: str) -> str:
    """SQL for the calendar day of a naive UTC time in *zone*."""
    if "'" in zone:
        raise ValueError(f"not a time zone: {zone!r}")
    return f"CAST(timezone('{zone}', timezone('UTC', {column})) AS DATE)"


def record_day_sql(source: str, zone: str, where: str = "") -> str:
    counts = ",\n       ".join(
        f"count(CASE WHEN type = '{kind}' AND initiated_by = '{side}' THEN 1 END) AS {name}"
        for name, kind, side in DAY_COUNTS)
    return f"""
SELECT record_type, record_id, {local_day('start_at', zone)} AS day,
       {counts},
       max(start_at) AS last_at
FROM {source}
WHERE {COUNTED_FILTER} {where}
GROUP BY record_type, record_id, {local_day('start_at', zone)}
"""


# --- one record -------------------------------------------------------------

def _check(record_type: str) -> None:
    if record_type not in RECORD_TYPES:
        raise ValueError(f"unknown record type {record_type!r}; use one of {RECORD_TYPES}")


def _record_filter(record_type: str) -> str:
    return f"record_type = '{record_type}' AND record_id = $rec"


def record_ctes(record_type: str, materialized: bool | None = None,
                con: duckdb.DuckDBPyConnection | None = None) -> str:
    """``WITH ... rec_acts, rec_party``: one record's activities and parties.

    Read from the figure tables when they are up to date (*materialized*, or
    asked of :mod:`kpi.materialize` when *con* is given), else computed from
    the canonical tables with the same definition. Needs ``$rec`` and
    ``$as_of``; rows after as-of of an open opportunity are left out.
    """
    _check(record_type)
    if materialized is None:
        from kpi import materialize
        materialized = con is not None and materialize.is_fresh(con)
    bound = "(NOT until_as_of OR start_at <= $as_of)"
    where = f"WHERE {_record_filter(record_type)} AND {bound}"
    if materialized:
        return (f"WITH rec_acts AS (SELECT * FROM record_activity {where}),\n"
                f"rec_party AS (SELECT * FROM record_party {where})\n")
    return (
        f"WITH {membership_ctes(member_filter='WHERE ' + _record_filter(record_type))},\n"
        f"rec_acts AS (SELECT * FROM ({RECORD_ACTIVITY}) {where}),\n"
        f"rec_party AS (SELECT * FROM ({RECORD_PARTY}) {where})\n"
    )


def params(record_type: str, record_id: str, as_of: dt.datetime, **extra) -> dict:
    return {"rec": record_id, "as_of": as_of, **extra}


def record_frames(
    con: duckdb.DuckDBPyConnection,
    record_type: str,
    record_id: str,
    start: dt.datetime | None,
    end: dt.datetime,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The record's activities with start_at in (start, end], and their parties.

    States are not filtered; excluded people are not among the parties.
    """
    bound = "AND start_at > $start" if start is not None else ""
    values = params(record_type, record_id, end)
    if start is not None:
        values["start"] = start
    ctes = record_ctes(record_type, con=con)
    acts = con.execute(
        f"{ctes} SELECT {', '.join(ACT_COLUMNS)} FROM rec_acts "
        f"WHERE start_at <= $as_of {bound} ORDER BY start_at, activity_id",
        values,
    ).df()
    parties = con.execute(
        f"{ctes} SELECT {', '.join(PARTY_COLUMNS)} FROM rec_party "
        f"WHERE start_at <= $as_of {bound} ORDER BY activity_id, role, person_id",
        values,
    ).df()
    return acts, parties
