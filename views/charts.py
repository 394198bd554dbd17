"""Altair charts of one record's figures.

Each builder takes the figures dict of :func:`kpi.figures` and returns an
``alt.Chart`` whose inline data are those figures, reshaped for drawing only:
no figure is computed here. Nothing here imports Streamlit, so the charts can
be tested by their spec alone (``chart.to_dict()``).
"""

from __future__ import annotations

import datetime as dt

import altair as alt

TYPES = (("emails", "Emails"), ("meetings", "Meetings"), ("calls", "Calls"))
SIDES = (("by_us", "Us"), ("by_them", "Them"))
SIDE_COLORS = ("#1f5fa8", "#e8833a")

# The daily series, in stacking order, with their labels and colours.
DAILY_SERIES = (
    ("emails_sent", "Emails sent", "#1f5fa8"),
    ("emails_received", "Emails received", "#8fb8e6"),
    ("meetings_sent", "Meetings by us", "#e8833a"),
    ("meetings_received", "Meetings by them", "#f6c49a"),
    ("calls_made", "Calls made", "#2e8b57"),
    ("calls_received", "Calls received", "#9dd3b0"),
)
# Longer windows are drawn per week so each bar stays visible.
DAILY_BARS_UP_TO = 180


def interaction_rows(fig: dict) -> list[dict]:
    """One row per type and initiating side: the counts of fig["interactions"]."""
    counts = fig["interactions"]
    return [
        {"type": label, "side": side_label, "interactions": counts[key][side]}
        for key, label in TYPES
        for side, side_label in SIDES
    ]


def customer_interactions(fig: dict) -> alt.Chart:
    """Grouped bars: interactions per type, one bar per side that initiated them."""
    side_labels = [label for _, label in SIDES]
    return (
        alt.Chart(alt.Data(values=interaction_rows(fig)))
        .mark_bar()
        .encode(
            x=alt.X("type:N", sort=[label for _, label in TYPES], title=None,
                    axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("side:N", sort=side_labels),
            y=alt.Y("interactions:Q", title="Interactions",
                    axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color("side:N", title="Initiated by",
                            scale=alt.Scale(domain=side_labels, range=list(SIDE_COLORS))),
            tooltip=[alt.Tooltip("type:N", title="Type"),
                     alt.Tooltip("side:N", title="Initiated by"),
                     alt.Tooltip("interactions:Q", title="Interactions")],
        )
        .properties(title="Interactions by type and side", height=260)
    )


def email_ratio_rows(fig: dict) -> list[dict]:
    """The emails each side sent, with the ratio of that side to the other."""
    emails = fig["interactions"]["emails"]
    ratio = fig["email_ratio"]
    return [
        {"side": "Sent by us", "emails": emails["by_us"], "ratio": ratio["by_us"]},
        {"side": "Sent by them", "emails": emails["by_them"], "ratio": ratio["by_them"]},
    ]


def email_ratio(fig: dict) -> alt.Chart:
    """A ring of the emails sent by each side; the tooltip gives each side's ratio."""
    domain = ["Sent by us", "Sent by them"]
    return (
        alt.Chart(alt.Data(values=email_ratio_rows(fig)))
        .mark_arc(innerRadius=55, outerRadius=100)
        .encode(
            theta=alt.Theta("emails:Q", stack=True),
            color=alt.Color("side:N", title="E-mails",
                            scale=alt.Scale(domain=domain, range=list(SIDE_COLORS))),
            order=alt.Order("side:N", sort="descending"),
            tooltip=[alt.Tooltip("side:N", title="E-mails"),
                     alt.Tooltip("emails:Q", title="Count"),
                     alt.Tooltip("ratio:Q", title="Per e-mail of the other side",
                                 format=".2f")],
        )
        .properties(title="E-mails sent by each side", height=260)
    )


def activity_rows(fig: dict) -> list[dict]:
    """The daily series in long form, one row per day and non-zero series."""
    rows = []
    for day in fig["daily"]:
        for key, label, _ in DAILY_SERIES:
            if day[key]:
                rows.append({"date": day["date"], "series": label, "count": day[key]})
    return rows


def _day(text: str, shift: int = 0) -> alt.DateTime:
    day = dt.date.fromisoformat(text) + dt.timedelta(days=shift)
    return alt.DateTime(year=day.year, month=day.month, date=day.day, utc=True)


def relationship_activity(fig: dict) -> alt.Chart:
    """Stacked bars per day (per week for long windows) of activity by series.

    Days without activity are in the x domain, so an empty stretch of the
    window shows as such rather than being squeezed out.
    """
    daily = fig["daily"]
    per_day = len(daily) <= DAILY_BARS_UP_TO
    unit = "utcyearmonthdate" if per_day else "utcyearweek"
    labels = [label for _, label, _ in DAILY_SERIES]
    x_scale = alt.Scale(domain=[_day(daily[0]["date"]), _day(daily[-1]["date"], 1)]) \
        if daily else alt.Undefined
    return (
        alt.Chart(alt.Data(values=activity_rows(fig)))
        .mark_bar()
        .encode(
            x=alt.X("date:T", timeUnit=unit, title="Day" if per_day else "Week",
                    scale=x_scale),
            y=alt.Y("sum(count):Q", title="Activities",
                    axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color("series:N", title=None,
                            scale=alt.Scale(domain=labels,
                                            range=[c for _, _, c in DAILY_SERIES])),
            order=alt.Order("series_order:Q"),
            tooltip=[alt.Tooltip("date:T", timeUnit=unit, title="Day" if per_day else "Week"),
                     alt.Tooltip("series:N", title="Activity"),
                     alt.Tooltip("sum(count):Q", title="Count")],
        )
        .transform_calculate(series_order=f"indexof({labels!r}, datum.series)")
        .properties(title="Relationship activity", height=260)
    )
