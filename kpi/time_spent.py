"""Time each side invested in a record's relationship (spec section 5).

Estimates, not measurements: an e-mail costs its sender ``email_minutes_sender``
(default 5) and its receiving side ``email_minutes_receiver`` (default 2.5),
once, however many people received it. A meeting costs us its duration for
each of our attendees and costs them its duration once. A call costs each
side its duration once.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from rapport.settings import Settings

# Roles that take part in an activity (spec section 3); owner and customer do not.
PARTICIPATION_ROLES = frozenset(
    {"sender", "to", "cc", "bcc", "organizer", "required", "optional", "caller",
     "callee"}
)
RECIPIENT_ROLES = frozenset({"to", "cc", "bcc"})
INITIATOR_ROLES = ("sender", "organizer", "caller", "owner")


def completed(acts: pd.DataFrame, types=("email", "meeting", "call")) -> pd.DataFrame:
    """The completed activities of *types* in *acts*."""
    if acts.empty:
        return acts
    return acts[(acts["state"] == "completed") & acts["type"].isin(types)]


def duration_minutes(acts: pd.DataFrame) -> pd.Series:
    """Each activity's length in minutes: duration_minutes, else end - start, else 0."""
    stated = pd.to_numeric(acts["duration_minutes"], errors="coerce")
    span = (pd.to_datetime(acts["end_at"]) - pd.to_datetime(acts["start_at"]))
    span = span.dt.total_seconds() / 60
    length = stated.where(stated.notna(), span)
    return length.where(length > 0, 0.0).fillna(0.0).astype(float)


def sender_sides(acts: pd.DataFrame, parties: pd.DataFrame) -> pd.Series:
    """initiated_by, or where that is missing the side of the first initiator party."""
    side = acts["initiated_by"].astype(object).where(acts["initiated_by"].notna(), None)
    missing = side.isna()
    if missing.any() and not parties.empty:
        rank = {role: i for i, role in enumerate(INITIATOR_ROLES)}
        lead = parties[parties["role"].isin(rank)].copy()
        lead["rank"] = lead["role"].map(rank)
        lead = lead.sort_values(["activity_id", "rank"]).drop_duplicates("activity_id")
        by_id = dict(zip(lead["activity_id"], lead["side"]))
        side = side.copy()
        side[missing] = acts.loc[missing, "activity_id"].map(by_id)
    return side.where(side.isin(["us", "them"]), None)


def round_half_up(value: float, places: int) -> float:
    """*value* rounded the way people do it by hand (0.25 -> 0.3 at one place)."""
    step = Decimal(1).scaleb(-places)
    return float(Decimal(repr(float(value))).quantize(step, rounding=ROUND_HALF_UP))


def _receiving_side(sender: str, recipient_sides: set) -> str:
    # The other side, unless every recipient we know of is on the sender's side
    # (an internal mail filed on the record): then the sender's own side reads it.
    other = "them" if sender == "us" else "us"
    if recipient_sides and other not in recipient_sides:
        return sender
    return other


def time_spent(acts: pd.DataFrame, parties: pd.DataFrame, settings: Settings) -> dict:
    """Hours each side spent on the record's completed e-mails, meetings and calls.

    Parameters
    ----------
    acts, parties
        The record's frames from ``kpi.scope.record_frames``.
    settings
        ``email_minutes_sender`` and ``email_minutes_receiver`` are used.

    Returns
    -------
    dict
        ``{"by_us": hours, "by_them": hours}``, each rounded to 0.1.

    Examples
    --------
    A 60-minute meeting with three of ours costs us 3 hours and them 1 hour.
    """
    done = completed(acts)
    minutes = {"us": 0.0, "them": 0.0}
    if done.empty:
        return {"by_us": 0.0, "by_them": 0.0}
    length = duration_minutes(done)
    senders = sender_sides(done, parties)
    mine = parties[parties["activity_id"].isin(done["activity_id"])]
    taking_part = mine[mine["role"].isin(PARTICIPATION_ROLES)]
    recipients = (
        taking_part[taking_part["role"].isin(RECIPIENT_ROLES)]
        .groupby("activity_id")["side"].agg(lambda s: set(s.dropna()))
    )
    our_attendees = (
        taking_part[taking_part["side"] == "us"]
        .assign(who=lambda f: f["person_key"].fillna(f["person_id"]))
        .groupby("activity_id")["who"].nunique()
    )
    for (index, act), sender in zip(done.iterrows(), senders):
        if act["type"] == "email":
            if sender is None:
                continue  # nobody known sent it: no side to charge
            minutes[sender] += settings.email_minutes_sender
            read_by = recipients.get(act["activity_id"], set())
            receiving = _receiving_side(sender, read_by)
            minutes[receiving] += settings.email_minutes_receiver
        elif act["type"] == "meeting":
            # Someone of ours was there even when the source lists nobody.
            attendees = max(1, int(our_attendees.get(act["activity_id"], 0)))
            minutes["us"] += length[index] * attendees
            minutes["them"] += length[index]
        else:
            minutes["us"] += length[index]
            minutes["them"] += length[index]
    return {
        "by_us": round_half_up(minutes["us"] / 60, 1),
        "by_them": round_half_up(minutes["them"] / 60, 1),
    }
