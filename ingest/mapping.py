"""Tables Rapport does not know: a named column mapping, and the parts every
table layout shares.

A user maps the columns of an unknown export to the canonical fields (type,
time, direction, from, to, duration, subject, regarding), sees the first
rows as they will be stored, and may save the mapping by name; saved
mappings are kept in the ``mappings`` table.

The shared parts are used by the call-log, Salesforce, HubSpot and
calendar readers as well:

- :class:`Rows` collects canonical rows for a batch: one row per person, per
  activity and per party, whatever order the source names them in.
- :func:`read_times` reads a column of times as a whole, so that numeric
  dates (``03/05/2024``) are read in one order for the whole column, never
  in a silent mix; a column that leaves the order open stops the import
  with a problem that asks for the ``date_order`` option.
- :func:`parse_duration` and :func:`duration_unit` read durations in the
  unit a header states (``Dauer (Std.)`` holds hours, ``1,5`` is 1.5).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Iterable

import duckdb

from ingest import csvread
from ingest.base import Batch, ImportProblem, Problem
from ingest.csvread import Table
from ingest.sources import Source
from rapport import people

DATE_ORDERS = ("day-first", "month-first")
DURATION_UNITS = ("seconds", "minutes", "hours", "milliseconds")
MINUTES_PER = {"seconds": 1 / 60, "minutes": 1.0, "hours": 60.0, "milliseconds": 1 / 60000}
EARLIEST_EPOCH = 631_152_000  # 1990-01-01 in Unix seconds

# ---------------------------------------------------------------------------
# Canonical rows


class Rows:
    """The canonical rows of one batch, each person, activity and party once."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.people: dict[str, dict] = {}
        self.activity_ids: set[str] = set()
        self.parties: set[tuple[str, str, str]] = set()

    def person(self, person_id: str, crm_kind: str, **values) -> str:
        """Add or complete one person; later non-empty values fill gaps only."""
        row = self.people.get(person_id)
        if row is None:
            row = {"person_id": person_id, "crm_kind": crm_kind, "name": None, "email": None}
            self.people[person_id] = row
        elif row["crm_kind"] == "address" and crm_kind != "address":
            row["crm_kind"] = crm_kind
        for key, value in values.items():
            if value not in (None, "") and row.get(key) in (None, ""):
                row[key] = value
        return person_id

    def address(self, text: str | None, name: str | None = None) -> str | None:
        """The address-only person of an e-mail address (``mailto:<address>``)."""
        email = people.normalize_email(text)
        if not email:
            return None
        return self.person("mailto:" + email, "address", email=email, name=name)

    def phone(self, text: str | None, name: str | None = None) -> str | None:
        """The address-only person of a phone number or a pseudonymous caller id."""
        number = phone_key(text)
        if not number:
            return None
        return self.person("tel:" + number, "address", name=name or (text or "").strip())

    def contact_point(self, text: str | None) -> str | None:
        """A person from an e-mail address (with or without a name), a phone
        number, or a bare name."""
        if not text or not text.strip():
            return None
        text = text.strip()
        email = people.normalize_email(text)
        if email:
            name = text.split("<", 1)[0].strip().strip("'\"") if "<" in text else None
            return self.address(email, name or None)
        if looks_like_phone(text):
            return self.phone(text)
        key = " ".join(text.lower().split())
        return self.person("name:" + key, "address", name=" ".join(text.split()))

    def activity(self, row: dict) -> bool:
        """Add an activity; False when the batch already holds one with its id."""
        if row["activity_id"] in self.activity_ids:
            return False
        self.activity_ids.add(row["activity_id"])
        self.batch.add("activities", row)
        return True

    def party(self, activity_id: str, person_id: str | None, role: str) -> None:
        if not person_id:
            return
        key = (activity_id, person_id, role)
        if key not in self.parties:
            self.parties.add(key)
            self.batch.add("activity_parties",
                           {"activity_id": activity_id, "person_id": person_id, "role": role})

    def finish(self) -> Batch:
        if self.people:
            self.batch.tables.setdefault("people", []).extend(self.people.values())
        return self.batch


