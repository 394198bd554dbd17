"""E-mail engagement: what the customer did with the e-mails we followed.

Only some sources track e-mails (Dataverse: isemailfollowed, opencount,
linksclickedcount, replycount, attachmentopencount; Salesforce: a first-opened
date). A rate is the share of our followed e-mails where the count is above
zero, among those whose source gave that count at all. An e-mail that carries
a tracking count but no "followed" flag was evidently tracked and counts as
followed.
"""

from __future__ import annotations

import pandas as pd

from kpi.time_spent import completed, round_half_up

COUNTS = {
    "open_rate": "opens",
    "click_rate": "clicks",
    "reply_rate": "replies",
    "attachment_open_rate": "attachment_opens",
}
NO_TRACKING = "no tracking data in these imports"
NONE_FOLLOWED = "none of our e-mails in this period were followed"


def _flag(value) -> bool | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def email_engagement(acts: pd.DataFrame) -> dict:
    """Open, click, reply and attachment-open rates of our followed e-mails.

    Parameters
    ----------
    acts
        The record's activities (``kpi.scope.record_frames``), already limited
        to the window.

    Returns
    -------
    dict
        ``followed``: our completed e-mails that were followed; ``open_rate``,
        ``click_rate``, ``reply_rate``, ``attachment_open_rate``: shares with
        2 decimals, None where no followed e-mail has that count; ``tracked``:
        whether any e-mail in *acts* carries tracking data; ``note``: a plain
        sentence when there is no tracking data or no followed e-mail, else None.
    """
    emails = completed(acts, ("email",))
    counts = emails[list(COUNTS.values())].apply(pd.to_numeric, errors="coerce")
    flags = emails["followed"].map(_flag)
    tracked = bool(flags.notna().any() or counts.notna().any().any())
    result = {"followed": 0, **dict.fromkeys(COUNTS), "tracked": tracked,
              "note": None if tracked else NO_TRACKING}
    if not tracked:
        return result
    has_count = counts.notna().any(axis=1)
    followed = ((flags == True) | (flags.isna() & has_count)).fillna(False)  # noqa: E712
    ours = followed & (emails["initiated_by"] == "us")
    mine = counts[ours.to_numpy()]
    result["followed"] = int(ours.sum())
    if not result["followed"]:
        result["note"] = NONE_FOLLOWED
    for rate, column in COUNTS.items():
        known = mine[column].dropna()
        if len(known):
            result[rate] = round_half_up(float((known > 0).mean()), 2)
    return result
