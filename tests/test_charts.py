"""The chart builders draw exactly the figures they are given."""

import datetime as dt

from views import charts

FIG = {
    "interactions": {
        "emails": {"by_us": 3, "by_them": 5},
        "meetings": {"by_us": 1, "by_them": 0},
        "calls": {"by_us": 0, "by_them": 2},
    },
    "email_ratio": {"by_us": 0.6, "by_them": 1.67},
    "daily": [
        {"date": "2001-05-30", "emails_sent": 2, "emails_received": 1, "meetings_sent": 0,
         "meetings_received": 0, "calls_made": 0, "calls_received": 0},
        {"date": "2001-05-31", "emails_sent": 0, "emails_received": 0, "meetings_sent": 0,
         "meetings_received": 0, "calls_made": 0, "calls_received": 0},
        {"date": "2001-06-01", "emails_sent": 1, "emails_received": 4, "meetings_sent": 1,
         "meetings_received": 0, "calls_made": 0, "calls_received": 2},
    ],
}


def test_customer_interactions_has_one_bar_per_type_and_side():
    spec = charts.customer_interactions(FIG).to_dict()
    assert spec["data"]["values"] == [
        {"type": "Emails", "side": "Us", "interactions": 3},
        {"type": "Emails", "side": "Them", "interactions": 5},
        {"type": "Meetings", "side": "Us", "interactions": 1},
        {"type": "Meetings", "side": "Them", "interactions": 0},
        {"type": "Calls", "side": "Us", "interactions": 0},
        {"type": "Calls", "side": "Them", "interactions": 2},
    ]
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "bar"
    assert (enc["x"]["field"], enc["xOffset"]["field"], enc["y"]["field"]) == (
        "type", "side", "interactions")
    assert enc["color"]["scale"]["domain"] == ["Us", "Them"]


def test_email_ratio_shows_both_directions_with_their_ratio():
    spec = charts.email_ratio(FIG).to_dict()
    assert spec["data"]["values"] == [
        {"side": "Sent by us", "emails": 3, "ratio": 0.6},
        {"side": "Sent by them", "emails": 5, "ratio": 1.67},
    ]
    assert spec["mark"]["type"] == "arc"
    assert spec["encoding"]["theta"]["field"] == "emails"


def test_email_ratio_keeps_a_missing_ratio_as_null():
    fig = {**FIG, "interactions": {**FIG["interactions"],
                                   "emails": {"by_us": 0, "by_them": 4}},
           "email_ratio": {"by_us": 0.0, "by_them": None}}
    values = charts.email_ratio(fig).to_dict()["data"]["values"]
    assert values == [
        {"side": "Sent by us", "emails": 0, "ratio": 0.0},
        {"side": "Sent by them", "emails": 4, "ratio": None},
    ]


def test_relationship_activity_stacks_every_nonzero_series_per_day():
    spec = charts.relationship_activity(FIG).to_dict()
    assert spec["data"]["values"] == [
        {"date": "2001-05-30", "series": "Emails sent", "count": 2},
        {"date": "2001-05-30", "series": "Emails received", "count": 1},
        {"date": "2001-06-01", "series": "Emails sent", "count": 1},
        {"date": "2001-06-01", "series": "Emails received", "count": 4},
        {"date": "2001-06-01", "series": "Meetings by us", "count": 1},
        {"date": "2001-06-01", "series": "Calls received", "count": 2},
    ]
    x = spec["encoding"]["x"]
    assert x["timeUnit"] == "utcyearmonthdate"
    # The whole window is on the axis, the empty 31 May included.
    assert x["scale"]["domain"] == [
        {"year": 2001, "month": 5, "date": 30, "utc": True},
        {"year": 2001, "month": 6, "date": 2, "utc": True},
    ]
    assert spec["encoding"]["y"]["field"] == "count"
    assert spec["encoding"]["y"]["aggregate"] == "sum"


def test_relationship_activity_totals_equal_the_daily_figures():
    values = charts.relationship_activity(FIG).to_dict()["data"]["values"]
    for key, label, _ in charts.DAILY_SERIES:
        assert sum(v["count"] for v in values if v["series"] == label) == sum(
            day[key] for day in FIG["daily"])


def test_relationship_activity_draws_long_windows_per_week():
    first = dt.date(2001, 1, 1)
    daily = [
        {"date": (first + dt.timedelta(days=i)).isoformat(), "emails_sent": 1,
         "emails_received": 0, "meetings_sent": 0, "meetings_received": 0,
         "calls_made": 0, "calls_received": 0}
        for i in range(365)
    ]
    spec = charts.relationship_activity({**FIG, "daily": daily}).to_dict()
    assert spec["encoding"]["x"]["timeUnit"] == "utcyearweek"
    assert len(spec["data"]["values"]) == 365
