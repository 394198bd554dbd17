"""Calendars: iCalendar ``.ics`` files from Outlook, Google, Apple and others.

Each VEVENT is a meeting: UID, ORGANIZER (the initiator), ATTENDEE (with
ROLE, CUTYPE and PARTSTAT), DTSTART, DTEND or DURATION, SUMMARY, STATUS,
times in any TZID (with or without its VTIMEZONE, Windows zone names too, and
Google's X-WR-TIMEZONE for floating times). Floating times with no zone at
all are read in the import's zone.

Recurring meetings (RRULE, RDATE) are expanded from their first occurrence to
one year after the import, never further; EXDATEs are left out and a
RECURRENCE-ID override replaces its occurrence. A series that repeats more
than ``MAX_PER_SERIES`` times in that range is an invalid row (a meeting that
repeats every few minutes is no meeting). Cancelled events and cancelled
occurrences are not meetings and are not stored; neither are attendees who
declined, rooms and resources, or non-participants.

Ids: ``ics:<UID>`` for a single event, ``ics:<UID>/<occurrence start in UTC>``
for an occurrence of a series, so the same invitation exported from two
people's calendars is one meeting. All-day events are stored at 12:00 UTC of
their first day, without a duration.
"""

from __future__ import annotations

import datetime as dt
import logging

from ingest.base import Batch, Problem, file_error
from ingest.layouts import Layout, ReadOptions
from ingest.mapping import Rows, stable_id, state_at
from ingest.sources import Source

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024**2
MAX_PER_SERIES = 5000
MAX_OCCURRENCES = 200_000
HORIZON = dt.timedelta(days=365)
EARLIEST = dt.datetime(1990, 1, 1)
ALL_DAY_HOUR = 12
SKIPPED_CUTYPES = {"room", "resource"}
FIX_EVENT = "correct the event in the calendar program and export again, or leave it out"


