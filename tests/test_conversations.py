"""Conversations, turns and response figures, worked out by hand."""

import base64

import pandas as pd
import pytest

from kpi.conversations import (
    conversation_root,
    message_ids,
    normalize_subject,
    response,
    threads,
    working_hours,
)
from rapport.settings import Settings

ACT_COLUMNS = [
    "activity_id", "type", "subject", "start_at", "end_at", "duration_minutes", "state",
    "initiated_by", "message_id", "in_reply_to", "refs", "conversation_id", "followed",
    "opens", "clicks", "replies", "attachment_opens", "regarding_type", "regarding_id",
]
PARTY_COLUMNS = ["activity_id", "person_id", "person_key", "role", "side", "name",
                 "email", "account_id"]


def mail(activity_id, when, sender, to, subject="Pricing", **headers):
    """One completed e-mail; people whose name starts with 'us' are ours."""
    return {"activity_id": activity_id, "start_at": when, "sender": sender, "to": to,
            "subject": subject, **headers}


def frames(mails):
    acts, parties = [], []
    for m in mails:
        recipients = m["to"] if isinstance(m["to"], list) else [m["to"]]
        acts.append({**dict.fromkeys(ACT_COLUMNS), "type": "email", "state": "completed",
                     "initiated_by": "us" if m["sender"].startswith("us") else "them",
                     **{k: v for k, v in m.items() if k in ACT_COLUMNS}})
        for person, role in [(m["sender"], "sender")] + [(r, "to") for r in recipients]:
            parties.append({"activity_id": m["activity_id"], "person_id": person,
                            "person_key": person, "role": role,
                            "side": "us" if person.startswith("us") else "them",
                            "name": person, "email": f"{person}@example.com",
                            "account_id": None})
    acts = pd.DataFrame(acts, columns=ACT_COLUMNS)
    acts["start_at"] = pd.to_datetime(acts["start_at"])
    return acts, pd.DataFrame(parties, columns=PARTY_COLUMNS)


def keys(mails, settings=None):
    acts, parties = frames(mails)
    return dict(zip(acts["activity_id"], threads(acts, parties, settings or Settings())))


def test_reply_found_by_in_reply_to_although_the_subject_changed():
    found = keys([
        mail("a1", "2024-05-01 09:00", "them1", "us1", "Pricing", message_id="m1@x"),
        mail("a2", "2024-05-01 15:00", "us1", "them1", "Your new quote", message_id="m2@y",
             in_reply_to="<m1@x>"),
        mail("a3", "2024-05-02 10:00", "them1", "us1", "Quote, one question",
             message_id="m3@x", refs="<m1@x> <m2@y>"),
    ])
    assert found == {"a1": "a1", "a2": "a1", "a3": "a1"}


def test_same_subject_three_weeks_apart_stays_apart():
    found = keys([
        mail("a1", "2024-05-01 09:00", "them1", "us1", "Pricing"),
        mail("a2", "2024-05-22 09:00", "us1", "them1", "Re: Pricing"),
    ])
    assert found == {"a1": "a1", "a2": "a2"}


def test_subject_fallback_needs_the_same_external_person_and_14_days():
    found = keys([
        mail("a1", "2024-05-01 09:00", "them1", "us1", "Pricing"),
        mail("a2", "2024-05-03 09:00", "us1", "them1", "RE: Fwd: AW: Pricing"),
        mail("a3", "2024-05-04 09:00", "us1", "them2", "Re: Pricing"),
        # 14 days after a2, the conversation's previous e-mail: still joins, and
        # a space where an archive folded the header does not matter.
        mail("a4", "2024-05-17 09:00", "them1", "us1", "SV: pri cing"),
    ])
    assert found == {"a1": "a1", "a2": "a1", "a3": "a3", "a4": "a1"}
    assert keys([mail("b1", "2024-05-01 09:00", "them1", "us1", "Pricing"),
                 mail("b2", "2024-05-03 09:00", "us1", "them1", "Re: Pricing")],
                Settings(subject_thread_days=1)) == {"b1": "b1", "b2": "b2"}


