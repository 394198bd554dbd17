"""E-mail conversations, turns and response figures (spec section 5).

Threading, in order of trust:

1. In-Reply-To and References: every e-mail is joined with every message it
   names (union-find over Message-IDs, so a reply joins its thread even when
   the original is not in the data: siblings naming it meet there).
2. A conversation id (Outlook Thread-Index, Dataverse conversationindex,
   Salesforce ThreadIdentifier). A Thread-Index grows by five bytes with each
   reply; its first 22 bytes name the conversation, so only those are compared.
3. Only an e-mail with none of these (and that no other e-mail names) falls
   back to its subject: the same subject once Re:/Fwd:/FW:/AW:/SV: prefixes are
   stripped (and spaces ignored), a shared external person, and at most
   ``subject_thread_days`` after the conversation's previous e-mail.

Within a conversation, in time order, a *turn* of one side starts with that
side's first e-mail after the other side last wrote; the other side's next
e-mail answers it. Mails that stay inside one side (a colleague forwarding the
customer's mail to another colleague) take no part in turns.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd

from kpi.time_spent import PARTICIPATION_ROLES, completed, round_half_up, sender_sides
from rapport.settings import Settings

_PREFIX = re.compile(r"^\s*(?:re|fwd?|aw|sv)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*", re.I)
_BRACKETED = re.compile(r"<([^<>\s]+)>")
_HEX = re.compile(r"^(?:[0-9a-f]{2})+$", re.I)
THREAD_INDEX_HEADER = 22  # bytes of an Outlook Thread-Index naming the conversation


def normalize_subject(subject) -> str:
    """The subject without Re:/Fwd:/FW:/AW:/SV: prefixes, lower-case, spaces folded."""
    text = "" if subject is None or pd.isna(subject) else str(subject)
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.lower().split())


def subject_key(subject) -> str:
    """What two subjects must share to join: the normalised subject without any
    spaces, since some archives split words where a long header was folded."""
    return normalize_subject(subject).replace(" ", "")


def message_ids(text) -> list[str]:
    """The bare, lower-case message ids in an In-Reply-To or References value."""
    if text is None or pd.isna(text) or not str(text).strip():
        return []
    text = str(text)
    found = _BRACKETED.findall(text) if "<" in text else text.split()
    return [item.strip().lower() for item in found if item.strip()]


def conversation_root(value) -> str | None:
    """The part of a conversation id shared by every mail of the conversation."""
    if value is None or pd.isna(value) or not str(value).strip():
        return None
    text = str(value).strip()
    raw = None
    if _HEX.match(text):
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is not None and len(raw) >= THREAD_INDEX_HEADER and (
        (len(raw) - THREAD_INDEX_HEADER) % 5 == 0
    ):
        return "ti:" + raw[:THREAD_INDEX_HEADER].hex()
    return "id:" + text


class _UnionFind:
    def __init__(self):
        self.parent: dict = {}

    def find(self, node):
        self.parent.setdefault(node, node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb
        return rb


def _their_people(parties: pd.DataFrame) -> dict[str, set]:
    """activity_id -> the keys of the external people taking part."""
    taking_part = parties["role"].isin(PARTICIPATION_ROLES)
    them = parties[(parties["side"] == "them") & taking_part]
    keys = them["person_key"].where(them["person_key"].notna(), them["person_id"])
    return keys.groupby(them["activity_id"]).agg(set).to_dict()


def _email_order(emails: pd.DataFrame) -> pd.DataFrame:
    return emails.sort_values(["start_at", "activity_id"], kind="stable")


def _thread_keys(emails: pd.DataFrame, parties: pd.DataFrame,
                 settings: Settings) -> dict:
    """activity_id -> conversation key (the activity_id of its earliest e-mail)."""
    finder = _UnionFind()
    named = set()
    for row in emails.itertuples(index=False):
        node = ("act", row.activity_id)
        finder.find(node)
        own = message_ids(row.message_id)
        if own:
            finder.union(node, ("msg", own[0]))
        references = message_ids(row.in_reply_to) + message_ids(row.refs)
        for ref in references:
            finder.union(node, ("msg", ref))
        root = conversation_root(row.conversation_id)
        if root:
            finder.union(node, ("conv", root))
        if references or root:
            named.add(row.activity_id)
    sizes = defaultdict(int)
    for activity_id in emails["activity_id"]:
        sizes[finder.find(("act", activity_id))] += 1
    linked = named | {
        a for a in emails["activity_id"] if sizes[finder.find(("act", a))] > 1
    }

    # Subject fallback, in time order so "the conversation's previous e-mail"
    # is the latest one already seen.
    limit = pd.Timedelta(days=settings.subject_thread_days)
    people = _their_people(parties)
    latest: dict = {}
    # (subject, external person) -> the conversations (their roots) seen with it
    seen_by_subject: dict = defaultdict(set)
    ordered = _email_order(emails)
    for row in ordered.itertuples(index=False):
        node = ("act", row.activity_id)
        subject = subject_key(row.subject)
        keys = people.get(row.activity_id, set())
        if row.activity_id not in linked and subject:
            best, best_at = None, None
            for key in keys:
                roots = {finder.find(seen) for seen in seen_by_subject[(subject, key)]}
                seen_by_subject[(subject, key)] = roots
                for root in roots:
                    previous = latest[root]
                    if row.start_at - previous > limit:
                        continue
                    if best_at is None or previous > best_at:
                        best, best_at = root, previous
            if best is not None:
                finder.union(node, best)
        root = finder.find(node)
        latest[root] = max(row.start_at, latest.get(root, row.start_at))
        for key in keys:
            seen_by_subject[(subject, key)].add(root)

    first = {}
    for activity_id in ordered["activity_id"]:
        first.setdefault(finder.find(("act", activity_id)), activity_id)
    return {a: first[finder.find(("act", a))] for a in emails["activity_id"]}


def _emails_until(acts: pd.DataFrame, as_of) -> pd.DataFrame:
    emails = completed(acts, ("email",))
    if as_of is not None and not emails.empty:
        emails = emails[emails["start_at"] <= pd.Timestamp(as_of)]
    return emails


def threads(acts: pd.DataFrame, parties: pd.DataFrame, settings: Settings) -> pd.Series:
    """The conversation key of each completed e-mail in *acts* (None for the rest).

    The key is the activity_id of the conversation's earliest e-mail, so two
    e-mails are in one conversation exactly when their keys are equal.
    """
    emails = completed(acts, ("email",))
    keys = _thread_keys(emails, parties, settings) if not emails.empty else {}
    values = [keys.get(a) for a in acts["activity_id"]]
    return pd.Series(values, index=acts.index, name="conversation", dtype=object)


@dataclass
class Turn:
    """One side's run of e-mails in a conversation until the other side writes."""

    conversation: str
    side: str
    start_at: pd.Timestamp
    answered_at: pd.Timestamp | None = None


