"""HubSpot CRM exports with the API property names as headers.

Calls, e-mails and meetings, each with association columns to contacts,
companies and deals (``Associated Contact IDs``, ``associations.contacts``,
``contact_ids``, ...: several ids in one cell, separated by ``;`` or ``,``).
Exports of contacts, companies and deals are read too, so the associated ids
get names, addresses and accounts. Exports that use display labels instead
of property names go through the column-mapping step.

- Calls: ``hs_call_direction`` OUTBOUND is initiated by us (the owner calls
  the associated contacts), INBOUND by them; ``hs_call_duration`` is in
  milliseconds; ``hs_call_status`` COMPLETED counts, BUSY, NO_ANSWER and
  FAILED are failed calls, CANCELED is canceled, QUEUED, RINGING,
  IN_PROGRESS and CALLING_CRM_USER are pending. A call with no status is
  completed once its time has passed (a call logged by hand).
- E-mails: ``hs_email_direction`` EMAIL is sent by us, INCOMING_EMAIL received;
  a FORWARDED_EMAIL takes its side from its sender's address.
  ``hs_email_status`` BOUNCED and FAILED are failed, SCHEDULED and SENDING
  pending, SENT (or none) completed. The sender and recipients come from
  ``hs_email_from_email``, ``hs_email_to_email``, ``hs_email_cc_email``,
  ``hs_email_bcc_email``; the id is the canonical e-mail id, so the same
  message from a mailbox import is one activity.
- Meetings: ``hs_meeting_outcome`` COMPLETED counts, SCHEDULED is upcoming,
  CANCELED, NO_SHOW and RESCHEDULED count nowhere; with no outcome the
  meeting is completed once it has ended. The owner organises it; the
  associated contacts and ``hs_attendee_owner_ids`` attend.

Ids are stored with the object's name, so they never collide with another
CRM's: ``hubspot:contact:51``, ``hubspot:company:7``, ``hubspot:deal:3``,
``hubspot:owner:12``. A time is ISO-8601 or Unix milliseconds.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Callable

from ingest import csvread
from ingest.base import Batch, Problem, file_error
from ingest.csvread import Cells, Row
from ingest.layouts import Layout, ReadOptions
from ingest.mapping import (Rows, insert_bare_people, mail_activity_id, split_addresses,
                            state_at)
from ingest.sources import Source
from rapport import people

SOURCE = "hubspot"
ID_COLUMNS = ("hs_object_id", "record id", "id")
_ASSOCIATION = re.compile(
    r"^(?:associat\w*[ ._]*(?P<a>contact|compan|deal)\w*(?:[ ._]*ids?)?"
    r"|(?P<b>contact|compan|deal)\w*?[ ._]ids?)$")
_MILLIS = re.compile(r"^\d{11,14}$")

CALL_STATUS = {"completed": "completed", "busy": "failed", "no_answer": "failed",
               "failed": "failed", "canceled": "canceled", "cancelled": "canceled",
               "queued": "pending", "ringing": "pending", "in_progress": "pending",
               "calling_crm_user": "pending", "connecting": "pending"}
EMAIL_STATUS = {"sent": "completed", "bounced": "failed", "failed": "failed",
                "scheduled": "pending", "sending": "pending"}
MEETING_OUTCOME = {"completed": "completed", "scheduled": "scheduled",
                   "canceled": "canceled", "cancelled": "canceled", "no_show": "canceled",
                   "rescheduled": "canceled"}
EMAIL_DIRECTION = {"email": "outgoing", "incoming_email": "incoming",
                   "forwarded_email": None}


def hubspot_id(kind: str, value: str | None) -> str | None:
    value = (value or "").strip()
    if value.endswith(".0") and value[:-2].isdigit():
        value = value[:-2]  # an id a spreadsheet turned into a number
    return f"hubspot:{kind}:{value}" if value else None


def _ids(text: str | None) -> list[str]:
    return [part.strip() for part in re.split(r"[;,]", text or "") if part.strip()]


def association_columns(columns: list[str]) -> dict[str, list[str]]:
    """contact / company / deal -> the columns that hold associated ids."""
    found: dict[str, list[str]] = {"contact": [], "company": [], "deal": []}
    for column in columns:
        match = _ASSOCIATION.match(column)
        if match:
            word = match.group("a") or match.group("b")
            found["company" if word == "compan" else word].append(column)
    return found


@dataclass
class _Reader:
    file: str
    options: ReadOptions
    out: Rows
    associations: dict[str, list[str]]
    refs: dict[str, str] = field(default_factory=dict)

    def cells(self, row: Row) -> Cells:
        return Cells(self.file, row, self.options.zone, self.out.batch.problems)

    def associated(self, cells: Cells, kind: str) -> list[str]:
        ids: list[str] = []
        for column in self.associations[kind]:
            for value in _ids(cells.row.get(column)):
                record = hubspot_id(kind, value)
                if record and record not in ids:
                    ids.append(record)
        return ids

    def owner(self, value: str | None) -> str | None:
        owner = hubspot_id("owner", value)
        if owner:
            self.refs.setdefault(owner, "user")
        return owner

    def contact(self, record: str) -> str:
        self.refs.setdefault(record, "contact")
        return record


def _time(cells: Cells, *columns: str, required: bool = False) -> dt.datetime | None:
    """ISO-8601 or Unix milliseconds (HubSpot writes both)."""
    for column in columns:
        text = cells.text(column)
        if not text:
            continue
        if _MILLIS.match(text):
            return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(text))
        return cells.time(column)
    if required:
        cells.problem(columns[0], f"no time is given (checked {', '.join(columns)})",
                      "fill in the time; " + csvread.TIME_FIX)
    return None


def _record_id(cells: Cells) -> str | None:
    value = cells.text(*ID_COLUMNS)
    if value is None:
        cells.problem("hs_object_id", "the record id is empty",
                      "export the object again with its Record ID (hs_object_id)")
    return value


def _regarding(r: _Reader, cells: Cells) -> tuple[str | None, str | None]:
    for kind, record_type in (("deal", "opportunity"), ("company", "account"),
                              ("contact", "contact")):
        found = r.associated(cells, kind)
        if found:
            return record_type, found[0]
    return None, None


def _state(cells: Cells, column: str, states: dict[str, str], default: str | None
           ) -> str | None:
    text = cells.text(column)
    if text is None:
        return default
    state = states.get(text.lower())
    if state is None:
        cells.problem(column, f"{text!r} is not a {column} value",
                      f"use one of {', '.join(s.upper() for s in states)}")
    return state


# ---------------------------------------------------------------------------
# Activities


def read_call(r: _Reader, cells: Cells) -> None:
    record = _record_id(cells)
    when = _time(cells, "hs_timestamp", "hs_createdate", required=True)
    direction_text = (cells.text("hs_call_direction") or "").upper()
    direction = {"OUTBOUND": "outgoing", "INBOUND": "incoming"}.get(direction_text)
    if direction_text and direction is None:
        cells.problem("hs_call_direction", f"{direction_text!r} is not a call direction",
                      "use INBOUND or OUTBOUND")
    millis = cells.number("hs_call_duration")
    default = state_at(when, None, r.options.now) if when else None
    state = _state(cells, "hs_call_status", CALL_STATUS, default)
    if not cells.ok or record is None or when is None:
        return
    minutes = millis / 60000 if millis is not None else None
    owner = r.owner(cells.text("hubspot_owner_id"))
    contacts = [r.contact(c) for c in r.associated(cells, "contact")]
    activity_id = hubspot_id("call", record)
    initiator = contacts[0] if direction == "incoming" and contacts else owner
    regarding_type, regarding_id = _regarding(r, cells)
    added = r.out.activity({
        "activity_id": activity_id, "type": "call",
        "subject": cells.text("hs_call_title"), "start_at": when,
        "end_at": when + dt.timedelta(minutes=minutes) if minutes else None,
        "duration_minutes": minutes, "state": state, "direction": direction,
        "initiator_id": initiator, "regarding_type": regarding_type,
        "regarding_id": regarding_id,
    })
    if added:
        ours, theirs = ("callee", "caller") if direction == "incoming" else ("caller", "callee")
        r.out.party(activity_id, owner, ours)
        for contact in contacts:
            r.out.party(activity_id, contact, theirs)


def read_email(r: _Reader, cells: Cells) -> None:
    record = _record_id(cells)
    when = _time(cells, "hs_timestamp", "hs_createdate", required=True)
    direction_text = (cells.text("hs_email_direction") or "").lower()
    if direction_text and direction_text not in EMAIL_DIRECTION:
        cells.problem("hs_email_direction", f"{direction_text.upper()!r} is not an e-mail "
                      "direction", "use EMAIL, INCOMING_EMAIL or FORWARDED_EMAIL")
    state = _state(cells, "hs_email_status", EMAIL_STATUS, "completed")
    sender = people.normalize_email(cells.text("hs_email_from_email"))
    if not cells.ok or record is None or when is None:
        return
    subject = cells.text("hs_email_subject")
    message_id = (cells.text("hs_email_message_id") or "").strip().strip("<>") or None
    if sender or message_id:
        activity_id = mail_activity_id(message_id, sender or "", when, subject)
    else:
        activity_id = hubspot_id("email", record)
    sender_name = " ".join(p for p in (cells.text("hs_email_from_firstname"),
                                       cells.text("hs_email_from_lastname")) if p) or None
    sender_id = r.out.address(sender, sender_name) if sender else None
    owner = r.owner(cells.text("hubspot_owner_id"))
    regarding_type, regarding_id = _regarding(r, cells)
    added = r.out.activity({
        "activity_id": activity_id, "type": "email", "subject": subject,
        "start_at": when, "end_at": when, "state": state,
        "direction": EMAIL_DIRECTION.get(direction_text),
        "initiator_id": sender_id or (owner if direction_text == "email" else None),
        "message_id": message_id, "conversation_id": cells.text("hs_email_thread_id"),
        "opens": cells.integer("hs_email_open_count"),
        "clicks": cells.integer("hs_email_click_count"),
        "replies": cells.integer("hs_email_reply_count"),
        "regarding_type": regarding_type, "regarding_id": regarding_id,
    })
    if not added:
        return
    r.out.party(activity_id, sender_id, "sender")
    for role, column in (("to", "hs_email_to_email"), ("cc", "hs_email_cc_email"),
                         ("bcc", "hs_email_bcc_email")):
        for text in split_addresses(cells.text(column)):
            r.out.party(activity_id, r.out.address(text), role)
    if not sender_id and direction_text == "email":
        r.out.party(activity_id, owner, "sender")
    for contact in r.associated(cells, "contact"):
        r.out.party(activity_id, r.contact(contact), "customer")


def read_meeting(r: _Reader, cells: Cells) -> None:
    record = _record_id(cells)
    start = _time(cells, "hs_meeting_start_time", "hs_timestamp", required=True)
    end = _time(cells, "hs_meeting_end_time")
    default = state_at(start, end, r.options.now) if start else None
    state = _state(cells, "hs_meeting_outcome", MEETING_OUTCOME, default)
    if not cells.ok or record is None or start is None:
        return
    minutes = (end - start).total_seconds() / 60 if end and end >= start else None
    owner = r.owner(cells.text("hubspot_owner_id"))
    activity_id = hubspot_id("meeting", record)
    regarding_type, regarding_id = _regarding(r, cells)
    added = r.out.activity({
        "activity_id": activity_id, "type": "meeting",
        "subject": cells.text("hs_meeting_title"), "start_at": start,
        "end_at": end if minutes is not None else None, "duration_minutes": minutes,
        "state": state, "initiator_id": owner,
        "regarding_type": regarding_type, "regarding_id": regarding_id,
    })
    if not added:
        return
    r.out.party(activity_id, owner, "organizer")
    for value in _ids(cells.text("hs_attendee_owner_ids")):
        attendee = r.owner(value)
        if attendee != owner:
            r.out.party(activity_id, attendee, "required")
    for contact in r.associated(cells, "contact"):
        r.out.party(activity_id, r.contact(contact), "required")


# ---------------------------------------------------------------------------
# Records


def read_contact(r: _Reader, cells: Cells) -> None:
    record = _record_id(cells)
    if record is None:
        return
    companies = r.associated(cells, "company") or \
        [c for c in [hubspot_id("company", cells.text("associatedcompanyid"))] if c]
    name = " ".join(p for p in (cells.text("firstname"), cells.text("lastname")) if p)
    r.out.person(hubspot_id("contact", record), "contact", name=name or None,
                 email=people.normalize_email(cells.text("email")),
                 crm_account_id=companies[0] if companies else None,
                 opted_out=bool(cells.boolean("hs_email_optout")) or None)


def read_company(r: _Reader, cells: Cells) -> None:
    record = _record_id(cells)
    if record is None:
        return
    domain = cells.text("domain")
    row = {"account_id": hubspot_id("company", record), "name": cells.text("name"),
           "domain": people.domain_from_url(domain) if domain else None,
           "industry": cells.text("industry"),
           "employees": cells.integer("numberofemployees"),
           "revenue": cells.number("annualrevenue"), "country": cells.text("country"),
           "parent_id": hubspot_id("company", cells.text("hs_parent_company_id")),
           "source": SOURCE}
    if cells.ok:
        r.out.batch.add("accounts", row)


def _deal_state(cells: Cells) -> str:
    won = cells.boolean("hs_is_closed_won")
    closed = cells.boolean("hs_is_closed")
    stage = (cells.text("dealstage") or "").lower()
    if won or stage == "closedwon":
        return "won"
    if closed or stage == "closedlost":
        return "lost"
    return "open"


def read_deal(r: _Reader, cells: Cells) -> None:
    record = _record_id(cells)
    if record is None:
        return
    state = _deal_state(cells)
    companies = r.associated(cells, "company")
    contacts = r.associated(cells, "contact")
    row = {"opportunity_id": hubspot_id("deal", record), "name": cells.text("dealname"),
           "account_id": companies[0] if companies else None,
           "contact_id": r.contact(contacts[0]) if contacts else None,
           "owner_id": r.owner(cells.text("hubspot_owner_id")), "state": state,
           "amount": cells.number("amount"), "product": cells.text("product", "pipeline"),
           "created_at": _time(cells, "createdate", "hs_createdate"),
           "closed_at": _time(cells, "closedate") if state != "open" else None}
    if not cells.ok:
        return
    r.out.batch.add("opportunities", row)
    for contact in contacts[1:]:
        r.out.batch.add("opportunity_members", {"opportunity_id": row["opportunity_id"],
                                                "person_id": r.contact(contact),
                                                "role": "stakeholder"})


# ---------------------------------------------------------------------------
# Layouts


@dataclass(frozen=True)
class _Object:
    name: str
    recognise: Callable[[set[str]], bool]
    reader: Callable[[_Reader, Cells], None]


def _has_id(h: set[str]) -> bool:
    return bool(h & set(ID_COLUMNS))


OBJECTS = [
    _Object("calls", lambda h: bool(h & {"hs_call_direction", "hs_call_duration",
                                         "hs_call_status"}), read_call),
    _Object("emails", lambda h: bool(h & {"hs_email_direction", "hs_email_subject",
                                          "hs_email_from_email"}), read_email),
    _Object("meetings", lambda h: bool(h & {"hs_meeting_start_time", "hs_meeting_outcome"}),
            read_meeting),
    _Object("deals", lambda h: _has_id(h) and "dealname" in h, read_deal),
    _Object("contacts", lambda h: "hs_object_id" in h and "email" in h
            and bool(h & {"firstname", "lastname"}), read_contact),
    _Object("companies", lambda h: "hs_object_id" in h and "domain" in h and "name" in h,
            read_company),
]


def object_for(header: list[str] | None) -> _Object | None:
    if not header:
        return None
    h = set(header)
    for obj in OBJECTS:
        if obj.recognise(h):
            return obj
    return None


def _sniffer(obj: _Object) -> Callable[[Source], bool]:
    def sniff(source: Source) -> bool:
        return object_for(csvread.header_of(source)) is obj
    return sniff


def _reader(obj: _Object) -> Callable[[Source, ReadOptions], Batch]:
    def read(source: Source, options: ReadOptions) -> Batch:
        table = csvread.load_table(source)
        if object_for(table.columns) is not obj:
            raise file_error(source.name, f"the header is not that of a HubSpot {obj.name} "
                             "export", "export with the property names as headers", row=1)
        if not _has_id(set(table.columns)):
            raise file_error(source.name, "the export has no hs_object_id (Record ID) column",
                             "export again including the Record ID property", row=1,
                             column="hs_object_id")
        batch = Batch(source.name, f"hubspot {obj.name}")
        reader = _Reader(source.name, options, Rows(batch),
                         association_columns(table.columns))
        batch.after_write = lambda con: insert_bare_people(con, reader.refs)
        batch.problems.extend(table.problems)
        batch.rows_read = len(table.rows) + len(table.problems)
        for row in table.rows:
            obj.reader(reader, reader.cells(row))
        return reader.out.finish()
    return read


LAYOUTS = [Layout(f"hubspot {obj.name}", f"HubSpot {obj.name} export (property names)",
                  _sniffer(obj), _reader(obj)) for obj in OBJECTS]

__all__ = ["LAYOUTS", "association_columns", "hubspot_id", "Problem"]
