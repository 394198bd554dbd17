"""Relationship health: the worked example of docs/health.md and its properties."""

import pandas as pd
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from kpi.health import grade, health, score, trend
from rapport.settings import Settings

ACT_COLUMNS = [
    "activity_id", "type", "subject", "start_at", "end_at", "duration_minutes", "state",
    "initiated_by", "message_id", "in_reply_to", "refs", "conversation_id", "followed",
    "opens", "clicks", "replies", "attachment_opens", "regarding_type", "regarding_id",
]
PARTIES = pd.DataFrame(columns=["activity_id", "person_id", "person_key", "role", "side",
                                "name", "email", "account_id"])
T = pd.Timestamp("2024-06-30 12:00")


def history(rows, as_of=T):
    """rows: (type, side, age in hours[, state]) -> the acts frame."""
    acts = [{**dict.fromkeys(ACT_COLUMNS), "activity_id": f"a{i}", "type": kind,
             "initiated_by": side, "state": rest[0] if rest else "completed",
             "start_at": as_of - pd.Timedelta(hours=hours)}
            for i, (kind, side, hours, *rest) in enumerate(rows)]
    frame = pd.DataFrame(acts, columns=ACT_COLUMNS)
    frame["start_at"] = pd.to_datetime(frame["start_at"])
    return frame


def day(days):
    return days * 24


WORKED_EXAMPLE = [
    ("email", "them", day(40)),
    ("email", "us", day(20)),
    ("email", "them", day(19)),  # answers our e-mail of the day before: two-way
    ("call", "them", day(9)),
    ("meeting", "us", day(2)),
]


def test_worked_example_of_the_docs():
    result = health(history(WORKED_EXAMPLE), PARTIES, T, Settings())
    assert {k: result[k] for k in ("score", "grade", "trend", "score_14_days_ago",
                                   "activities_90_days")} == {
        "score": 57, "grade": "fair", "trend": "improving", "score_14_days_ago": 42,
        "activities_90_days": 5,
    }
    assert [(f["name"], f["value"], f["points"]) for f in result["factors"]] == [
        ("recent_two_way", 2.41, 19.3),
        ("days_since_two_way", 2.0, 25.0),
        ("kept_cadence", 14.0, 3.1),
        ("customer_initiative", 1.85, 9.2),
    ]
    assert sum(f["share"] for f in result["factors"]) == pytest.approx(1, abs=0.002)


def test_settings_change_the_worked_example_as_documented():
    acts = history(WORKED_EXAMPLE)
    assert score(acts, PARTIES, T, Settings(cadence_days=3)) == 55
    assert score(acts, PARTIES, T, Settings(weight_meeting=1.5, weight_email=0.5)) == 55
    # A reply one day later is still inside a one-day reply window.
    assert score(acts, PARTIES, T, Settings(response_within_days=1)) == 57
    # e-mails weigh 1.5: S = 1.5 * 0.6447 + 0.8123 + 0.9548 = 2.7341 -> 20.93 points,
    # C = 1.5 * (0.3969 + 0.6447) + 0.8123 = 2.3746 -> 10.94; 20.93 + 25 + 3.11 + 10.94
    assert score(acts, PARTIES, T, Settings(weight_email=1.5)) == 60


def test_fewer_than_three_completed_activities_is_not_enough_data():
    acts = history([("email", "us", 1), ("meeting", "them", 5),
                    ("call", "them", 6, "canceled"), ("email", "them", day(91)),
                    ("task", "us", 2)])
    result = health(acts, PARTIES, T, Settings())
    assert result == {"score": None, "grade": "not_enough_data",
                      "trend": "not_enough_data", "score_14_days_ago": None,
                      "activities_90_days": 2, "factors": []}


def test_long_silence_scores_low_and_steady():
    acts = history([("email", "us", day(80)), ("email", "them", day(79)),
                    ("email", "us", day(78))])
    result = health(acts, PARTIES, T, Settings())
    # Two-way e-mails 79 and 78 days ago: S = 0.1613 + 0.1651 -> 3.61 points; the
    # last one is past 4 x 7 days -> 0; one day kept -> 0.22; theirs -> 1.05.
    # 14 days earlier the same faded less: 4.88 + 0 + 0.22 + 1.43 -> 7.
    assert (result["score"], result["grade"], result["trend"]) == (5, "poor", "steady")
    assert result["score_14_days_ago"] == 7


@pytest.mark.parametrize(("value", "expected"), [
    (None, "not_enough_data"), (0, "poor"), (39, "poor"), (40, "fair"), (59, "fair"),
    (60, "good"), (100, "good")])