def test_an_email_with_headers_never_joins_by_subject():
    found = keys([
        mail("a1", "2024-05-01 09:00", "them1", "us1", "Pricing", message_id="m1@x"),
        mail("a2", "2024-05-02 09:00", "us1", "them1", "Re: Pricing", message_id="m2@y",
             in_reply_to="other@z"),
    ])
    assert found == {"a1": "a1", "a2": "a2"}


def test_outlook_thread_index_joins_on_its_first_22_bytes():
    header = bytes(range(22))
    first = base64.b64encode(header).decode()
    reply = base64.b64encode(header + b"\x01\x02\x03\x04\x05").decode()
    assert conversation_root(first) == conversation_root(reply)
    assert conversation_root(header.hex().upper()) == conversation_root(first)
    assert conversation_root("0005000000ABC") == "id:0005000000ABC"
    found = keys([
        mail("a1", "2024-05-01 09:00", "them1", "us1", "Pricing", conversation_id=first),
        mail("a2", "2024-05-01 10:00", "us1", "them1", "Other", conversation_id=reply),
    ])
    assert found == {"a1": "a1", "a2": "a1"}


def test_subject_and_id_parsing():
    assert normalize_subject("Re: FW: Fwd:  AW:SV: Re[2]: The  Deal ") == "the deal"
    assert normalize_subject(None) == ""
    assert message_ids("<A@x> <b@Y>") == ["a@x", "b@y"]
    assert message_ids("c@z") == ["c@z"]
    assert message_ids(None) == []


SAT_MON_TUE_WED = [
    mail("a1", "2024-05-04 10:00", "them1", "us1"),  # Saturday
    mail("a2", "2024-05-06 09:00", "them1", "us1", "Re: Pricing"),  # Monday
    mail("a3", "2024-05-07 15:00", "them1", "us1", "Re: Pricing"),  # Tuesday
    mail("a4", "2024-05-08 10:00", "us1", "them1", "Re: Pricing"),  # Wednesday
]


def test_customer_writing_sat_mon_tue_answered_wed_is_one_turn_waiting_from_sat():
    acts, parties = frames(SAT_MON_TUE_WED)
    result = response(acts, parties, None, pd.Timestamp("2024-05-31"), Settings())
    assert result == {
        "avg_first_response_hours_by_us": 96.0,  # Sat 10:00 -> Wed 10:00
        "avg_first_response_hours_by_them": None,
        "response_rate_by_us": 1.0,
        "response_rate_by_them": 0.0,  # our Wednesday turn is not answered
        "turns_by_us": 1,
        "turns_by_them": 1,
        "business_hours": False,
    }


def test_business_hours_count_working_time_in_the_display_zone():
    acts, parties = frames(SAT_MON_TUE_WED)
    utc = Settings(business_hours=True)
    # Mon 9-17 (8 h) + Tue 9-17 (8 h) + Wed 9-10 (1 h) = 17 h.
    assert response(acts, parties, None, "2024-05-31", utc)[
        "avg_first_response_hours_by_us"] == 17.0
    # Berlin is UTC+2 in May: Wed 10:00 UTC is 12:00 there, so 8 + 8 + 3 = 19 h.
    berlin = Settings(business_hours=True, display_timezone="Europe/Berlin")
    result = response(acts, parties, None, "2024-05-31", berlin)
    assert result["avg_first_response_hours_by_us"] == 19.0
    assert result["business_hours"] is True


def test_working_hours_skip_weekends_and_respect_days_setting():
    rules = Settings(business_days=[5], business_start_hour=10, business_end_hour=24)
    # Only Saturdays 10:00-24:00 count: Sat 2024-05-04 12:00 -> Mon 09:00 = 12 h.
    assert working_hours("2024-05-04 12:00", "2024-05-06 09:00", rules) == 12.0
    assert working_hours("2024-05-04 12:00", "2024-05-04 11:00", Settings()) == 0.0


