"""The summary: a few plain sentences drawn from the figures themselves.

Every sentence restates a number found elsewhere in the same figures, so the
summary can never disagree with the widgets.
"""

from __future__ import annotations

NOUNS = {"emails": ("email", "emails"), "meetings": ("meeting", "meetings"),
         "calls": ("call", "calls")}


def _plural(n: int, kind: str) -> str:
    one, many = NOUNS[kind]
    return f"{n} {one if n == 1 else many}"


def _window(figures: dict) -> str:
    days = figures["window_days"]
    return "In all the data" if days == "all" else f"In the last {days} days"


def _day(iso_time: str | None) -> str:
    return iso_time[:10] if iso_time else ""


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _percent(share) -> str:
    return "none" if share is None else f"{share:.0%}"


def sentences(figures: dict) -> list[str]:
    """Sentences such as "You initiated 3 more meetings than the customer."."""
    counts = figures["interactions"]
    total = {kind: c["by_us"] + c["by_them"] for kind, c in counts.items()}
    out: list[str] = []
    if not any(total.values()):
        out.append(f"{_window(figures)} there were no emails, meetings or calls.")
    else:
        parts = [_plural(total[k], k) for k in NOUNS if total[k]]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        out.append(f"{_window(figures)} there were {listed}.")
        for kind in NOUNS:
            diff = counts[kind]["by_us"] - counts[kind]["by_them"]
            if diff > 0:
                out.append(f"You initiated {_plural(diff, kind).replace(' ', ' more ', 1)}"
                           " than the customer.")
            elif diff < 0:
                out.append(f"The customer initiated "
                           f"{_plural(-diff, kind).replace(' ', ' more ', 1)} than you.")
            elif total[kind]:
                out.append(f"You and the customer initiated as many {NOUNS[kind][1]} "
                           f"({counts[kind]['by_us']} each).")
    last = figures.get("last_interaction")
    if last:
        who = {"us": "by you", "them": "by the customer"}.get(last["initiated_by"], "")
        subject = f" ({last['subject']})" if last.get("subject") else ""
        out.append(f"The last interaction was {_article(last['type'])}{subject} "
                   f"{who + ' ' if who else ''}on {_day(last['at'])}.")
    else:
        out.append("There has been no interaction yet.")
    upcoming = figures.get("next_interaction")
    if upcoming:
        subject = f" ({upcoming['subject']})" if upcoming.get("subject") else ""
        out.append(f"Next: {_article(upcoming['type'])}{subject} on {_day(upcoming['at'])}.")
    else:
        out.append("Nothing is scheduled.")
    spent = figures.get("time_spent_hours")
    if spent and (spent["by_us"] or spent["by_them"]):
        out.append(f"You spent about {spent['by_us']:g} hours on it, the customer about "
                   f"{spent['by_them']:g}.")
    response = figures.get("response") or {}
    if response.get("avg_first_response_hours_by_us") is not None:
        out.append(f"You answered the customer in {response['avg_first_response_hours_by_us']:g}"
                   f" hours on average ({_percent(response['response_rate_by_us'])} of their"
                   " turns answered).")
    if response.get("avg_first_response_hours_by_them") is not None:
        out.append(f"The customer answered you in "
                   f"{response['avg_first_response_hours_by_them']:g} hours on average "
                   f"({_percent(response['response_rate_by_them'])} of your turns answered).")
    health = figures.get("health") or {}
    if health.get("grade") == "not_enough_data":
        out.append("There is not enough recent activity to grade the relationship's health.")
    elif health.get("score") is not None:
        trend = {"improving": ", improving", "declining": ", declining",
                 "steady": ", steady"}.get(health.get("trend"), "")
        out.append(f"Relationship health is {health['grade']} ({health['score']} of 100{trend}).")
    top = figures.get("most_contacted") or []
    if top and figures["entity"]["type"] != "contact":
        person = top[0]
        out.append(f"Most contacted: {person['name']} ({_interactions(person)}).")
    ours = figures.get("most_contacted_by") or []
    if ours:
        person = ours[0]
        out.append(f"Most in touch on our side: {person['name']} ({_interactions(person)}).")
    return out


def _interactions(person: dict) -> str:
    n = person["interactions"]
    return f"{n:,} interaction" + ("" if n == 1 else "s")
