"""E-mail engagement rates, worked out by hand."""

import math

import pandas as pd

from kpi.engagement import NO_TRACKING, NONE_FOLLOWED, email_engagement

ACT_COLUMNS = [
    "activity_id", "type", "subject", "start_at", "end_at", "duration_minutes", "state",
    "initiated_by", "message_id", "in_reply_to", "refs", "conversation_id", "followed",
    "opens", "clicks", "replies", "attachment_opens", "regarding_type", "regarding_id",
]
NAN = math.nan


def emails(*rows):
    """rows: (initiated_by, followed, opens, clicks, replies, attachment_opens[, state])."""
    acts = []
    for i, row in enumerate(rows):
        by, followed, opens, clicks, replies, attachments, *state = row
        acts.append({**dict.fromkeys(ACT_COLUMNS), "activity_id": f"e{i}", "type": "email",
                     "start_at": pd.Timestamp("2024-05-01") + pd.Timedelta(hours=i),
                     "state": state[0] if state else "completed", "initiated_by": by,
                     "followed": followed, "opens": opens, "clicks": clicks,
                     "replies": replies, "attachment_opens": attachments})
    return pd.DataFrame(acts, columns=ACT_COLUMNS)


def test_rates_are_shares_of_followed_emails_by_us():
    acts = emails(
        ("us", True, 3, 1, 0, NAN),
        ("us", True, 1, 0, 0, NAN),
        ("us", True, 0, 0, 1, NAN),
        ("us", True, 2, 0, 0, NAN),
        ("us", False, 9, 9, 9, NAN),        # not followed
        ("them", True, 9, 9, 9, NAN),       # theirs
        ("us", True, 9, 9, 9, NAN, "draft"),  # never sent
    )
    assert email_engagement(acts) == {
        "followed": 4, "open_rate": 0.75, "click_rate": 0.25, "reply_rate": 0.25,
        "attachment_open_rate": None, "tracked": True, "note": None,
    }


def test_no_tracking_columns_at_all():
    acts = emails(("us", None, NAN, NAN, NAN, NAN), ("them", None, NAN, NAN, NAN, NAN))
    assert email_engagement(acts) == {
        "followed": 0, "open_rate": None, "click_rate": None, "reply_rate": None,
        "attachment_open_rate": None, "tracked": False, "note": NO_TRACKING,
    }
    assert NO_TRACKING == "no tracking data in these imports"


def test_counts_without_a_followed_flag_mean_followed():
    # A Salesforce-like source: only whether it was opened, no followed flag.
    acts = emails(("us", None, 1, NAN, NAN, NAN), ("us", None, 0, NAN, NAN, NAN),
                  ("us", None, NAN, NAN, NAN, NAN))
    result = email_engagement(acts)
    assert (result["followed"], result["open_rate"], result["click_rate"]) == (2, 0.5, None)


def test_tracked_source_but_nothing_followed():
    acts = emails(("us", False, NAN, NAN, NAN, NAN), ("us", "0", NAN, NAN, NAN, NAN))
    result = email_engagement(acts)
    assert (result["followed"], result["tracked"], result["note"]) == (0, True, NONE_FOLLOWED)
    assert result["open_rate"] is None


def test_empty_window():
    assert email_engagement(emails())["tracked"] is False
