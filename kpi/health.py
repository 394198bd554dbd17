"""Relationship health: a 0-100 score from four factors (docs/health.md).

Everything is measured over the completed e-mails, meetings and calls of the
90 days up to the time asked about, T. Each activity weighs ``weight_email``,
``weight_meeting`` or ``weight_call`` (0.5 to 1.5) and fades with age: it
counts ``0.5 ** (age_days / 30)``, so one 30 days old counts half.

*Two-way contact* is a meeting or a call, or an e-mail written when the other
side had e-mailed within the previous ``response_within_days``.

=====================  ===  ================================================
factor                 max  points
=====================  ===  ================================================
recent_two_way         35   35 * (1 - exp(-S / 3)), S = faded, weighted
                            two-way contacts
days_since_two_way     25   25 while the last two-way contact is at most
                            ``cadence_days`` old, then falling straight to 0
                            at 4 * ``cadence_days``; 0 with none
kept_cadence           20   20 * K / 90, K = the days between consecutive
                            two-way contacts, each gap counted up to
                            ``cadence_days``
customer_initiative    20   20 * (1 - exp(-C / 3)), C = faded, weighted
                            activities the customer initiated (their
                            e-mails, replies included, meetings, calls)
=====================  ===  ================================================

Adding contact never lowers a factor and silence never raises one, which
tests/test_health.py checks on random histories.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kpi.time_spent import completed, round_half_up, sender_sides
from rapport.settings import Settings

WINDOW_DAYS = 90
TREND_DAYS = 14
TREND_STEP = 5
MIN_ACTIVITIES = 3
HALF_LIFE_DAYS = 30
SATURATION = 3.0
MAX_POINTS = {
    "recent_two_way": 35.0,
    "days_since_two_way": 25.0,
    "kept_cadence": 20.0,
    "customer_initiative": 20.0,
}
LABELS = {
    "recent_two_way": "Recent two-way contact",
    "days_since_two_way": "Days since the last two-way contact",
    "kept_cadence": "Contact kept to the cadence",
    "customer_initiative": "Customer initiating and replying",
}


def grade(score: int | None) -> str:
    """good (60 or more), fair (40-59), poor (under 40) or not_enough_data."""
    if score is None:
        return "not_enough_data"
    return "good" if score >= 60 else "fair" if score >= 40 else "poor"


def trend(now: int | None, before: int | None) -> str:
    """improving / declining when the score moved 5 points or more, else steady."""
    if now is None or before is None:
        return "not_enough_data"
    if now - before >= TREND_STEP:
        return "improving"
    if before - now >= TREND_STEP:
        return "declining"
    return "steady"


def prepare(acts: pd.DataFrame, parties: pd.DataFrame) -> pd.DataFrame:
    """The completed activities of *acts* with type, side and time (``at``),
    in the order of *acts*: what the score reads of them. Frames of many
    records at once (with a record_id column) give one frame for all of
    them, to split by record_id (kpi.overview does)."""
    done = completed(acts)
    columns = {
        "type": done["type"].to_numpy(dtype=object),
        "side": sender_sides(done, parties).to_numpy(dtype=object),
        "at": pd.to_datetime(done["start_at"]).to_numpy(),
    }
    if "record_id" in done.columns:
        columns = {"record_id": done["record_id"].to_numpy(dtype=object), **columns}
    return pd.DataFrame(columns)


def _window(acts: pd.DataFrame, parties: pd.DataFrame, as_of,
            prepared: pd.DataFrame | None = None) -> pd.DataFrame:
    """The completed activities of the 90 days up to *as_of*, with side, age, type."""
    end = pd.Timestamp(as_of)
    ready = prepare(acts, parties) if prepared is None else prepared
    at = ready["at"]
    ready = ready[(at > end - pd.Timedelta(days=WINDOW_DAYS)) & (at <= end)]
    return pd.DataFrame({
        "type": ready["type"].to_numpy(dtype=object),
        "side": ready["side"].to_numpy(dtype=object),
        "at": ready["at"].to_numpy(),
        "age": ((end - ready["at"]).dt.total_seconds() / 86400).to_numpy(),
    }).sort_values("at", kind="stable").reset_index(drop=True)


def _two_way(window: pd.DataFrame, settings: Settings) -> np.ndarray:
    """Which rows are two-way contact: meetings, calls, and e-mails answering
    the other side's e-mail of the previous response_within_days."""
    flags = window["type"].isin(["meeting", "call"]).to_numpy().copy()
    within = pd.Timedelta(days=settings.response_within_days)
    within = within.to_timedelta64()
    is_email = (window["type"] == "email").to_numpy()
    at = window["at"].to_numpy()
    for side, other in (("us", "them"), ("them", "us")):
        theirs = np.sort(at[is_email & (window["side"] == other).to_numpy()])
        for index in np.flatnonzero(is_email & (window["side"] == side).to_numpy()):
            # the other side's latest e-mail strictly before this one
            position = np.searchsorted(theirs, at[index], side="left")
            if position and at[index] - theirs[position - 1] <= within:
                flags[index] = True
    return flags