def insert_bare_people(con: duckdb.DuckDBPyConnection, refs: dict[str, str]) -> None:
    """Add people a CRM export names only by id (an owner id with no user file),
    each as a bare record of its kind, unless a row for them exists already.

    Run from a batch's ``after_write``, after every file of the import is
    written, so a user or contact file in the same import always wins.
    """
    if not refs:
        return
    import pyarrow as pa

    ids = sorted(refs)
    con.register("_bare_people", pa.table({"person_id": ids,
                                           "crm_kind": [refs[i] for i in ids]}))
    try:
        con.execute("INSERT OR IGNORE INTO people (person_id, crm_kind, opted_out) "
                    "SELECT person_id, crm_kind, false FROM _bare_people")
    finally:
        con.unregister("_bare_people")


def phone_key(text: str | None) -> str | None:
    """A phone number as its digits (``+`` kept, ``00`` read as ``+``); other
    caller ids (a study's pseudonymous numbers) as written, lower-case."""
    if not text or not text.strip():
        return None
    text = text.strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
    if not looks_like_phone(text):
        return text.lower()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def looks_like_phone(text: str) -> bool:
    return re.fullmatch(r"\+?[\d\s().\-/]{3,}", text.strip()) is not None and \
        sum(ch.isdigit() for ch in text) >= 3


def stable_id(prefix: str, *parts) -> str:
    """An id from the given values, the same on every import of the same row."""
    key = "|".join("" if p is None else str(p) for p in parts)
    return f"{prefix}:{hashlib.sha1(key.encode('utf-8')).hexdigest()[:24]}"


def state_at(start: dt.datetime, end: dt.datetime | None, now: dt.datetime) -> str:
    """completed once it ended (or started, without an end), else scheduled."""
    return "completed" if (end or start) <= now else "scheduled"


# ---------------------------------------------------------------------------
# Times

_NUMERIC_DATE = re.compile(
    r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})"
    r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)
_YEAR_FIRST = re.compile(
    r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
ORDER_FIX = ("choose the date order: --date-order day-first or month-first on the "
             "command line, or the date order on the Upload page")


@dataclass
class TimeColumn:
    """The times of one column, read as a whole (see :func:`read_times`)."""

    values: dict[int, dt.datetime]  # row number -> naive UTC
    problems: list[Problem]
    order: str | None  # the date order used for numeric dates, when it mattered
    relative: bool = False  # seconds from a start date


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


def _clock(hour, minute, second, meridiem) -> tuple[int, int, int]:
    h = int(hour or 0)
    if meridiem:
        h = h % 12 + (12 if meridiem.lower() == "pm" else 0)
    return h, int(minute or 0), int(second or 0)


def _evidence(match: re.Match) -> str | None:
    """day-first or month-first when one numeric date decides it, else None."""
    if match.group(2) == ".":
        return "day-first"  # 31.01.2024: dotted dates are written day first
    first, second = int(match.group(1)), int(match.group(3))
    if first > 12 >= second:
        return "day-first"
    if second > 12 >= first:
        return "month-first"
    return None


def read_times(
    cells: Iterable[tuple[int, str]],
    *,
    file: str,
    column: str,
    zone: str = "UTC",
    order: str | None = None,
    start_date: dt.date | None = None,
    required: bool = True,
) -> TimeColumn:
    """Read a whole column of times.

    Accepted: ISO-8601; numeric dates ``d/m/yyyy``, ``m/d/yyyy``, ``d.m.yyyy``
    and ``yyyy/m/d`` with an optional time (``14:05``, ``2:05 PM``); Unix
    seconds or milliseconds; and, with *start_date*, seconds from that day.
    The order of numeric dates is decided once for the column: by *order*
    when given, else by the values (a first number above 12 means day first),
    and a column with no deciding value, or with values of both orders, is
    an :class:`ImportProblem` naming the rows.
    """
    cells = [(row, (text or "").strip()) for row, text in cells]
    tz = csvread.zone_info(zone)
    problems: list[Problem] = []
    values: dict[int, dt.datetime] = {}
    numeric = [(row, _NUMERIC_DATE.match(text)) for row, text in cells]
    numeric = [(row, m) for row, m in numeric if m]
    decided = _decide_order(numeric, file, column, order)
    if start_date is None:
        _check_not_relative(cells, file, column)

    def local(moment: dt.datetime) -> dt.datetime:
        return moment.replace(tzinfo=tz).astimezone(dt.timezone.utc).replace(tzinfo=None)

    relative = False
    for row, text in cells:
        if not text:
            if required:
                problems.append(Problem(file, row, column, "no time is given",
                                        "fill in the time, or leave the row out"))
            continue
        try:
            match = _NUMERIC_DATE.match(text)
            if match:
                a, b = int(match.group(1)), int(match.group(3))
                day, month = (a, b) if (match.group(2) == "." or decided == "day-first") \
                    else (b, a)
                h, m, s = _clock(*match.group(5, 6, 7, 8))
                values[row] = local(dt.datetime(_year(match.group(4)), month, day, h, m, s))
                continue
            match = _YEAR_FIRST.match(text)
            if match:
                y, mo, d = (int(g) for g in match.group(1, 2, 3))
                h, m, s = _clock(*match.group(4, 5, 6), None)
                values[row] = local(dt.datetime(y, mo, d, h, m, s))
                continue
            if _NUMBER.match(text):
                values[row], relative = _from_number(text, start_date, tz)
                continue
            values[row] = csvread.parse_time(text, zone)
        except ValueError as exc:
            reason = str(exc)
            if "is not" not in reason and "outside" not in reason:
                reason = f"{text!r} is not a valid date ({reason})"
            problems.append(Problem(file, row, column, reason, csvread.TIME_FIX))
    return TimeColumn(values, problems, decided if numeric else None, relative)


def _check_not_relative(cells: list[tuple[int, str]], file: str, column: str) -> None:
    """Stop at once when a column counts seconds from a start no one gave."""
    for row, text in cells:
        if _NUMBER.match(text) and float(text) < EARLIEST_EPOCH:
            raise ImportProblem([Problem(
                file, row, column,
                f"the times are numbers such as {text}: seconds from the start of a "
                "recording, not dates",
                "give the day the times count from: --start-date YYYY-MM-DD on the "
                "command line, or the start date on the Upload page")])


def _from_number(text: str, start_date: dt.date | None, tz) -> tuple[dt.datetime, bool]:
    number = float(text)
    if start_date is not None:
        start = dt.datetime.combine(start_date, dt.time(0)).replace(tzinfo=tz)
        moment = start + dt.timedelta(seconds=number)
        return moment.astimezone(dt.timezone.utc).replace(tzinfo=None), True
    if number >= EARLIEST_EPOCH * 1000:
        number /= 1000  # milliseconds
    if number >= EARLIEST_EPOCH:
        if number > 7_258_118_400:  # 2200
            raise ValueError(f"{text!r} is too large to be a Unix time")
        return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=number), False
    raise ValueError(f"{text!r} looks like seconds from the start of a recording, "
                     "not a date")


