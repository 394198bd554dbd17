"""The relationship widgets every record page shows below its counts.

Time invested, response, health with its factors, email engagement and who
knows whom. Everything shown here is a value of ``kpi.figures``; this module
only lays it out.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from views.common import View, when


def _hours(value) -> str:
    return "n/a" if value is None else f"{value:g} h"


def _share(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def health_factors_chart(health: dict) -> alt.Chart:
    """Each factor's points out of its maximum, as horizontal bars."""
    frame = pd.DataFrame(
        [{"factor": f["label"], "points": f["points"], "share": f["share"],
          "max_points": f["max_points"]} for f in health["factors"]]
    )
    base = alt.Chart(frame).encode(y=alt.Y("factor:N", title=None, sort=None))
    room = base.mark_bar(color="#e5e7eb").encode(x=alt.X("max_points:Q", title="Points"))
    points = base.mark_bar(color="#2563eb").encode(
        x="points:Q",
        tooltip=[alt.Tooltip("factor:N"), alt.Tooltip("points:Q"),
                 alt.Tooltip("max_points:Q", title="of"),
                 alt.Tooltip("share:Q", format=".0%", title="share of the score")],
    )
    return (room + points).properties(title="Health factors", height=40 * len(frame) + 20)


def show_health(fig: dict) -> None:
    health = fig["health"]
    st.subheader("Relationship health")
    if health["grade"] == "not_enough_data":
        st.info(f"Not enough data to grade this relationship: it needs at least 3 completed "
                f"e-mails, meetings or calls in the 90 days up to {fig['as_of'][:10]} and has "
                f"{health.get('activities_90_days', 0)}.")
        return
    delta = None
    if health.get("score_14_days_ago") is not None:
        delta = health["score"] - health["score_14_days_ago"]
    a, b = st.columns(2)
    a.metric("Score (0-100)", health["score"], delta=delta,
             help="Compared with the score 14 days earlier")
    b.metric("Grade and trend", f"{health['grade']}, {health['trend'].replace('_', ' ')}")
    st.altair_chart(health_factors_chart(health), width="stretch",
                    alt="The factors of the health score")
    st.dataframe(
        pd.DataFrame([{"Factor": f["label"], "Value": f["value"],
                       "Points": f"{f['points']:g} of {f['max_points']:g}",
                       "Share of the score": _share(f["share"])}
                      for f in health["factors"]]),
        hide_index=True,
    )


def show_time_and_response(fig: dict, current: View) -> None:
    spent, response = fig["time_spent_hours"], fig["response"]
    st.subheader("Time invested and response")
    a, b, c, d = st.columns(4)
    a.metric("Time invested by us", _hours(spent["by_us"]))
    b.metric("Time invested by them", _hours(spent["by_them"]))
    c.metric("Our first response", _hours(response["avg_first_response_hours_by_us"]),
             help=f"{_share(response['response_rate_by_us'])} of their "
                  f"{response['turns_by_them']} turns answered")
    d.metric("Their first response", _hours(response["avg_first_response_hours_by_them"]),
             help=f"{_share(response['response_rate_by_them'])} of our "
                  f"{response['turns_by_us']} turns answered")
    st.caption(
        f"Response rate: we answered {_share(response['response_rate_by_us'])} of their "
        f"{response['turns_by_them']} turns, they answered "
        f"{_share(response['response_rate_by_them'])} of our {response['turns_by_us']}. "
        + ("Response times count business hours only (Settings)."
           if response["business_hours"] else "Response times are wall-clock hours.")
    )


def show_engagement(fig: dict) -> None:
    engagement = fig["email_engagement"]
    st.subheader("E-mail engagement")
    if not engagement.get("tracked"):
        note = engagement.get("note") or "no tracking data in these imports"
        st.write(note[:1].upper() + note[1:] + ".")
        return
    st.write(f"{engagement['followed']} followed e-mails of ours in the window.")
    cols = st.columns(4)
    for col, (key, label) in zip(cols, (("open_rate", "Opened"), ("click_rate", "Clicked"),
                                        ("reply_rate", "Replied"),
                                        ("attachment_open_rate", "Attachment opened"))):
        col.metric(label, _share(engagement.get(key)))


def show_who_knows_whom(fig: dict, current: View) -> None:
    people = fig["who_knows_whom"]
    st.subheader("Who knows whom")
    if not people:
        st.write(f"None of our colleagues had contact with {fig['entity']['name']} in "
                 f"{current.window_text}.")
        return
    st.dataframe(
        pd.DataFrame([{"Colleague": p["name"], "E-mail": p["email"],
                       "Interactions": p["interactions"],
                       "Two-way": "yes" if p["two_way"] else "no",
                       "Last contact": when(p["last_at"]),
                       "Knows": ", ".join(p.get("knows") or [])} for p in people]),
        hide_index=True,
    )


def show_relationship(fig: dict, current: View) -> None:
    """All the widgets below the counts, in the order a seller reads them."""
    show_health(fig)
    show_time_and_response(fig, current)
    left, right = st.columns(2)
    with left:
        show_engagement(fig)
    with right:
        show_who_knows_whom(fig, current)


def show_similar_deals(similar: dict, current: View) -> None:
    """The similar won deals of an opportunity, with reasons and differences."""
    st.subheader("Similar won deals")
    if similar.get("message"):
        st.info(similar["message"])
        return
    left, right = st.columns([3, 1])
    with left:
        rows = [{
            "Deal": n["name"], "Account": n["account"], "Amount": n["amount"],
            "Closed": (n["closed_at"] or "")[:10], "Activities": n["activities"],
            "Time spent (h)": n["time_spent_hours"], "Response (h)": n["response_hours"],
            "Response rate": _share(n["response_rate"]), "Distance": n["distance"],
            "Why it is close": "; ".join(n["reasons"]),
        } for n in similar["neighbours"]]
        st.dataframe(pd.DataFrame(rows), hide_index=True,
                     column_config={"Amount": st.column_config.NumberColumn(format="%.0f")})
    with right:
        st.markdown("**Where this deal differs most**")
        if similar["differences"]:
            st.markdown("\n".join(f"- {text}" for text in similar["differences"]))
        else:
            st.write("No large difference from its similar won deals.")
    st.caption(f"Among {similar['won_count']:,} won deals closed by "
               f"{(similar.get('as_of') or '')[:10]}.")