def turns(acts: pd.DataFrame, parties: pd.DataFrame, settings: Settings,
          as_of=None) -> list[Turn]:
    """Every turn of every conversation among the completed e-mails up to *as_of*."""
    emails = _emails_until(acts, as_of)
    if emails.empty:
        return []
    emails = emails.assign(
        side=sender_sides(emails, parties).values,
        conversation=emails["activity_id"].map(_thread_keys(emails, parties, settings)),
    )
    taking_part = parties[parties["role"].isin(PARTICIPATION_ROLES)]
    sides_present = taking_part.groupby("activity_id")["side"].agg(set).to_dict()
    result = []
    for conversation, mails in _email_order(emails).groupby("conversation", sort=False):
        current = None
        for row in mails.itertuples(index=False):
            if row.side is None:
                continue
            other = "them" if row.side == "us" else "us"
            present = sides_present.get(row.activity_id)
            if present and other not in present:
                continue  # stays inside one side: neither a turn nor an answer
            if current is not None and current.side == row.side:
                continue
            if current is not None:
                current.answered_at = row.start_at
            current = Turn(conversation, row.side, row.start_at)
            result.append(current)
    return result


def working_hours(start, end, settings: Settings) -> float:
    """Hours between two naive UTC times, counting only business days and hours
    in the display zone."""
    zone = ZoneInfo(settings.display_timezone)
    utc = dt.timezone.utc
    begin = pd.Timestamp(start).to_pydatetime().replace(tzinfo=utc)
    finish = pd.Timestamp(end).to_pydatetime().replace(tzinfo=utc)
    day = begin.astimezone(zone).date()
    last_day = finish.astimezone(zone).date()
    seconds = 0.0
    while day <= last_day:
        if day.weekday() in settings.business_days:
            midnight = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
            # Wall-clock arithmetic on an aware datetime keeps DST days right.
            opens = (midnight + dt.timedelta(hours=settings.business_start_hour))
            closes = (midnight + dt.timedelta(hours=settings.business_end_hour))
            low = max(begin, opens.astimezone(utc))
            high = min(finish, closes.astimezone(utc))
            if high > low:
                seconds += (high - low).total_seconds()
        day += dt.timedelta(days=1)
    return seconds / 3600