Factors = dict[str, tuple[float | None, float]]


def factors(acts: pd.DataFrame, parties: pd.DataFrame, as_of,
            settings: Settings, prepared: pd.DataFrame | None = None
            ) -> tuple[int, Factors] | None:
    """(activities in 90 days, {factor: (value, points)}), or None with fewer than 3.

    *prepared* is :func:`prepare` of the frames, when the caller has it."""
    window = _window(acts, parties, as_of, prepared)
    if len(window) < MIN_ACTIVITIES:
        return None
    weight = window["type"].map({"email": settings.weight_email,
                                 "meeting": settings.weight_meeting,
                                 "call": settings.weight_call}).to_numpy(dtype=float)
    fade = 0.5 ** (window["age"].to_numpy(dtype=float) / HALF_LIFE_DAYS)
    two_way = _two_way(window, settings)
    cadence = float(settings.cadence_days)

    strength = float((weight * fade)[two_way].sum())
    ages = window["age"].to_numpy(dtype=float)[two_way]
    gap = float(ages.min()) if len(ages) else None
    if gap is None:
        recency = 0.0
    else:
        recency = 1.0 - min(1.0, max(0.0, gap - cadence) / (3 * cadence))
    gaps = np.diff(np.sort(ages))
    kept = float(np.minimum(gaps, cadence).sum()) if len(gaps) else 0.0
    initiative = float((weight * fade)[(window["side"] == "them").to_numpy()].sum())

    share = {
        "recent_two_way": 1 - math.exp(-strength / SATURATION),
        "days_since_two_way": recency,
        "kept_cadence": kept / WINDOW_DAYS,
        "customer_initiative": 1 - math.exp(-initiative / SATURATION),
    }
    values = {"recent_two_way": strength, "days_since_two_way": gap,
              "kept_cadence": kept, "customer_initiative": initiative}
    return len(window), {
        name: (values[name], MAX_POINTS[name] * share[name]) for name in MAX_POINTS
    }


def score(acts: pd.DataFrame, parties: pd.DataFrame, as_of,
          settings: Settings, prepared: pd.DataFrame | None = None) -> int | None:
    """The health score at *as_of*, or None with fewer than 3 activities in 90 days."""
    found = factors(acts, parties, as_of, settings, prepared)
    if found is None:
        return None
    return int(math.floor(sum(points for _, points in found[1].values()) + 0.5))


def health(acts: pd.DataFrame, parties: pd.DataFrame, as_of,
           settings: Settings, prepared: pd.DataFrame | None = None) -> dict:
    """The record's health at *as_of*: score, grade, trend and factors.

    Parameters
    ----------
    acts, parties
        The record's frames; they should reach back 104 days before *as_of*
        (90 days for the score, 14 more for the score two weeks earlier).
    as_of
        Naive UTC time T.
    settings
        ``cadence_days``, ``response_within_days`` and the three weights.
    prepared
        :func:`prepare` of the frames, when the caller already has it (it
        is the same for every as-of time).

    Returns
    -------
    dict
        ``score`` (0-100 or None), ``grade``, ``trend``, ``score_14_days_ago``,
        ``activities_90_days`` and ``factors``: one entry per factor with
        ``name``, ``label``, ``value``, ``points``, ``max_points`` and
        ``share`` (its part of the score; the shares add up to 1, or are all 0
        when the score is 0).
    """
    as_of = pd.Timestamp(as_of)
    if prepared is None:
        prepared = prepare(acts, parties)
    found = factors(acts, parties, as_of, settings, prepared)
    before = score(acts, parties, as_of - pd.Timedelta(days=TREND_DAYS), settings, prepared)
    if found is None:
        count = len(_window(acts, parties, as_of, prepared))
        return {"score": None, "grade": grade(None), "trend": "not_enough_data",
                "score_14_days_ago": before, "activities_90_days": count, "factors": []}
    count, parts = found
    total = sum(points for _, points in parts.values())
    now = int(math.floor(total + 0.5))
    listed = []
    for name, (value, points) in parts.items():
        listed.append({
            "name": name,
            "label": LABELS[name],
            "value": None if value is None else round_half_up(value, 2),
            "points": round_half_up(points, 1),
            "max_points": MAX_POINTS[name],
            "share": round_half_up(points / total, 3) if total > 0 else 0.0,
        })
    return {"score": now, "grade": grade(now), "trend": trend(now, before),
            "score_14_days_ago": before, "activities_90_days": count, "factors": listed}
