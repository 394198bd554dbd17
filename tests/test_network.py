"""Who knows whom, worked out by hand."""

import pandas as pd

from kpi.network import who_knows_whom

ACT_COLUMNS = [
    "activity_id", "type", "subject", "start_at", "end_at", "duration_minutes", "state",
    "initiated_by", "message_id", "in_reply_to", "refs", "conversation_id", "followed",
    "opens", "clicks", "replies", "attachment_opens", "regarding_type", "regarding_id",
]
PARTY_COLUMNS = ["activity_id", "person_id", "person_key", "role", "side", "name",
                 "email", "account_id"]
T = pd.Timestamp("2024-06-30 12:00")


def frames(acts, parties):
    acts = pd.DataFrame(
        [{**dict.fromkeys(ACT_COLUMNS), "activity_id": a, "type": kind,
          "initiated_by": side, "state": state, "start_at": T - pd.Timedelta(days=days)}
         for a, kind, side, days, state in acts], columns=ACT_COLUMNS)
    acts["start_at"] = pd.to_datetime(acts["start_at"])
    rows = [{"activity_id": a, "person_id": f"id-{p}", "person_key": p, "role": r,
             "side": "us" if p.startswith("us") else "them", "name": p.upper(),
             "email": f"{p}@example.com", "account_id": None} for a, p, r in parties]
    return acts, pd.DataFrame(rows, columns=PARTY_COLUMNS)


ACTS = [
    ("e1", "email", "them", 30, "completed"),   # them1 -> us1
    ("e2", "email", "us", 1, "completed"),      # us1 -> them1, cc us4
    ("e3", "email", "us", 0.5, "completed"),    # us2 -> them1, never answered
    ("e4", "email", "us", 1, "completed"),
    ("e5", "email", "us", 2, "completed"),
    ("m1", "meeting", "them", 10, "completed"),  # them2 with us3
    ("i1", "email", "us", 1, "completed"),      # us5 -> us1 only: internal
    ("x1", "meeting", "us", 3, "canceled"),     # us6 with them1, did not happen
    ("f1", "email", "them", -1, "completed"),   # after as_of
]
PARTIES = [
    ("e1", "them1", "sender"), ("e1", "us1", "to"),
    ("e2", "us1", "sender"), ("e2", "them1", "to"), ("e2", "us4", "cc"),
    ("e3", "us2", "sender"), ("e3", "them1", "to"),
    ("e4", "us2", "sender"), ("e4", "them1", "to"),
    ("e5", "us2", "sender"), ("e5", "them1", "to"),
    ("m1", "them2", "organizer"), ("m1", "us3", "required"),
    ("i1", "us5", "sender"), ("i1", "us1", "to"),
    ("x1", "us6", "organizer"), ("x1", "them1", "required"),
    ("f1", "them1", "sender"), ("f1", "us2", "to"),
]


def test_two_way_colleagues_come_first_then_the_score():
    acts, parties = frames(ACTS, PARTIES)
    found = who_knows_whom(acts, parties, T, limit=5)
    # score = sum of 0.5 ** (age_days / 30): us1 0.9772 + 0.5; us3 0.7937;
    # us2 0.9885 + 0.9772 + 0.9548; us4 0.9772.
    assert [(p["person_key"], p["interactions"], p["two_way"], p["score"])
            for p in found] == [
        ("us1", 2, True, 1.48),
        ("us3", 1, True, 0.79),
        ("us2", 3, False, 2.92),
        ("us4", 1, False, 0.98),
    ]
    assert found[0] == {"name": "US1", "email": "us1@example.com", "person_key": "us1",
                        "interactions": 2, "two_way": True,
                        "last_at": "2024-06-29T12:00:00Z", "score": 1.48,
                        "knows": ["THEM1"]}
    assert found[1]["knows"] == ["THEM2"]


def test_limit_and_nothing_to_show():
    acts, parties = frames(ACTS, PARTIES)
    assert [p["person_key"] for p in who_knows_whom(acts, parties, T, limit=2)] == [
        "us1", "us3"]
    assert who_knows_whom(acts, parties, T - pd.Timedelta(days=60)) == []


def test_a_reply_makes_an_email_contact_two_way():
    acts, parties = frames(
        ACTS + [("r1", "email", "them", 0.1, "completed")],
        PARTIES + [("r1", "them1", "sender"), ("r1", "us2", "to")],
    )
    found = who_knows_whom(acts, parties, T)
    assert [(p["person_key"], p["two_way"]) for p in found[:2]] == [
        ("us2", True), ("us1", True)]


def test_only_the_records_own_people_count_when_named():
    acts, parties = frames(ACTS, PARTIES)
    found = who_knows_whom(acts, parties, T, record_people={"them2"})
    assert [(p["person_key"], p["interactions"], p["knows"]) for p in found] == [
        ("us3", 1, ["THEM2"])]
