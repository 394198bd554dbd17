"""Which activities count, who initiated them, and which belong to a record.

Spec sections 2 to 4 live here as SQL common table expressions, so every
figure starts from the same definition of "the activities of this record".
The SQL keeps to constructs DuckDB and Spark SQL share.

Named parameters used by these expressions: ``$rec`` (the record's id) and,
for an opportunity, ``$as_of``.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

RECORD_TYPES = ("account", "contact", "lead", "opportunity")
COUNTED_TYPES = ("email", "meeting", "call")

# Parties who are visible to the figures: excluded people are left out here,
# so no figure can see them.
PARTY = """
party AS (
    SELECT ap.activity_id, ap.person_id, ap.role, p.person_key, p.side,
           p.name, p.email, p.account_id
    FROM activity_parties ap
    JOIN people p ON p.person_id = ap.person_id
    WHERE p.side IN ('us', 'them')
)"""

# Activities that count at all, with the side that initiated them. An email is
# initiated by its sender, a call by its caller (or the source's direction), a
# meeting by its organizer, else its owner: importers put that person in
# initiator_id, and direction where the source states one.
COUNTED = """
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
    FROM activities a
    LEFT JOIN people ip ON ip.person_id = a.initiator_id
    WHERE coalesce(a.direction, '') <> 'internal'
      AND (a.regarding_id IS NOT NULL
           OR a.activity_id IN (SELECT activity_id FROM party WHERE side = 'them'))
)"""

_MEMBERS = {
    # Activity ids of one record (spec section 3), given $rec.
    "contact": """
        SELECT activity_id FROM party WHERE person_key = $rec
        UNION
        SELECT activity_id FROM counted
        WHERE regarding_id IN (SELECT person_id FROM people WHERE person_key = $rec)
    """,
    "account": """
        SELECT activity_id FROM party WHERE side = 'them' AND account_id = $rec
        UNION
        SELECT activity_id FROM counted WHERE regarding_id = $rec
    """,
    "lead": """
        SELECT activity_id FROM counted WHERE regarding_id = $rec
        UNION
        SELECT o.activity_id
        FROM party o
        JOIN party l ON l.activity_id = o.activity_id
        JOIN leads ld ON ld.lead_id = $rec
        JOIN people owner ON owner.person_id = ld.owner_id
        WHERE o.person_key = owner.person_key
          AND l.email = lower(ld.email)
    """,
    "opportunity": """
        SELECT activity_id FROM counted WHERE regarding_id = $rec
        UNION
        SELECT s.activity_id
        FROM party s
        JOIN party c ON c.activity_id = s.activity_id
        JOIN counted a ON a.activity_id = s.activity_id
        JOIN opportunities o ON o.opportunity_id = $rec
        WHERE s.side = 'us' AND c.side = 'them'
          AND s.person_key IN (
              SELECT p.person_key FROM people p
              WHERE p.person_id = o.owner_id
                 OR p.person_id IN (SELECT person_id FROM opportunity_members
                                    WHERE opportunity_id = $rec AND role = 'team'))
          AND c.person_key IN (
              SELECT p.person_key FROM people p
              WHERE p.person_id = o.contact_id
                 OR p.person_id IN (SELECT person_id FROM opportunity_members
                                    WHERE opportunity_id = $rec AND role <> 'team'))
          AND (o.created_at IS NULL OR a.start_at >= o.created_at)
          AND a.start_at <= coalesce(o.closed_at + INTERVAL 1 DAY, $as_of)
    """,
}


def record_ctes(record_type: str) -> str:
    """``WITH party, counted, members, rec_acts`` for one record type."""
    if record_type not in RECORD_TYPES:
        raise ValueError(f"unknown record type {record_type!r}; use one of {RECORD_TYPES}")
    return (
        f"WITH {PARTY},\n{COUNTED},\nmembers AS ({_MEMBERS[record_type]}),\n"
        "rec_acts AS (SELECT * FROM counted WHERE activity_id IN "
        "(SELECT activity_id FROM members))\n"
    )


def needs_as_of(record_type: str) -> bool:
    return record_type == "opportunity"


def params(record_type: str, record_id: str, as_of: dt.datetime, **extra) -> dict:
    values = {"rec": record_id, **extra}
    if needs_as_of(record_type):
        values["as_of"] = as_of
    return values


ACT_COLUMNS = [
    "activity_id", "type", "subject", "start_at", "end_at", "duration_minutes", "state",
    "initiated_by", "message_id", "in_reply_to", "refs", "conversation_id", "followed",
    "opens", "clicks", "replies", "attachment_opens", "regarding_type", "regarding_id",
]
PARTY_COLUMNS = ["activity_id", "person_id", "person_key", "role", "side", "name",
                 "email", "account_id"]


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
    values = params(record_type, record_id, end, end=end)
    if start is not None:
        values["start"] = start
    ctes = record_ctes(record_type)
    acts = con.execute(
        f"{ctes} SELECT {', '.join(ACT_COLUMNS)} FROM rec_acts "
        f"WHERE start_at <= $end {bound} ORDER BY start_at, activity_id",
        values,
    ).df()
    parties = con.execute(
        f"{ctes} SELECT {', '.join('party.' + c for c in PARTY_COLUMNS)} FROM party "
        f"JOIN rec_acts r ON r.activity_id = party.activity_id "
        f"WHERE r.start_at <= $end {bound.replace('start_at', 'r.start_at')} "
        "ORDER BY party.activity_id, party.role, party.person_id",
        values,
    ).df()
    return acts, parties
