"""Features of opportunities for the similar-won-deals model (spec section 6).

One SQL query (:data:`FEATURES_SQL`) computes, per opportunity as of a time T:

- deal features: amount, product, the account's industry and employees, the
  owner's region, and the length of the sales cycle in days (creation to
  close for a deal closed by T, creation to T for one still open at T);
- activity features over the same span: completed e-mails, meetings and calls
  by the side that initiated them, time spent by each side (the estimates of
  the settings), and how each side answered the other's e-mails.

An opportunity's activities are those regarding it and those between its
owner or sales team ("us") and its customer contact or stakeholders ("them"),
from its creation to the end of its close day (or T while open), as spec
section 3 says, with one reading of it: an activity set regarding one
opportunity is not also counted for another opportunity that shares its
people (a seller often has several deals open with the same customer). People
are matched on ``person_key`` so that a CRM contact and the bare address of
the same person are one person.

Response figures follow spec section 5 with one simplification: e-mails form a
conversation by Outlook/CRM conversation id, else the first Message-ID of
References (the thread's root), else In-Reply-To; the subject fallback is not
applied. A *turn* is a run of e-mails by one side; it is answered by the other
side's next e-mail in the conversation. ``response_hours_them`` is the mean
time the customer took to answer our turns (answered ones only, the spec's
figure); ``wait_hours_them`` also counts unanswered turns, each as the time
waited until T or the close, capped at the response window (a setting, 14 days
by default): for a model an unanswered mail is the most telling response time.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import duckdb
import pandas as pd
import pyarrow as pa

from rapport import settings as settings_mod
from rapport.settings import Settings

# Features the model reads, by how they are prepared (see similarity.model).
LOG_FEATURES = (
    "amount", "employees", "cycle_days",
    "emails_by_us", "emails_by_them", "meetings_by_us", "meetings_by_them",
    "calls_by_us", "calls_by_them", "hours_by_us", "hours_by_them",
    "wait_hours_them", "wait_hours_us",
)
PLAIN_FEATURES = ("response_rate_them", "response_rate_us")
CATEGORICAL_FEATURES = ("product", "industry", "region")
DEAL_FEATURES = ("amount", "employees", "cycle_days", "product", "industry", "region")
ALL_FEATURES = LOG_FEATURES + PLAIN_FEATURES + CATEGORICAL_FEATURES

_ENDS = "_similarity_ends"

FEATURES_SQL = f"""
WITH
opps AS (
    SELECT o.opportunity_id, o.name, o.state, o.amount, o.product, o.owner_id,
           o.contact_id, o.created_at, o.closed_at,
           acc.name AS account, acc.industry, acc.employees, owner.region,
           CASE WHEN o.state IN ('won', 'lost')
                     AND coalesce(o.closed_at <= $as_of, true) THEN o.state
                ELSE 'open' END AS state_as_of
    FROM opportunities o
    LEFT JOIN accounts acc ON acc.account_id = o.account_id
    LEFT JOIN people owner ON owner.person_id = o.owner_id
    WHERE o.created_at IS NULL OR o.created_at <= $as_of
),
bounds AS MATERIALIZED (
    SELECT opps.*,
           coalesce(created_at, TIMESTAMP '-infinity') AS from_at,
           least(
               CASE WHEN state_as_of = 'open' OR closed_at IS NULL THEN $as_of
                    ELSE least(closed_at + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND,
                               $as_of) END,
               coalesce(e.end_at, $as_of)) AS until_at
    FROM opps LEFT JOIN {_ENDS} e USING (opportunity_id)
),
members AS (
    SELECT b.opportunity_id, p.person_key, p.side
    FROM bounds b JOIN people p ON p.person_id = b.owner_id
    UNION
    SELECT b.opportunity_id, p.person_key, p.side
    FROM bounds b JOIN people p ON p.person_id = b.contact_id
    UNION
    SELECT m.opportunity_id, p.person_key, p.side
    FROM opportunity_members m JOIN people p ON p.person_id = m.person_id
),
counted AS (
    SELECT activity_id, type, start_at, duration_minutes, direction, initiator_id,
           regarding_type, regarding_id, message_id, in_reply_to, refs, conversation_id
    FROM activities
    WHERE state = 'completed' AND type IN ('email', 'meeting', 'call')
      AND coalesce(direction, '') <> 'internal'
),
party_people AS MATERIALIZED (
    SELECT DISTINCT ap.activity_id, p.person_key, p.side
    FROM activity_parties ap JOIN people p ON p.person_id = ap.person_id
    WHERE p.side IN ('us', 'them')
),
by_regarding AS (
    SELECT b.opportunity_id, c.activity_id
    FROM bounds b JOIN counted c
      ON c.regarding_type = 'opportunity' AND c.regarding_id = b.opportunity_id
    WHERE c.start_at BETWEEN b.from_at AND b.until_at
),
their_side AS (
    SELECT DISTINCT m.opportunity_id, pp.activity_id
    FROM members m
    JOIN party_people pp ON pp.person_key = m.person_key AND pp.side = 'them'
    JOIN counted c ON c.activity_id = pp.activity_id
    JOIN bounds b ON b.opportunity_id = m.opportunity_id
    WHERE m.side = 'them' AND c.start_at BETWEEN b.from_at AND b.until_at
      AND coalesce(c.regarding_type, '') <> 'opportunity'
),
by_parties AS (
    SELECT DISTINCT t.opportunity_id, t.activity_id
    FROM their_side t
    JOIN party_people pp ON pp.activity_id = t.activity_id AND pp.side = 'us'
    JOIN members m ON m.opportunity_id = t.opportunity_id
                  AND m.person_key = pp.person_key AND m.side = 'us'
),
linked AS MATERIALIZED (
    SELECT * FROM by_regarding UNION SELECT * FROM by_parties
),
headcount AS (
    SELECT activity_id,
           count(DISTINCT person_key) FILTER (WHERE side = 'us') AS ours,
           count(DISTINCT person_key) FILTER (WHERE side = 'them') AS theirs
    FROM party_people
    WHERE activity_id IN (SELECT activity_id FROM linked)
    GROUP BY activity_id
),
acts AS MATERIALIZED (
    SELECT l.opportunity_id, c.*,
           coalesce(h.ours, 0) AS ours, coalesce(h.theirs, 0) AS theirs,
           CASE WHEN ip.side IN ('us', 'them') THEN ip.side
                WHEN ip.side = 'excluded' THEN NULL
                WHEN c.direction = 'outgoing' THEN 'us'
                WHEN c.direction = 'incoming' THEN 'them' END AS initiated_by
    FROM linked l
    JOIN counted c ON c.activity_id = l.activity_id
    LEFT JOIN headcount h ON h.activity_id = l.activity_id
    LEFT JOIN people ip ON ip.person_id = c.initiator_id
),
minutes AS (
    SELECT opportunity_id, type, initiated_by,
           CASE type
               WHEN 'email' THEN CASE initiated_by WHEN 'us' THEN $mail_sender
                                                  WHEN 'them' THEN $mail_receiver END
               WHEN 'meeting' THEN coalesce(duration_minutes, 0) * ours
               ELSE coalesce(duration_minutes, 0) END AS ours_minutes,
           CASE type
               WHEN 'email' THEN CASE initiated_by WHEN 'them' THEN $mail_sender
                                                  WHEN 'us' THEN $mail_receiver END
               WHEN 'meeting' THEN CASE WHEN theirs > 0
                                        THEN coalesce(duration_minutes, 0) ELSE 0 END
               ELSE coalesce(duration_minutes, 0) END AS theirs_minutes
    FROM acts
),
activity AS (
    SELECT opportunity_id,
           count(*) AS activities,
           count(*) FILTER (WHERE type = 'email' AND initiated_by = 'us') AS emails_by_us,
           count(*) FILTER (WHERE type = 'email' AND initiated_by = 'them') AS emails_by_them,
           count(*) FILTER (WHERE type = 'meeting' AND initiated_by = 'us') AS meetings_by_us,
           count(*) FILTER (WHERE type = 'meeting' AND initiated_by = 'them')
               AS meetings_by_them,
           count(*) FILTER (WHERE type = 'call' AND initiated_by = 'us') AS calls_by_us,
           count(*) FILTER (WHERE type = 'call' AND initiated_by = 'them') AS calls_by_them,
           coalesce(sum(ours_minutes), 0) / 60.0 AS hours_by_us,
           coalesce(sum(theirs_minutes), 0) / 60.0 AS hours_by_them
    FROM minutes
    GROUP BY opportunity_id
),
mails AS (
    SELECT opportunity_id, activity_id, start_at, initiated_by AS side,
           hash(lower(coalesce(nullif(conversation_id, ''),
                               nullif(split_part(trim(coalesce(refs, '')), ' ', 1), ''),
                               nullif(in_reply_to, ''), message_id, activity_id))) AS thread
    FROM acts
    WHERE type = 'email' AND initiated_by IS NOT NULL
),
runs AS (
    SELECT *, lag(side) OVER (PARTITION BY opportunity_id, thread
                              ORDER BY start_at, activity_id) AS previous_side
    FROM mails
),
turns AS (
    SELECT r.opportunity_id, r.side, r.start_at, b.until_at,
           lead(r.start_at) OVER (PARTITION BY r.opportunity_id, r.thread
                                  ORDER BY r.start_at, r.activity_id) AS answered_at
    FROM runs r JOIN bounds b ON b.opportunity_id = r.opportunity_id
    WHERE r.previous_side IS NULL OR r.previous_side <> r.side
),
waits AS (
    SELECT *, epoch(answered_at - start_at) / 3600.0 AS answer_hours,
           least(epoch(coalesce(answered_at, until_at) - start_at) / 3600.0,
                 $within_days * 24.0) AS wait_hours,
           answered_at <= start_at + to_days(CAST($within_days AS INTEGER)) AS in_time
    FROM turns
),
responses AS (
    SELECT opportunity_id,
           avg(answer_hours) FILTER (WHERE side = 'us') AS response_hours_them,
           avg(answer_hours) FILTER (WHERE side = 'them') AS response_hours_us,
           avg(wait_hours) FILTER (WHERE side = 'us') AS wait_hours_them,
           avg(wait_hours) FILTER (WHERE side = 'them') AS wait_hours_us,
           avg(CASE WHEN coalesce(in_time, false) THEN 1.0 ELSE 0.0 END)
               FILTER (WHERE side = 'us') AS response_rate_them,
           avg(CASE WHEN coalesce(in_time, false) THEN 1.0 ELSE 0.0 END)
               FILTER (WHERE side = 'them') AS response_rate_us
    FROM waits
    GROUP BY opportunity_id
)
SELECT b.opportunity_id, b.name, b.account, b.state, b.state_as_of,
       b.created_at, b.closed_at, b.until_at,
       b.amount, b.product, b.industry, b.employees, b.region,
       CASE WHEN b.created_at IS NULL THEN NULL
            ELSE greatest(epoch(b.until_at - b.created_at) / 86400.0, 0) END AS cycle_days,
       coalesce(a.activities, 0) AS activities,
       coalesce(a.emails_by_us, 0) AS emails_by_us,
       coalesce(a.emails_by_them, 0) AS emails_by_them,
       coalesce(a.meetings_by_us, 0) AS meetings_by_us,
       coalesce(a.meetings_by_them, 0) AS meetings_by_them,
       coalesce(a.calls_by_us, 0) AS calls_by_us,
       coalesce(a.calls_by_them, 0) AS calls_by_them,
       coalesce(a.hours_by_us, 0) AS hours_by_us,
       coalesce(a.hours_by_them, 0) AS hours_by_them,
       r.response_hours_them, r.response_hours_us,
       r.wait_hours_them, r.wait_hours_us,
       r.response_rate_them, r.response_rate_us