def test_unanswered_conversation_gives_a_rate_but_no_response_time():
    acts, parties = frames([
        mail("a1", "2024-05-01 09:00", "them1", "us1", "Question"),
        mail("b1", "2024-05-02 09:00", "us1", "them2", "Offer", message_id="o1@y"),
        mail("b2", "2024-05-02 15:30", "them2", "us1", "Re: Offer", in_reply_to="o1@y"),
    ])
    result = response(acts, parties, None, "2024-05-31", Settings())
    # Their turns: a1 (never answered) and b2 (never answered): rate 0, no time.
    # Our turn b1 was answered by them after 6.5 h.
    assert result["response_rate_by_us"] == 0.0
    assert result["avg_first_response_hours_by_us"] is None
    assert result["response_rate_by_them"] == 1.0
    assert result["avg_first_response_hours_by_them"] == 6.5
    assert (result["turns_by_us"], result["turns_by_them"]) == (1, 2)


def test_answers_after_the_limit_do_not_count_and_the_window_selects_turns():
    acts, parties = frames([
        mail("a1", "2024-04-01 09:00", "them1", "us1", "Old", message_id="o@x"),
        mail("a2", "2024-04-03 09:00", "us1", "them1", "Re: Old", in_reply_to="o@x"),
        mail("b1", "2024-05-01 09:00", "them1", "us1", "Late", message_id="l@x"),
        mail("b2", "2024-05-20 09:00", "us1", "them1", "Re: Late", in_reply_to="l@x"),
        mail("c1", "2024-05-10 09:00", "them1", "us1", "Quick", message_id="q@x"),
        mail("c2", "2024-05-10 11:15", "us1", "them1", "Re: Quick", in_reply_to="q@x"),
        mail("d1", "2024-06-02 09:00", "them1", "us1", "After", message_id="z@x"),
    ])
    result = response(acts, parties, "2024-04-15", "2024-05-31", Settings())
    # In the window their turns are b1 (answered after 19 days: too late) and c1
    # (answered after 2.25 h); a1 began before the window and d1 after as_of.
    assert result["response_rate_by_us"] == 0.5
    assert result["avg_first_response_hours_by_us"] == 2.25
    assert result["turns_by_them"] == 2
    assert result["turns_by_us"] == 2
    longer = response(acts, parties, "2024-04-15", "2024-05-31",
                      Settings(response_within_days=20))
    assert longer["response_rate_by_us"] == 1.0
    assert longer["avg_first_response_hours_by_us"] == pytest.approx((456 + 2.25) / 2,
                                                                    abs=0.005)


def test_internal_forward_is_not_an_answer_and_other_states_do_not_count():
    acts, parties = frames([
        mail("a1", "2024-05-01 09:00", "them1", "us1", "Help", message_id="h@x"),
        mail("a2", "2024-05-01 10:00", "us1", "us2", "Fwd: Help", in_reply_to="h@x"),
        mail("a3", "2024-05-01 11:00", "us2", "them1", "Re: Help", in_reply_to="h@x",
             state="draft"),
        mail("a4", "2024-05-01 12:00", "us2", "them1", "Re: Help", in_reply_to="h@x"),
    ])
    result = response(acts, parties, None, "2024-05-31", Settings())
    assert result["avg_first_response_hours_by_us"] == 3.0
    assert result["response_rate_by_us"] == 1.0
    assert (result["turns_by_us"], result["turns_by_them"]) == (1, 1)


def test_no_emails_gives_nulls_and_zero_turns():
    acts, parties = frames([])
    assert response(acts, parties, None, "2024-05-31", Settings()) == {
        "avg_first_response_hours_by_us": None, "avg_first_response_hours_by_them": None,
        "response_rate_by_us": None, "response_rate_by_them": None,
        "turns_by_us": 0, "turns_by_them": 0, "business_hours": False,
    }
