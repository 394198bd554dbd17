"""Time spent by each side, worked out by hand on small frames."""

import pandas as pd
import pytest

from kpi.time_spent import round_half_up, time_spent
from rapport.settings import Settings

ACT_COLUMNS = [
    "activity_id", "type", "subject", "start_at", "end_at", "duration_minutes", "state",
    "initiated_by", "message_id", "in_reply_to", "refs", "conversation_id", "followed",
    "opens", "clicks", "replies", "attachment_opens", "regarding_type", "regarding_id",
]
PARTY_COLUMNS = ["activity_id", "person_id", "person_key", "role", "side", "name",
                 "email", "account_id"]


def frames(acts, parties):
    acts = pd.DataFrame([{**dict.fromkeys(ACT_COLUMNS), "state": "completed", **a}
                         for a in acts], columns=ACT_COLUMNS)
    acts["start_at"] = pd.to_datetime(acts["start_at"])
    acts["end_at"] = pd.to_datetime(acts["end_at"])
    rows = [{"activity_id": a, "person_id": p, "person_key": p, "role": r,
             "side": "us" if p.startswith("us") else "them", "name": p,
             "email": f"{p}@example.com", "account_id": None} for a, p, r in parties]
    return acts, pd.DataFrame(rows, columns=PARTY_COLUMNS)


def test_meeting_costs_us_each_attendee_and_them_once():
    acts, parties = frames(
        [{"activity_id": "m1", "type": "meeting", "start_at": "2024-05-06 09:00",
          "end_at": "2024-05-06 10:00", "initiated_by": "us"}],
        [("m1", "us1", "organizer"), ("m1", "us2", "required"), ("m1", "us3", "optional"),
         ("m1", "them1", "required"), ("m1", "them2", "required")],
    )
    # 60 minutes x 3 of ours = 3 h; 60 minutes once for them = 1 h.
    assert time_spent(acts, parties, Settings()) == {"by_us": 3.0, "by_them": 1.0}


def test_emails_calls_and_meeting_together():
    acts, parties = frames(
        [
            {"activity_id": "m1", "type": "meeting", "start_at": "2024-05-06 09:00",
             "duration_minutes": 60, "initiated_by": "them"},
            {"activity_id": "e1", "type": "email", "start_at": "2024-05-07 09:00",
             "initiated_by": "us"},
            {"activity_id": "e2", "type": "email", "start_at": "2024-05-08 09:00",
             "initiated_by": "them"},
            {"activity_id": "c1", "type": "call", "start_at": "2024-05-09 09:00",
             "duration_minutes": 30, "initiated_by": "us"},
            {"activity_id": "x1", "type": "meeting", "start_at": "2024-05-10 09:00",
             "duration_minutes": 600, "initiated_by": "us", "state": "canceled"},
            {"activity_id": "t1", "type": "task", "start_at": "2024-05-10 09:00",
             "duration_minutes": 600, "initiated_by": "us"},
        ],
        [("m1", "them1", "organizer"), ("m1", "us1", "required"), ("m1", "us2", "required"),
         ("m1", "us3", "required"), ("m1", "them2", "optional"),
         ("e1", "us1", "sender"), ("e1", "them1", "to"), ("e1", "them2", "to"),
         ("e2", "them1", "sender"), ("e2", "us1", "to"), ("e2", "us2", "cc"),
         ("c1", "us1", "caller"), ("c1", "them1", "callee"),
         ("x1", "us1", "organizer"), ("x1", "them1", "required")],
    )
    # us:   meeting 60 x 3 = 180, e1 sent 5, e2 received once 2.5, call 30 = 217.5 min
    # them: meeting 60, e1 received once 2.5, e2 sent 5, call 30 = 97.5 min
    assert time_spent(acts, parties, Settings()) == {"by_us": 3.6, "by_them": 1.6}


def test_email_minutes_are_settings():
    acts, parties = frames(
        [{"activity_id": f"e{i}", "type": "email", "start_at": f"2024-05-0{i} 09:00",
          "initiated_by": "us"} for i in range(1, 7)],
        [(f"e{i}", "us1", "sender") for i in range(1, 7)]
        + [(f"e{i}", "them1", "to") for i in range(1, 7)],
    )
    rules = Settings(email_minutes_sender=10, email_minutes_receiver=4)
    # 6 x 10 = 60 min for us; 6 x 4 = 24 min = 0.4 h for them.
    assert time_spent(acts, parties, rules) == {"by_us": 1.0, "by_them": 0.4}


def test_meeting_length_from_its_end_and_sender_side_from_parties():
    acts, parties = frames(
        [{"activity_id": "m1", "type": "meeting", "start_at": "2024-05-06 09:00",
          "end_at": "2024-05-06 09:45"},
         {"activity_id": "e1", "type": "email", "start_at": "2024-05-06 11:00"}],
        [("m1", "them1", "organizer"), ("e1", "them1", "sender"), ("e1", "us1", "to")],
    )
    # Meeting 45 min; nobody of ours listed still counts one of us. E-mail sent by them.
    assert time_spent(acts, parties, Settings()) == {"by_us": 0.8, "by_them": 0.8}


def test_nothing_completed_is_zero():
    acts, parties = frames([], [])
    assert time_spent(acts, parties, Settings()) == {"by_us": 0.0, "by_them": 0.0}


@pytest.mark.parametrize(("value", "expected"), [(0.25, 0.3), (0.15, 0.2), (1.04, 1.0)])
def test_rounding_is_half_up(value, expected):
    assert round_half_up(value, 1) == expected