def test_grades(value, expected):
    assert grade(value) == expected


@pytest.mark.parametrize(("now", "before", "expected"), [
    (50, 45, "improving"), (50, 46, "steady"), (46, 50, "steady"), (45, 50, "declining"),
    (50, None, "not_enough_data"), (None, 50, "not_enough_data")])
def test_trend_needs_five_points(now, before, expected):
    assert trend(now, before) == expected


# Properties over random histories of the 90 days up to T.
kinds = st.sampled_from(["email", "meeting", "call"])
sides = st.sampled_from(["us", "them"])
ages = st.integers(min_value=0, max_value=day(90) - 1)
activity = st.tuples(kinds, sides, ages)
histories = st.lists(activity, min_size=3, max_size=25)
weights = st.floats(min_value=0.5, max_value=1.5)
cadences = st.integers(min_value=1, max_value=60)


def rules(cadence=7, email=1.0, meeting=1.0, call=1.0):
    return Settings(cadence_days=cadence, weight_email=email, weight_meeting=meeting,
                    weight_call=call)


def at_least(after, before):
    return before is None or (after is not None and after >= before)


@hypothesis_settings(max_examples=150, deadline=None)
@given(histories, st.sampled_from(["meeting", "call"]), sides, ages, cadences)
def test_more_two_way_contact_never_lowers_the_score(rows, kind, side, age, cadence):
    knobs = rules(cadence)
    before = score(history(rows), PARTIES, T, knobs)
    after = score(history(rows + [(kind, side, age)]), PARTIES, T, knobs)
    assert at_least(after, before)


@hypothesis_settings(max_examples=150, deadline=None)
@given(histories, st.sampled_from(["meeting", "call"]), sides, ages, ages, cadences)
def test_more_recent_latest_contact_never_lowers_the_score(rows, kind, side, a, b, cadence):
    # The same history ending in a meeting or call, once older and once newer.
    oldest_allowed = min(age for _, _, age in rows)
    older, newer = sorted([min(a, oldest_allowed), min(b, oldest_allowed)], reverse=True)
    knobs = rules(cadence)
    before = score(history(rows + [(kind, side, older)]), PARTIES, T, knobs)
    after = score(history(rows + [(kind, side, newer)]), PARTIES, T, knobs)
    assert at_least(after, before)


@hypothesis_settings(max_examples=150, deadline=None)
@given(histories, st.integers(min_value=0, max_value=day(60)), cadences)
def test_longer_silence_never_raises_the_score(rows, extra_hours, cadence):
    knobs = rules(cadence)
    # Every activity moves further into the past: the silence up to T grows.
    before = score(history(rows), PARTIES, T, knobs)
    later = score(history([(k, s, age + extra_hours) for k, s, age in rows]), PARTIES,
                  T, knobs)
    assert later is None or before is not None and later <= before


@hypothesis_settings(max_examples=150, deadline=None)
@given(histories, kinds, ages, cadences)
def test_more_customer_initiated_activity_never_lowers_the_score(rows, kind, age, cadence):
    knobs = rules(cadence)
    before = score(history(rows), PARTIES, T, knobs)
    after = score(history(rows + [(kind, "them", age)]), PARTIES, T, knobs)
    assert at_least(after, before)


@hypothesis_settings(max_examples=150, deadline=None)
@given(histories, weights, weights, weights, cadences)
def test_weights_within_range_keep_the_score_between_0_and_100(rows, e, m, c, cadence):
    result = health(history(rows), PARTIES, T, rules(cadence, e, m, c))
    assert 0 <= result["score"] <= 100
    assert result["grade"] == grade(result["score"])
    if result["score"] > 0:
        assert sum(f["share"] for f in result["factors"]) == pytest.approx(1, abs=0.003)
    assert all(0 <= f["points"] <= f["max_points"] for f in result["factors"])


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.lists(activity, max_size=2), st.lists(st.tuples(kinds, sides, ages), max_size=4))
def test_fewer_than_three_is_not_enough_data(rows, others):
    # Up to two completed activities, plus any number of canceled ones or old ones.
    extra = [(k, s, age, "canceled") for k, s, age in others]
    extra += [(k, s, age + day(90)) for k, s, age in others]
    result = health(history(rows + extra), PARTIES, T, Settings())
    assert (result["score"], result["grade"], result["trend"]) == (
        None, "not_enough_data", "not_enough_data")
    assert result["factors"] == []