FROM bounds b
LEFT JOIN activity a ON a.opportunity_id = b.opportunity_id
LEFT JOIN responses r ON r.opportunity_id = b.opportunity_id
ORDER BY b.opportunity_id
"""

_NUMERIC = ("amount", "employees", "cycle_days", "activities") + LOG_FEATURES[3:] + (
    "response_hours_them", "response_hours_us") + PLAIN_FEATURES


@contextlib.contextmanager
def _ends_table(con: duckdb.DuckDBPyConnection, ends: dict | None):
    ids = list(ends or {})
    frame = pa.table({
        "opportunity_id": pa.array(ids, pa.string()),
        "end_at": pa.array([ends[i] for i in ids], pa.timestamp("us")),
    })
    con.register(_ENDS, frame)
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(_ENDS)


def deal_features(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.datetime,
    *,
    settings: Settings | None = None,
    ends: dict[str, dt.datetime] | None = None,
) -> pd.DataFrame:
    """Deal and activity features of every opportunity that exists at *as_of*.

    Parameters
    ----------
    con : duckdb connection to a Rapport store
    as_of : naive UTC datetime
        Deals closed after it count as open; deals created after it are left out.
    settings : Settings, optional
        E-mail minute estimates and the response window (default: the store's).
    ends : dict of opportunity_id -> datetime, optional
        An earlier end of the span for some deals (used to look at a deal as
        it was part-way through its life).

    Returns
    -------
    pandas.DataFrame indexed by opportunity_id: name, account, state,
    state_as_of (won, lost or open as of *as_of*), created_at, closed_at,
    until_at (end of the span), the features of :data:`ALL_FEATURES`, the
    total ``activities`` and ``response_hours_them``/``response_hours_us``.

    Examples
    --------
    >>> import datetime as dt
    >>> from rapport import store
    >>> con = store.connect(":memory:")
    >>> _ = con.execute("INSERT INTO opportunities (opportunity_id, name, state, amount, "
    ...                 "created_at) VALUES ('o1', 'Deal', 'open', 100, '2020-01-01')")
    >>> frame = deal_features(con, dt.datetime(2020, 1, 11))
    >>> row = frame.loc["o1"]
    >>> row["state_as_of"], float(row["cycle_days"]), int(row["activities"])
    ('open', 10.0, 0)
    """
    settings = settings or settings_mod.load(con)
    params = {
        "as_of": as_of,
        "mail_sender": float(settings.email_minutes_sender),
        "mail_receiver": float(settings.email_minutes_receiver),
        "within_days": int(settings.response_within_days),
    }
    with _ends_table(con, ends):
        frame = con.execute(FEATURES_SQL, params).df()
    for name in _NUMERIC:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame["activities"] = frame["activities"].astype("int64")
    for name in CATEGORICAL_FEATURES + ("name", "account"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame.set_index("opportunity_id")