def _decide_order(numeric, file: str, column: str, order: str | None) -> str | None:
    if not numeric:
        return order
    if order is not None and order not in DATE_ORDERS:
        raise ValueError(f"date order {order!r}: use day-first or month-first")
    ambiguous = [(row, m) for row, m in numeric if m.group(2) != "."]
    votes: dict[str, list[tuple[int, str]]] = {"day-first": [], "month-first": []}
    for row, match in ambiguous:
        said = _evidence(match)
        if said:
            votes[said].append((row, match.group(0)))
    if votes["day-first"] and votes["month-first"]:
        d_row, d_text = votes["day-first"][0]
        m_row, m_text = votes["month-first"][0]
        raise ImportProblem([Problem(
            file, None, column,
            f"the column mixes day-first dates (row {d_row}: {d_text}) and month-first "
            f"dates (row {m_row}: {m_text}), so no single order reads them all",
            "correct the dates in the file so that they share one order, then import again")])
    found = "day-first" if votes["day-first"] else "month-first" if votes["month-first"] \
        else None
    if order is not None:
        if found and found != order:
            row, text = votes[found][0]
            raise ImportProblem([Problem(
                file, row, column,
                f"the date order {order} was chosen, but {text} can only be {found}",
                f"choose {found}, or correct the dates in the file")])
        return order
    if found or not ambiguous:
        return found
    examples = ", ".join(m.group(0) for _, m in ambiguous[:3])
    raise ImportProblem([Problem(
        file, ambiguous[0][0], column,
        f"every date in the column ({examples}, ...) reads both as day/month and as "
        "month/day, so the order cannot be told from the file", ORDER_FIX)])


# ---------------------------------------------------------------------------
# Durations

