"""Call logs as CSV (or an .xlsx sheet): who called whom, when, for how long.

Recognised by its header: a caller column (caller, from, calling number,
source), a callee column (callee, to, called number, destination), a start
column (start, start time, timestamp, time, date) and a duration column.
The duration's unit is read from its header: ``duration_s`` or ``Duration
(seconds)`` hold seconds, ``Duration (min)`` minutes, ``Dauer (Std.)`` hours;
a bare ``duration`` holds seconds, as telephone systems write it. A
``direction`` column (outgoing / incoming / internal) and a ``status`` column
(answered, missed, busy, ...) are read when present.

Each row becomes one call: the caller and callee are parties (an e-mail
address becomes ``mailto:<address>``, a phone number or other caller id
``tel:<number>``) and the caller is its initiator. A negative duration (the
Copenhagen study writes -1) or a missed status is a call that did not
connect: it is stored as ``failed`` and counts nowhere.

Start times may be ISO-8601, numeric dates (read in one order for the whole
column), Unix time, or seconds from the start of a study, given with the
``start_date`` option (``--start-date`` on the command line).
"""

from __future__ import annotations

import datetime as dt
import logging

from ingest import csvread
from ingest.base import Batch, ImportProblem, Problem
from ingest.layouts import Layout, ReadOptions
from ingest.mapping import (Rows, direction_of, duration_unit, parse_duration, read_times,
                            stable_id, state_at)
from ingest.sources import Source
from ingest.csvread import header_of, load_table as table_of

log = logging.getLogger(__name__)

CALLER = ("caller", "from", "calling number", "caller number", "caller id", "source",
          "from number", "calling party", "calling_number", "caller_id", "anrufer", "a-number")
CALLEE = ("callee", "to", "called number", "callee number", "destination", "to number",
          "called party", "called_number", "dialed number", "angerufener", "b-number")
START = ("start", "start time", "start_time", "starttime", "started at", "started_at",
         "start_at", "call start", "timestamp", "time", "date", "datetime", "date/time",
         "beginn", "begin")
DIRECTION = ("direction", "call direction", "call_direction", "richtung")
STATUS = ("status", "call status", "disposition", "result", "outcome")
CALL_ID = ("call id", "call_id", "callid", "id", "uniqueid", "unique id")
MISSED = ("missed", "no answer", "noanswer", "no_answer", "unanswered", "busy", "failed",
          "cancelled", "canceled", "rejected", "declined", "voicemail")


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in columns:
            return name
    return None


def _duration_column(columns: list[str]) -> str | None:
    for column in columns:
        if any(word in column for word in ("duration", "dauer", "durée", "length",
                                           "talk time", "billsec")):
            return column
    return None


def _columns(header: list[str] | None) -> dict[str, str] | None:
    """The columns a call log needs, or None when *header* is not a call log."""
    if not header:
        return None
    found = {"caller": _pick(header, CALLER), "callee": _pick(header, CALLEE),
             "start": _pick(header, START), "duration": _duration_column(header)}
    if not all(found.values()):
        return None
    for key, names in (("direction", DIRECTION), ("status", STATUS), ("id", CALL_ID)):
        column = _pick(header, names)
        if column:
            found[key] = column
    return found


def sniff(source: Source) -> bool:
    return _columns(header_of(source)) is not None


def read(source: Source, options: ReadOptions) -> Batch:
    table = table_of(source)
    cols = _columns(table.columns)
    if cols is None:
        raise ImportProblem([Problem(source.name, 1, None,
                                     "the header has no caller, callee, start and duration "
                                     "columns", "see docs/formats-other.md for call logs")])
    unit = duration_unit(cols["duration"]) or "seconds"
    batch = Batch(file=source.name, layout="call log")
    batch.problems.extend(table.problems)
    batch.rows_read = len(table.rows)
    times = read_times(((r.number, r.get(cols["start"])) for r in table.rows),
                       file=source.name, column=cols["start"], zone=options.zone,
                       order=options.date_order, start_date=options.start_date)
    batch.problems.extend(times.problems)
    out = Rows(batch)
    for row in table.rows:
        start = times.values.get(row.number)
        if start is not None:
            _add_call(out, row, cols, unit, start, options, source.name)
        if options.progress and row.number % 5000 == 0:
            options.progress(row.number / max(len(table.rows), 1),
                             f"Reading {source.name}: {row.number} rows")
    log.debug("%s: %d calls, %d problems", source.name, batch.count("activities"),
              len(batch.problems))
    return out.finish()


def _add_call(out: Rows, row: csvread.Row, cols: dict[str, str], unit: str,
              start: dt.datetime, options: ReadOptions, file: str) -> None:
    problems = out.batch.problems
    caller_text, callee_text = row.get(cols["caller"]).strip(), row.get(cols["callee"]).strip()
    if not caller_text or not callee_text:
        column = cols["caller"] if not caller_text else cols["callee"]
        problems.append(Problem(file, row.number, column, "the cell is empty",
                                "give the phone number or e-mail address of both sides"))
        return
    raw = row.get(cols["duration"]).strip()
    missed = False
    try:
        if raw.startswith("-"):
            minutes, missed = None, True
        else:
            minutes = parse_duration(raw, unit)
    except ValueError as exc:
        problems.append(Problem(file, row.number, cols["duration"], str(exc),
                                f"write the length in {unit}, or as h:mm:ss"))
        return
    direction = direction_of(row.get(cols["direction"])) if "direction" in cols else None
    if direction == "invalid":
        problems.append(Problem(file, row.number, cols["direction"],
                                f"{row.get(cols['direction'])!r} is not a direction",
                                "write outgoing, incoming or internal"))
        return
    status = row.get(cols["status"]).strip().lower() if "status" in cols else ""
    missed = missed or any(word in status for word in MISSED)
    caller = out.contact_point(caller_text)
    callee = out.contact_point(callee_text)
    call_id = row.get(cols["id"]).strip() if "id" in cols else ""
    activity_id = f"call:{call_id}" if call_id else \
        stable_id("call", caller, callee, start.isoformat())
    end = start + dt.timedelta(minutes=minutes) if minutes is not None else None
    added = out.activity({
        "activity_id": activity_id, "type": "call", "subject": None,
        "start_at": start, "end_at": end, "duration_minutes": minutes,
        "state": "failed" if missed else state_at(start, end, options.now),
        "direction": direction, "initiator_id": caller,
    })
    if added:
        out.party(activity_id, caller, "caller")
        out.party(activity_id, callee, "callee")


LAYOUTS = [
    Layout("call log", "a call log: caller, callee, start and duration per call (CSV or .xlsx)",
           sniff, read),
]