def _looks_like_calendar(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().upper()
    return text.startswith((b"BEGIN:VCALENDAR", b"BEGIN:VEVENT"))


def sniff(source: Source) -> bool:
    return not source.path.is_dir() and _looks_like_calendar(source.head(512))


def _calendars(data: bytes, file: str):
    import icalendar

    text = data.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.upper().startswith(b"BEGIN:VEVENT"):
        text = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + text.rstrip() + b"\r\nEND:VCALENDAR\r\n"
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # noqa: BLE001 - the parser raises many kinds
        raise file_error(file, f"the calendar cannot be read ({exc})",
                         "export the calendar again as an .ics file") from None
    if not calendars:
        raise file_error(file, "the file holds no calendar", "export the calendar again")
    return calendars


def _standard(calendar):
    """The calendar with Google's X-WR-TIMEZONE applied to its floating times."""
    import x_wr_timezone

    try:
        return x_wr_timezone.to_standard(calendar)
    except Exception:  # noqa: BLE001 - a calendar it cannot convert is used as it is
        return calendar


def _utc(value, zone) -> tuple[dt.datetime, bool]:
    """(naive UTC datetime, all-day) of a DTSTART/DTEND value."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None), False
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(ALL_DAY_HOUR)), True
    raise ValueError(f"{value!r} is not a date or time")


def _address(value) -> str | None:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    from rapport import people

    return people.normalize_email(text)


def _prop(component, name: str):
    """A property of *component*; the first when a broken file repeats it."""
    value = component.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _param(prop, name: str) -> str:
    params = getattr(prop, "params", {}) or {}
    value = params.get(name, "")
    return str(value).strip()


class _Reader:
    def __init__(self, source: Source, options: ReadOptions):
        from zoneinfo import ZoneInfo

        self.source = source
        self.options = options
        self.zone = ZoneInfo(options.zone)
        self.out = Rows(Batch(source.name, "icalendar"))
        self.horizon = options.now + HORIZON
        self.total = 0

    def problem(self, row: str, column: str | None, reason: str, fix: str = FIX_EVENT):
        self.out.batch.problems.append(Problem(self.source.name, row, column, reason, fix))

    # -- one calendar --------------------------------------------------------
    def calendar(self, calendar) -> None:
        calendar = _standard(calendar)
        method = str(calendar.get("METHOD", "")).upper()
        series: dict[str, list] = {}
        singles = []
        for number, event in enumerate(calendar.walk("VEVENT"), start=1):
            self.out.batch.rows_read += 1
            uid = str(event.get("UID", "")).strip()
            if event.get("RRULE") or event.get("RDATE") or event.get("RECURRENCE-ID"):
                if not uid:  # a series with no UID gets one from its start and summary
                    uid = stable_id("series", str(event.get("DTSTART", "")),
                                    str(event.get("SUMMARY", "")))
                    event["UID"] = uid
                series.setdefault(uid, []).append(event)
            else:
                singles.append((number, event))
        if method == "CANCEL":
            return  # a cancellation notice: the meetings it names did not take place
        for number, event in singles:
            self.single(number, event)
        for uid, events in series.items():
            self.series(calendar, uid, events)

    def _label(self, number, event) -> str:
        uid = str(event.get("UID", "")).strip()
        return f"event {number}" + (f" (UID {uid})" if uid else "")

    def single(self, number: int, event) -> None:
        label = self._label(number, event)
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            return
        times = self._times(event, label)
        if times is None:
            return
        start, end, all_day = times
        uid = str(event.get("UID", "")).strip()
        activity_id = f"ics:{uid}" if uid else stable_id(
            "ics", start.isoformat(), str(event.get("SUMMARY", "")),
            _address(event.get("ORGANIZER")))
        self.meeting(activity_id, event, start, end, all_day)

    def series(self, calendar, uid: str, events: list) -> None:
        import icalendar
        import recurring_ical_events

        label = f"the recurring event UID {uid}"
        masters = [e for e in events if not e.get("RECURRENCE-ID")]
        if masters and str(masters[0].get("STATUS", "")).upper() == "CANCELLED":
            return
        part = icalendar.Calendar()
        for timezone in calendar.walk("VTIMEZONE"):
            part.add_component(timezone)
        for event in events:
            part.add_component(event)
        first = None
        for event in masters or events:
            times = self._times(event, label)
            if times is None:
                return
            first = times[0] if first is None else min(first, times[0])
        try:
            occurrences = recurring_ical_events.of(part).after(first - dt.timedelta(days=1))
            count = 0
            for occurrence in occurrences:
                times = self._times(occurrence, label)
                if times is None:
                    return
                start, end, all_day = times
                if start > self.horizon:
                    break
                count += 1
                self.total += 1
                if count > MAX_PER_SERIES or self.total > MAX_OCCURRENCES:
                    self._drop_series(uid)
                    self.problem(label, "RRULE",
                                 f"the series repeats more than {MAX_PER_SERIES:,} times "
                                 "before a year after the import, so it is not a meeting",
                                 "leave the series out, or give its RRULE an end (UNTIL "
                                 "or COUNT) in the calendar program")
                    return
                if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
                    continue
                recurrence = self._recurrence_id(occurrence, start).strftime("%Y%m%dT%H%M%SZ")
                self.meeting(f"ics:{uid}/{recurrence}", occurrence, start, end, all_day)
        except Exception as exc:  # noqa: BLE001 - a broken rule stops only its series
            self._drop_series(uid)
            self.problem(label, "RRULE", f"the recurrence cannot be expanded ({exc})")

    def _recurrence_id(self, occurrence, start: dt.datetime) -> dt.datetime:
        """The occurrence's original start (its RECURRENCE-ID) in UTC, so a moved
        occurrence keeps the id it had before it moved."""
        prop = _prop(occurrence, "RECURRENCE-ID")
        try:
            return _utc(prop.dt, self.zone)[0] if prop is not None else start
        except (AttributeError, ValueError):
            return start

    def _drop_series(self, uid: str) -> None:
        prefix = f"ics:{uid}/"
        batch = self.out.batch
        batch.tables["activities"] = [a for a in batch.tables.get("activities", [])
                                      if not a["activity_id"].startswith(prefix)]
        batch.tables["activity_parties"] = [
            p for p in batch.tables.get("activity_parties", [])
            if not p["activity_id"].startswith(prefix)]
        self.out.activity_ids = {i for i in self.out.activity_ids if not i.startswith(prefix)}

    def _times(self, event, label: str):
        """(start, end, all_day) in UTC, or None after noting the problem."""
        try:
            prop = _prop(event, "DTSTART")
            if prop is None:
                self.problem(label, "DTSTART", "the event has no start (DTSTART)")
                return None
            start, all_day = _utc(prop.dt, self.zone)
        except Exception as exc:  # noqa: BLE001 - broken properties raise on access
            self.problem(label, "DTSTART", f"the start is not a date or time ({exc})")
            return None
        if start < EARLIEST:
            self.problem(label, "DTSTART", f"the start {start:%Y-%m-%d} is before 1990, "
                         "a placeholder rather than a meeting")
            return None
        end = None
        try:
            if _prop(event, "DTEND") is not None:
                end, _ = _utc(_prop(event, "DTEND").dt, self.zone)
            elif _prop(event, "DURATION") is not None:
                length = _prop(event, "DURATION").dt
                if not isinstance(length, dt.timedelta):
                    raise ValueError(f"{length!r} is not a duration")
                end = start + length
        except (OverflowError, ValueError, TypeError, AttributeError) as exc:
            self.problem(label, "DTEND", f"the end or duration is not usable ({exc})")
            return None
        if all_day:
            end = None
        elif end is not None and end < start:
            self.problem(label, "DTEND", "the event ends before it starts")
            return None
        return start, end, all_day

    def meeting(self, activity_id: str, event, start, end, all_day: bool) -> None:
        organizer_prop = _prop(event, "ORGANIZER")
        organizer = None
        if organizer_prop is not None:
            organizer = self.out.address(_address(organizer_prop),
                                         _param(organizer_prop, "CN") or None)
        minutes = (end - start).total_seconds() / 60 if end is not None else None
        summary = str(event.get("SUMMARY", "")).strip() or None
        added = self.out.activity({
            "activity_id": activity_id, "type": "meeting", "subject": summary,
            "start_at": start, "end_at": end, "duration_minutes": minutes,
            "state": state_at(start, end, self.options.now), "initiator_id": organizer,
        })
        if not added:
            return
        self.out.party(activity_id, organizer, "organizer")
        attendees = event.get("ATTENDEE") or []
        if not isinstance(attendees, list):
            attendees = [attendees]
        for attendee in attendees:
            role = self._role(attendee)
            person = self.out.address(_address(attendee), _param(attendee, "CN") or None)
            if role and person and person != organizer:
                self.out.party(activity_id, person, role)

    @staticmethod
    def _role(attendee) -> str | None:
        if _param(attendee, "PARTSTAT").upper() == "DECLINED":
            return None
        if _param(attendee, "CUTYPE").lower() in SKIPPED_CUTYPES:
            return None
        role = _param(attendee, "ROLE").upper()
        if role == "NON-PARTICIPANT":
            return None
        return "optional" if role == "OPT-PARTICIPANT" else "required"


def read(source: Source, options: ReadOptions) -> Batch:
    with source.open() as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise file_error(source.name, f"the calendar is larger than {MAX_BYTES // 1024**2} MB",
                         "export a shorter period of the calendar")
    reader = _Reader(source, options)
    for calendar in _calendars(data, source.name):
        reader.calendar(calendar)
    if reader.out.batch.rows_read == 0:
        raise file_error(source.name, "the calendar holds no events (VEVENT)",
                         "export a calendar that holds meetings")
    log.debug("%s: %d meetings", source.name, len(reader.out.activity_ids))
    return reader.out.finish()


LAYOUTS = [Layout("icalendar", "an iCalendar .ics file (Outlook, Google, Apple calendars)",
                  sniff, read)]

__all__ = ["LAYOUTS"]