_UNIT_WORDS = (
    ("milliseconds", r"\bms\b|millisec|millisekunden|_ms$"),
    ("hours", r"\bh\b|\bhrs?\b|hour|\bstd\b|stunde|heure|\(h\)"),
    ("minutes", r"\bmins?\b|minute|\(m\)|_min$"),
    ("seconds", r"\bs\b|\bsecs?\b|second|sekunde|\(s\)|_s$|_sec$"),
)


def duration_unit(header: str) -> str | None:
    """The unit a column header states for a duration, or None when it states none."""
    text = header.lower().replace(".", " ")
    for unit, pattern in _UNIT_WORDS:
        if re.search(pattern, text):
            return unit
    return None


def parse_duration(text: str | None, unit: str) -> float | None:
    """Minutes from a duration cell: ``90``, ``1,5`` (decimal comma), ``1:30:00``."""
    if text is None or not text.strip():
        return None
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    clock = re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", value)
    if clock:
        a, b, c = clock.groups()
        if c is None:  # m:ss for seconds-like units, h:mm otherwise
            seconds = int(a) * 60 + int(b) if unit in ("seconds", "milliseconds") \
                else int(a) * 3600 + int(b) * 60
        else:
            seconds = int(a) * 3600 + int(b) * 60 + int(c)
        return seconds / 60
    if "," in value and "." in value:
        value = value.replace(",", "") if value.rfind(".") > value.rfind(",") \
            else value.replace(".", "").replace(",", ".")
    elif "," in value:
        value = value.replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a duration") from None
    if number < 0:
        raise ValueError(f"{text.strip()!r} is a negative duration")
    return number * MINUTES_PER[unit]


# ---------------------------------------------------------------------------
# Reading values

TYPE_WORDS = (
    ("email", ("mail", "e-mail", "email", "courriel")),
    ("meeting", ("meeting", "appointment", "event", "termin", "besprechung", "réunion",
                 "reunion", "rendez")),
    ("call", ("call", "phone", "anruf", "telefon", "appel", "llamada")),
    ("task", ("task", "aufgabe", "tâche", "tache", "to-do", "todo")),
)
DIRECTION_WORDS = {
    "outgoing": ("out", "outgoing", "outbound", "sent", "ausgehend", "sortant", "1"),
    "incoming": ("in", "incoming", "inbound", "received", "eingehend", "entrant", "0"),
    "internal": ("internal", "intern", "interne"),
}


def activity_type(text: str | None) -> str | None:
    if not text:
        return None
    lowered = text.strip().lower()
    for kind, words in TYPE_WORDS:
        if any(word in lowered for word in words):
            return kind
    return None


