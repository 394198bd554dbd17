"""Settings: every knob that changes a figure, stored in the database.

Each setting has a default here; the ``settings`` table keeps only what a user
changed, as JSON. ``docs/settings.md`` lists them with the figures they move.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

DEFAULT_AUTOMATED = (
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|"
    r"notifications?|bounces?|calendar[-_.]?(notification|robot)s?)([+.-].*)?$"
)


@dataclass
class Settings:
    """The figures' knobs. Field names are the keys users type."""

    internal_domains: list[str] = field(default_factory=list)
    # True while internal_domains was filled by an importer, not by a person.
    internal_domains_inferred: bool = True
    excluded_addresses: list[str] = field(default_factory=list)
    excluded_domains: list[str] = field(default_factory=list)
    automated_sender_pattern: str = DEFAULT_AUTOMATED
    import_timezone: str = "UTC"
    display_timezone: str = "UTC"
    window_days: int = 60
    email_minutes_sender: float = 5.0
    email_minutes_receiver: float = 2.5
    response_within_days: int = 14
    subject_thread_days: int = 14
    business_hours: bool = False
    business_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    business_start_hour: int = 9
    business_end_hour: int = 17
    cadence_days: int = 7
    weight_email: float = 1.0
    weight_meeting: float = 1.0
    weight_call: float = 1.0
    similar_k: int = 5
    max_upload_mb: int = 200

    def validate(self) -> None:
        """Raise ValueError naming the setting and its allowed values."""
        for name in ("import_timezone", "display_timezone"):
            try:
                ZoneInfo(getattr(self, name))
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{name}: {getattr(self, name)!r} is not a time zone; "
                    "use an IANA name such as UTC or Europe/Berlin"
                ) from None
        for name in ("weight_email", "weight_meeting", "weight_call"):
            value = getattr(self, name)
            if not 0.5 <= value <= 1.5:
                raise ValueError(f"{name}: {value} is outside 0.5 to 1.5 (default 1.0)")
        positive = ("window_days", "cadence_days", "response_within_days",
                    "subject_thread_days", "similar_k", "max_upload_mb")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be 1 or more, got {getattr(self, name)}")
        try:
            re.compile(self.automated_sender_pattern)
        except re.error as exc:
            raise ValueError(f"automated_sender_pattern: {self.automated_sender_pattern!r} is "
                             f"not a regular expression ({exc})") from None
        if not 0 <= self.business_start_hour < self.business_end_hour <= 24:
            raise ValueError("business_start_hour must be before business_end_hour, 0 to 24")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def parse_value(name: str, text: str):
    """Turn the text a user typed for *name* into the setting's type."""
    if name not in FIELDS:
        known = ", ".join(sorted(FIELDS))
        raise KeyError(f"unknown setting {name!r}; known settings: {known}")
    default = getattr(Settings(), name)
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: expected true or false, got {text!r}")
    if isinstance(default, list):
        items = [item.strip() for item in text.split(",") if item.strip()]
        if name == "business_days":
            return [int(item) for item in items]
        return [item.lower() for item in items]
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ValueError(f"{name}: expected {kind}, got {text!r}") from None
    return text


def load(con: duckdb.DuckDBPyConnection) -> Settings:
    """The settings in force for this database."""
    stored = dict(con.execute("SELECT key, value FROM settings").fetchall())
    values = {k: json.loads(v) for k, v in stored.items() if k in FIELDS}
    return Settings(**values)


def save(con: duckdb.DuckDBPyConnection, **changes) -> Settings:
    """Store *changes* after checking them; returns the new settings."""
    current = load(con)
    for name in changes:
        if name not in FIELDS:
            raise KeyError(f"unknown setting {name!r}")
    if "internal_domains" in changes and "internal_domains_inferred" not in changes:
        changes["internal_domains_inferred"] = False
    updated = dataclasses.replace(current, **changes)
    updated.validate()
    for name, value in changes.items():
        con.execute(
            "INSERT OR REPLACE INTO settings VALUES (?, ?)", [name, json.dumps(value)]
        )
    return updated