def _elapsed_hours(start, end, settings: Settings) -> float:
    if settings.business_hours:
        return working_hours(start, end, settings)
    return (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 3600


def response(acts: pd.DataFrame, parties: pd.DataFrame, window_start, as_of,
             settings: Settings) -> dict:
    """Response times, response rates and turns of both sides in the window.

    Parameters
    ----------
    acts, parties
        The record's frames. E-mails before *window_start* give context (a
        customer's turn that began before the window is not the window's), so
        frames that start ``response_within_days`` earlier than the window
        give the truest figures.
    window_start, as_of
        The window (window_start, as_of] as naive UTC times; window_start None
        means no lower bound. E-mails after *as_of* are ignored.
    settings
        ``response_within_days``, ``subject_thread_days`` and the business-hours
        settings.

    Returns
    -------
    dict
        ``avg_first_response_hours_by_us``: the mean time from the start of a
        turn of theirs in the window to our answer, over the turns we answered
        within ``response_within_days`` (hours, 2 decimals; None when none).
        ``response_rate_by_us``: the share of their turns in the window that we
        answered within ``response_within_days`` (2 decimals; None when they had
        no turn). ``turns_by_us``: our turns in the window. The ``_by_them``
        keys are the same with the sides swapped. ``business_hours`` says
        whether the times count working time only.
    """
    every = turns(acts, parties, settings, as_of)
    low = pd.Timestamp(window_start) if window_start is not None else None
    high = pd.Timestamp(as_of) if as_of is not None else None
    in_window = [
        t for t in every
        if (low is None or t.start_at > low) and (high is None or t.start_at <= high)
    ]
    within = pd.Timedelta(days=settings.response_within_days)
    result = {}
    for side, other in (("us", "them"), ("them", "us")):
        asked = [t for t in in_window if t.side == other]
        answered = [
            t for t in asked
            if t.answered_at is not None and t.answered_at - t.start_at <= within
        ]
        hours = [_elapsed_hours(t.start_at, t.answered_at, settings) for t in answered]
        result[f"avg_first_response_hours_by_{side}"] = (
            round_half_up(sum(hours) / len(hours), 2) if hours else None
        )
        result[f"response_rate_by_{side}"] = (
            round_half_up(len(answered) / len(asked), 2) if asked else None
        )
    result["turns_by_us"] = sum(1 for t in in_window if t.side == "us")
    result["turns_by_them"] = sum(1 for t in in_window if t.side == "them")
    result["business_hours"] = bool(settings.business_hours)
    return {key: result[key] for key in (
        "avg_first_response_hours_by_us", "avg_first_response_hours_by_them",
        "response_rate_by_us", "response_rate_by_them",
        "turns_by_us", "turns_by_them", "business_hours")}