def direction_of(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    lowered = text.strip().lower()
    for direction, words in DIRECTION_WORDS.items():
        if lowered in words:
            return direction
    return "invalid"


def split_addresses(text: str | None) -> list[str]:
    """Recipients of one cell: separated by ; or , (a comma inside "" or <> stays)."""
    if not text or not text.strip():
        return []
    parts, current, depth, quoted = [], [], 0, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(depth - 1, 0)
        if ch in ";," and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    cleaned = [p.strip() for p in parts if p.strip()]
    # "Müller, Jürgen" (a name with a comma and no address) stays one person.
    if "," in text and ";" not in text and not any("@" in p for p in cleaned):
        return [text.strip()]
    return cleaned


def trailing_summary(table: Table) -> set[int]:
    """Row numbers of summary lines after the last blank line at the end of a file.

    Report exports end with totals ("Summe;;;;4,5") after a blank line. Those
    rows are not activities; they are recognised by the gap in row numbers.
    """
    rows = table.rows
    if len(rows) < 2:
        return set()
    for i in range(len(rows) - 1, 0, -1):
        if rows[i].number - rows[i - 1].number > 1:
            tail = rows[i:]
            if len(tail) <= 5 and len(tail) < len(rows) / 2:
                return {r.number for r in tail}
            return set()
    return set()


# ---------------------------------------------------------------------------
# Named mappings

FIELDS = ("type", "time", "direction", "from", "to", "duration", "subject", "regarding")
REQUIRED = ("time",)
FIELD_HELP = {
    "type": "e-mail, meeting, call or task (or one type for every row)",
    "time": "when it happened or is planned",
    "direction": "outgoing (we started it), incoming or internal",
    "from": "sender, caller or organizer: e-mail address, phone number or name",
    "to": "recipients, callee or attendees; several separated by ;",
    "duration": "length, in the unit chosen below",
    "subject": "subject or title",
    "regarding": "the CRM record it is about (an account, contact, lead or opportunity id)",
}
REGARDING_TYPES = ("account", "contact", "lead", "opportunity")
_GUESSES = {
    "type": ("type", "typ", "activity type", "kind", "art", "activitytype", "channel"),
    "time": ("time", "date", "datum", "start", "start time", "timestamp", "when",
             "created", "zeit", "date/time", "datetime", "startzeit"),
    "direction": ("direction", "richtung", "in/out", "sens"),
    "from": ("from", "von", "sender", "caller", "organizer", "owner", "absender",
             "de", "user"),
    "to": ("to", "an", "recipient", "recipients", "callee", "attendees", "empfänger",
           "contact", "kontakt", "à"),
    "duration": ("duration", "dauer", "length", "durée", "minutes", "seconds", "hours"),
    "subject": ("subject", "betreff", "title", "titel", "objet", "description", "notes"),
    "regarding": ("regarding", "account", "account id", "contact id", "kunde",
                  "customer", "company", "firma", "related to", "bezug"),
}


@dataclass
class Mapping:
    """Which column of an unknown table holds which canonical field."""

    name: str
    columns: dict[str, str] = field(default_factory=dict)  # field -> column
    activity_type: str | None = None  # the type of every row when no column says it
    duration_unit: str = "minutes"
    date_order: str | None = None
    regarding_type: str = "account"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Mapping":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def check(self, columns: list[str]) -> list[str]:
        """What is wrong with this mapping for a table with *columns*; [] when usable."""
        errors = []
        mapped = {f: csvread.normalize_column(c) for f, c in self.columns.items() if c}
        for name in mapped:
            if name not in FIELDS:
                errors.append(f"{name!r} is not a field; fields are {', '.join(FIELDS)}")
        for name in REQUIRED:
            if name not in mapped:
                errors.append(f"choose the column that holds the {name}")
        if "type" not in mapped and self.activity_type not in ("email", "meeting", "call",
                                                               "task"):
            errors.append("choose the column that holds the type, or one type for every row")
        for name, column in mapped.items():
            if column not in columns:
                errors.append(f"the {name} column {column!r} is not in the file "
                              f"(its columns: {', '.join(columns)})")
        if self.duration_unit not in DURATION_UNITS:
            errors.append(f"duration unit {self.duration_unit!r}: use one of "
                          f"{', '.join(DURATION_UNITS)}")
        if self.date_order not in (None, *DATE_ORDERS):
            errors.append(f"date order {self.date_order!r}: use day-first or month-first")
        if self.regarding_type not in REGARDING_TYPES:
            errors.append(f"regarding type {self.regarding_type!r}: use one of "
                          f"{', '.join(REGARDING_TYPES)}")
        return errors


def guess_mapping(columns: list[str], name: str = "") -> Mapping:
    """A first mapping for *columns* by their names, for the user to correct."""
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for fld in FIELDS:
        for column in columns:
            if column in used:
                continue
            bare = re.sub(r"\s*[\(\[].*?[\)\]]\s*", " ", column).strip()
            if bare in _GUESSES[fld] or column in _GUESSES[fld]:
                chosen[fld] = column
                used.add(column)
                break
    mapping = Mapping(name=name, columns=chosen)
    if "duration" in chosen:
        mapping.duration_unit = duration_unit(chosen["duration"]) or "minutes"
    return mapping


def save_mapping(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    if not mapping.name.strip():
        raise ValueError("give the mapping a name, e.g. 'Our CRM activity report'")
    con.execute("INSERT OR REPLACE INTO mappings VALUES (?, ?)",
                [mapping.name.strip(), mapping.to_json()])


def load_mappings(con: duckdb.DuckDBPyConnection) -> dict[str, Mapping]:
    """Every saved mapping by name (none in a database made before mappings were kept)."""
    try:
        rows = con.execute("SELECT name, mapping FROM mappings ORDER BY name").fetchall()
    except duckdb.CatalogException:
        return {}
    return {name: Mapping.from_json(value) for name, value in rows}


def delete_mapping(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute("DELETE FROM mappings WHERE name = ?", [name])


def matching_mappings(con: duckdb.DuckDBPyConnection, columns: list[str]) -> list[str]:
    """Names of the saved mappings whose columns are all in *columns*."""
    return [name for name, mapping in load_mappings(con).items()
            if not mapping.check(columns)]


# ---------------------------------------------------------------------------
# Reading a table through a mapping

PARTY_ROLES = {"email": ("sender", "to"), "call": ("caller", "callee"),
               "meeting": ("organizer", "required"), "task": ("owner", "customer")}


def read_mapped(source: Source, mapping: Mapping, options) -> Batch:
    """The rows of *source* read through *mapping*; ImportProblem when it does not fit."""
    table = csvread.load_table(source)
    errors = mapping.check(table.columns)
    if errors:
        raise ImportProblem([Problem(source.name, None, None, error,
                                     "correct the column mapping") for error in errors])
    batch = Batch(file=source.name, layout=f"mapped: {mapping.name or 'unnamed'}")
    batch.problems.extend(table.problems)
    summary = trailing_summary(table)
    rows = [row for row in table.rows if row.number not in summary]
    batch.rows_read = len(rows)
    col = {f: csvread.normalize_column(c) for f, c in mapping.columns.items() if c}
    times = read_times(((r.number, r.get(col["time"])) for r in rows), file=source.name,
                       column=col["time"], zone=options.zone,
                       order=mapping.date_order or options.date_order,
                       start_date=options.start_date)
    bad = {p.row for p in times.problems}
    batch.problems.extend(times.problems)
    out = Rows(batch)
    for row in rows:
        if row.number in bad:
            continue
        problems = _mapped_row(out, row, col, mapping, times.values[row.number], options,
                               source.name)
        batch.problems.extend(problems)
    return out.finish()


def mail_activity_id(message_id, sender, start_at, subject) -> str:
    """The canonical id of an e-mail (see ingest.mailbox.mail_activity_id)."""
    from ingest.mailbox import mail_activity_id as canonical_id

    return canonical_id(message_id, sender, start_at, subject)


def _mapped_row(out: Rows, row, col: dict, mapping: Mapping, start: dt.datetime,
                options, file: str) -> list[Problem]:
    def cell(name):
        return row.get(col[name]).strip() if name in col else ""

    problems = []
    kind = activity_type(cell("type")) if "type" in col else mapping.activity_type
    if kind is None:
        problems.append(Problem(file, row.number, col.get("type"),
                                f"{cell('type')!r} is not a type Rapport knows",
                                "write e-mail, meeting, call or task (other languages: "
                                "Anruf, Termin, Aufgabe, ...)"))
    direction = direction_of(cell("direction"))
    if direction == "invalid":
        problems.append(Problem(file, row.number, col["direction"],
                                f"{cell('direction')!r} is not a direction",
                                "write outgoing, incoming or internal"))
    minutes = None
    try:
        minutes = parse_duration(cell("duration"), mapping.duration_unit)
    except ValueError as exc:
        problems.append(Problem(file, row.number, col.get("duration"), str(exc),
                                f"write a number of {mapping.duration_unit}, such as 1,5 "
                                "or 90, or a time such as 1:30"))
    if problems:
        return problems
    subject = cell("subject") or None
    sender = out.contact_point(cell("from"))
    recipients = [out.contact_point(text) for text in split_addresses(cell("to"))]
    if kind == "email":
        sender_email = out.people[sender]["email"] if sender else None
        activity_id = mail_activity_id(None, sender_email or cell("from"), start, subject)
    else:
        activity_id = stable_id("map", kind, start.isoformat(), cell("from"), cell("to"),
                                subject)
    end = start + dt.timedelta(minutes=minutes) if minutes else None
    regarding = cell("regarding") or None
    added = out.activity({
        "activity_id": activity_id, "type": kind, "subject": subject,
        "start_at": start, "end_at": end if kind != "email" else start,
        "duration_minutes": minutes, "state": state_at(start, end, options.now),
        "direction": None if direction == "invalid" else direction,
        "initiator_id": sender,
        "regarding_type": mapping.regarding_type if regarding else None,
        "regarding_id": regarding,
    })
    if added:
        first, other = PARTY_ROLES[kind]
        out.party(activity_id, sender, first)
        for person in recipients:
            out.party(activity_id, person, other)
    return []
