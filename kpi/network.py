"""Who knows whom: our colleagues closest to a record's external people.

A colleague's contact with the record's people is *two-way* when they both sent
to and received from them: e-mails they sent with one of the record's people
among the recipients, e-mails one of the record's people sent them (to, cc or
bcc), and meetings and calls, which are both at once.

Colleagues are ranked two-way first, then by their score, then by the latest
contact and name. The score counts each shared completed activity faded by
its age: ``0.5 ** (age_days / 30)``, so it grows with both how much and how
recent the contact is (one activity today scores 1, one 30 days ago 0.5).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd

from kpi.time_spent import PARTICIPATION_ROLES, completed, round_half_up, sender_sides

HALF_LIFE_DAYS = 30
SENDING_ROLES = frozenset({"sender"})
RECEIVING_ROLES = frozenset({"to", "cc", "bcc"})


def _iso(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime().replace(microsecond=0).isoformat() + "Z"


def _first(values):
    for value in values:
        if value is not None and not pd.isna(value):
            return value
    return None


def _most_shared(counts: Counter, top: int = 3) -> list[str]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    return [name for name, _ in ranked[:top]]


def who_knows_whom(acts: pd.DataFrame, parties: pd.DataFrame, as_of, limit: int = 5,
                   record_people=None) -> list[dict]:
    """Our colleagues with the most, and most recent, two-way contact.

    Parameters
    ----------
    acts, parties
        The record's frames; completed e-mails, meetings and calls up to
        *as_of* are used.
    as_of
        Naive UTC time the ages are measured from.
    limit
        How many colleagues to return.
    record_people
        The person_keys of the record's own external people (an account's
        contacts, an opportunity's stakeholders). None: every external person
        on the record's activities counts.

    Returns
    -------
    list of dict
        ``name``, ``email``, ``person_key``, ``interactions`` (shared
        activities), ``two_way`` (sent to and received from the record's
        people), ``last_at`` (ISO-8601 UTC with Z), ``score`` (2 decimals) and
        ``knows``: the names of the record's people they share most activities
        with (up to 3).
    """
    end = pd.Timestamp(as_of)
    done = completed(acts)
    done = done[done["start_at"] <= end]
    if done.empty:
        return []
    senders = dict(zip(done["activity_id"], sender_sides(done, parties)))
    when = dict(zip(done["activity_id"], done["start_at"]))
    kind = dict(zip(done["activity_id"], done["type"]))
    taking_part = parties[parties["activity_id"].isin(when)
                          & parties["role"].isin(PARTICIPATION_ROLES)].copy()
    taking_part["who"] = taking_part["person_key"].where(
        taking_part["person_key"].notna(), taking_part["person_id"])

    stats: dict = defaultdict(lambda: {"activities": set(), "sent": 0, "received": 0,
                                       "score": 0.0, "last": None, "knows": Counter()})
    for activity_id, group in taking_part.groupby("activity_id", sort=False):
        theirs = group[group["side"] == "them"]
        if record_people is not None:
            theirs = theirs[theirs["who"].isin(record_people)]
        if theirs.empty:
            continue
        their_names = [_first([n, e, w]) for n, e, w in
                       zip(theirs["name"], theirs["email"], theirs["who"])]
        ours = group[group["side"] == "us"]
        age_days = (end - when[activity_id]).total_seconds() / 86400
        fade = 0.5 ** (age_days / HALF_LIFE_DAYS)
        for who, roles in ours.groupby("who", sort=False)["role"]:
            entry = stats[who]
            if activity_id in entry["activities"]:
                continue
            entry["activities"].add(activity_id)
            entry["score"] += fade
            entry["knows"].update(set(their_names))
            if entry["last"] is None or when[activity_id] > entry["last"]:
                entry["last"] = when[activity_id]
            if kind[activity_id] != "email":
                entry["sent"] += 1
                entry["received"] += 1
            elif senders[activity_id] == "us" and SENDING_ROLES & set(roles):
                entry["sent"] += 1
            elif senders[activity_id] == "them" and RECEIVING_ROLES & set(roles):
                entry["received"] += 1

    ours = taking_part[taking_part["side"] == "us"]
    people = {who: rows for who, rows in ours.groupby("who", sort=False)}
    result = []
    for who, entry in stats.items():
        rows = people[who]
        result.append({
            "name": _first(rows["name"]) or _first(rows["email"]) or who,
            "email": _first(rows["email"]),
            "person_key": who,
            "interactions": len(entry["activities"]),
            "two_way": bool(entry["sent"] and entry["received"]),
            "last_at": _iso(entry["last"]),
            "score": round_half_up(entry["score"], 2),
            "knows": _most_shared(entry["knows"]),
            "_rank": (not (entry["sent"] and entry["received"]), -entry["score"],
                      -entry["last"].value, str(_first(rows["name"]) or who)),
        })
    result.sort(key=lambda item: item["_rank"])
    for item in result:
        del item["_rank"]
    return result[:limit]
