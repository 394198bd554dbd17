"""Salesforce exports: Data Loader CSVs, the weekly Data Export, or its .zip.

One CSV per object, headed by the objects' API field names (matched in any
case; Data Loader writes some exports in upper case). Each file is recognised
by its header: User, Account, Contact, Lead, Opportunity,
OpportunityContactRole, OpportunityTeamMember, Task, Event, EventRelation and
EmailMessage are read; the other objects of an export (Case, Campaign, ...)
are recognised by Salesforce's system fields and read as nothing, so a whole
export folder imports in one go.

Ids: a 15-character id (as reports write them) is turned into its
18-character form, so both spellings name one record. WhoId, WhatId,
RelatedToId and RelationId are polymorphic; the first three characters say
which object an id is (003 contact, 00Q lead, 001 account, 006 opportunity,
005 user).

Activities:

- A Task's type is its TaskSubtype (Call, Email), else its Type field (or a
  custom ``Type__c``) when that says Call, Email or Meeting, else ``task``.
  A closed task (IsClosed, or Status Completed) is completed; any other is
  scheduled. When ActivityDate (a date) is its only time, the task is stored
  at 12:00 UTC of that day, so that it falls on that day in every display
  zone from UTC-11 to UTC+11.
- CallType Outbound is initiated by us, Inbound by them, Internal counts
  nowhere (direction ``internal``).
- An Event is a meeting organised by its owner; EventRelation rows add its
  invitees (those who declined are left out).
- An EmailMessage is an e-mail stored as ``msg:<MessageIdentifier>``, so the
  same message from a mailbox import is one activity. The Task Salesforce
  keeps beside each EmailMessage (its ActivityId) is then dropped, in this
  import or a later one, so the e-mail counts once.

People who are only named by an id (an OwnerId with no User file, a WhoId
with no Contact file) are added as bare CRM records of their kind, which a
later User or Contact import completes.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable

import duckdb
import pyarrow as pa

from ingest import csvread
from ingest.base import Batch, Problem, file_error
from ingest.csvread import Cells, Row
from ingest.layouts import Layout, ReadOptions
from ingest.mapping import (Rows, insert_bare_people, mail_activity_id, split_addresses,
                            state_at)
from ingest.sources import Source
from rapport import people

SOURCE = "salesforce"
PREFIXES = {"003": "contact", "00Q": "lead", "001": "account", "006": "opportunity",
            "005": "user"}
PERSON_KINDS = {"contact": "contact", "lead": "lead", "user": "user"}
SYSTEM_FIELDS = {"systemmodstamp", "createdbyid", "lastmodifiedbyid", "isdeleted"}
DATE_ONLY_HOUR = 12
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
EMAIL_STATUS = {"0": "completed", "1": "completed", "2": "completed", "3": "completed",
                "4": "completed", "5": "draft", "new": "completed", "read": "completed",
                "replied": "completed", "sent": "completed", "forwarded": "completed",
                "draft": "draft"}


def sf_id(text: str | None) -> str | None:
    """A Salesforce id in its 18-character form (15-character ids get their suffix)."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if len(value) == 15 and value.isalnum():
        suffix = ""
        for start in (0, 5, 10):
            bits = sum(1 << i for i, ch in enumerate(value[start:start + 5]) if ch.isupper())
            suffix += _SUFFIX[bits]
        return value + suffix
    return value


def object_of(record_id: str | None) -> str | None:
    """contact, lead, account, opportunity or user, from an id's prefix."""
    if not record_id or len(record_id) < 15:
        return None
    return PREFIXES.get(record_id[:3])


# ---------------------------------------------------------------------------
# What one file (or one export) collects


@dataclass
class _Collected:
    refs: dict[str, str] = field(default_factory=dict)  # person id -> crm kind
    email_tasks: dict[str, str] = field(default_factory=dict)  # Task id -> msg id
    task_ids: set[str] = field(default_factory=set)


@dataclass
class _Reader:
    file: str
    options: ReadOptions
    out: Rows
    collected: _Collected

    def cells(self, row: Row) -> Cells:
        return Cells(self.file, row, self.options.zone, self.out.batch.problems)

    def ref(self, record_id: str | None) -> str | None:
        """A person named by id; remembered so a bare record can be added."""
        kind = PERSON_KINDS.get(object_of(record_id) or "")
        if kind is None:
            return None
        if record_id not in self.out.people:
            self.collected.refs.setdefault(record_id, kind)
        return record_id


def _name(cells: Cells) -> str | None:
    name = cells.text("name")
    if name:
        return name
    return " ".join(p for p in (cells.text("firstname"), cells.text("lastname")) if p) or None


def _require_id(cells: Cells, column: str = "id") -> str | None:
    value = sf_id(cells.text(column))
    if value is None:
        cells.problem(column, f"the {column} is empty",
                      "export the object again with its Id column filled")
    elif not _ID.match(value):
        cells.problem(column, f"{value!r} is not a Salesforce id (15 or 18 letters and digits)",
                      "check that the column holds record ids")
        return None
    return value


def _date_only(cells: Cells, column: str) -> dt.datetime | None:
    """A date field (ActivityDate, CloseDate) as 12:00 UTC of that day."""
    text = cells.text(column)
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        cells.problem(column, f"{text!r} is not a date", "write it as 2024-01-31")
        return None
    return dt.datetime.combine(day, dt.time(DATE_ONLY_HOUR))


def _day(cells: Cells, column: str) -> dt.datetime | None:
    """A date field as midnight UTC (for CloseDate, where the whole day counts)."""
    moment = _date_only(cells, column)
    return moment.replace(hour=0) if moment else None


def _regarding(*ids: str | None) -> tuple[str | None, str | None]:
    """The first id that is an account, contact, lead or opportunity."""
    for record_id in ids:
        kind = object_of(record_id)
        if kind in ("account", "contact", "lead", "opportunity"):
            return kind, record_id
    return None, None


# ---------------------------------------------------------------------------
# Records


def read_user(r: _Reader, cells: Cells) -> None:
    user_id = _require_id(cells)
    if user_id:
        r.out.person(user_id, "user", name=_name(cells),
                     email=people.normalize_email(cells.text("email")),
                     manager_id=sf_id(cells.text("managerid")),
                     region=cells.text("division"))


def read_account(r: _Reader, cells: Cells) -> None:
    account_id = _require_id(cells)
    if not account_id:
        return
    row = {
        "account_id": account_id, "name": cells.text("name"),
        "domain": people.domain_from_url(cells.text("website")),
        "industry": cells.text("industry"),
        "employees": cells.integer("numberofemployees"),
        "revenue": cells.number("annualrevenue"),
        "country": cells.text("billingcountry", "shippingcountry"),
        "parent_id": sf_id(cells.text("parentid")), "source": SOURCE,
    }
    if cells.ok:
        r.out.batch.add("accounts", row)


def read_contact(r: _Reader, cells: Cells) -> None:
    contact_id = _require_id(cells)
    if contact_id:
        r.out.person(contact_id, "contact", name=_name(cells),
                     email=people.normalize_email(cells.text("email")),
                     crm_account_id=sf_id(cells.text("accountid")))


def _lead_state(cells: Cells) -> str:
    """qualified (converted), disqualified (closed without converting) or open."""
    if cells.boolean("isconverted"):
        return "qualified"
    status = (cells.text("status") or "").lower()
    if re.search(r"unqualif|disqualif|not converted|junk|lost|closed", status):
        return "disqualified"
    if re.search(r"qualified|converted", status):
        return "qualified"
    return "open"


def read_lead(r: _Reader, cells: Cells) -> None:
    lead_id = _require_id(cells)
    if not lead_id:
        return
    email = people.normalize_email(cells.text("email"))
    row = {"lead_id": lead_id, "name": _name(cells), "email": email,
           "company": cells.text("company"), "owner_id": r.ref(sf_id(cells.text("ownerid"))),
           "state": _lead_state(cells), "created_at": cells.time("createddate")}
    if cells.ok:
        r.out.batch.add("leads", row)
        r.out.person(lead_id, "lead", name=row["name"], email=email)


def _opportunity_state(cells: Cells) -> str:
    """won, lost or open: from IsClosed and IsWon, else from the stage's name.

    Exports write booleans as 1/0, true/false, or leave false empty.
    """
    if cells.text("isclosed", "iswon") is not None:
        if cells.boolean("iswon"):
            return "won"
        return "lost" if cells.boolean("isclosed") else "open"
    stage = (cells.text("stagename") or "").lower()
    if "closed" in stage and "won" in stage:
        return "won"
    if "closed" in stage and "lost" in stage:
        return "lost"
    return "open"


def read_opportunity(r: _Reader, cells: Cells) -> None:
    opportunity_id = _require_id(cells)
    if not opportunity_id:
        return
    state = _opportunity_state(cells)
    row = {
        "opportunity_id": opportunity_id, "name": cells.text("name"),
        "account_id": sf_id(cells.text("accountid")),
        "contact_id": r.ref(sf_id(cells.text("contactid"))),
        "owner_id": r.ref(sf_id(cells.text("ownerid"))), "state": state,
        "amount": cells.number("amount"),
        "product": cells.text("product__c", "product", "product2id"),
        "created_at": cells.time("createddate"),
        "closed_at": _day(cells, "closedate") if state != "open" else None,
    }
    if cells.ok:
        r.out.batch.add("opportunities", row)


def read_contact_role(r: _Reader, cells: Cells) -> None:
    opportunity_id = _require_id(cells, "opportunityid")
    contact_id = _require_id(cells, "contactid")
    if opportunity_id and contact_id:
        role = (cells.text("role") or "stakeholder").lower()
        r.out.batch.add("opportunity_members", {
            "opportunity_id": opportunity_id, "person_id": r.ref(contact_id) or contact_id,
            "role": "stakeholder" if role == "team" else role})


def read_team_member(r: _Reader, cells: Cells) -> None:
    opportunity_id = _require_id(cells, "opportunityid")
    user_id = _require_id(cells, "userid")
    if opportunity_id and user_id:
        r.out.batch.add("opportunity_members", {
            "opportunity_id": opportunity_id, "person_id": r.ref(user_id) or user_id,
            "role": "team"})


# ---------------------------------------------------------------------------
# Activities


def _task_type(cells: Cells) -> str:
    subtype = (cells.text("tasksubtype") or "").lower()
    if subtype == "call":
        return "call"
    if subtype in ("email", "listemail"):
        return "email"
    declared = (cells.text("type", "type__c") or "").lower()
    for word in ("call", "email", "meeting"):
        if declared.replace("-", "") == word:
            return word
    return "task"


CALL_TYPES = {"outbound": "outgoing", "inbound": "incoming", "internal": "internal"}


def read_task(r: _Reader, cells: Cells) -> None:
    task_id = _require_id(cells)
    if not task_id:
        return
    kind = _task_type(cells)
    status = (cells.text("status") or "").lower()
    closed = cells.boolean("isclosed") or status in ("completed", "closed")
    when = None
    if closed:
        when = cells.time("completeddatetime")
    if when is None:
        when = _date_only(cells, "activitydate")
    if when is None:
        when = cells.time("createddate", required=True)
    call_type = (cells.text("calltype") or "").lower()
    direction = CALL_TYPES.get(call_type) if kind == "call" else None
    if kind == "call" and call_type and direction is None:
        cells.problem("calltype", f"{cells.text('calltype')!r} is not a call type",
                      "use Inbound, Outbound or Internal")
    seconds = cells.number("calldurationinseconds")
    if not cells.ok or when is None:
        return
    owner = r.ref(sf_id(cells.text("ownerid")))
    who = r.ref(sf_id(cells.text("whoid")))
    what = sf_id(cells.text("whatid"))
    regarding_type, regarding_id = _regarding(what, who)
    minutes = seconds / 60 if seconds is not None else None
    initiator = who if direction == "incoming" else owner
    added = r.out.activity({
        "activity_id": task_id, "type": kind, "subject": cells.text("subject"),
        "start_at": when, "end_at": when + dt.timedelta(minutes=minutes) if minutes else None,
        "duration_minutes": minutes if kind == "call" else None,
        "state": "completed" if closed else "scheduled", "direction": direction,
        "initiator_id": initiator or owner,
        "regarding_type": regarding_type, "regarding_id": regarding_id,
    })
    if not added:
        return
    r.collected.task_ids.add(task_id)
    if kind == "call":
        ours, theirs = ("callee", "caller") if direction == "incoming" else ("caller", "callee")
    else:
        ours, theirs = {"email": ("sender", "to"), "meeting": ("organizer", "required")}.get(
            kind, ("owner", "customer"))
    r.out.party(task_id, owner, ours)
    r.out.party(task_id, who, theirs)


def read_event(r: _Reader, cells: Cells) -> None:
    event_id = _require_id(cells)
    if not event_id:
        return
    all_day = bool(cells.boolean("isalldayevent"))
    start = _date_only(cells, "activitydate") if all_day else None
    if start is None:
        start = cells.time("startdatetime", "activitydatetime", required=True)
    end = None if all_day else cells.time("enddatetime")
    minutes = None if all_day else cells.number("durationinminutes")
    if not cells.ok or start is None:
        return
    if end is None and minutes is not None:
        end = start + dt.timedelta(minutes=minutes)
    if minutes is None and end is not None:
        minutes = (end - start).total_seconds() / 60
    owner = r.ref(sf_id(cells.text("ownerid")))
    who = r.ref(sf_id(cells.text("whoid")))
    regarding_type, regarding_id = _regarding(sf_id(cells.text("whatid")), who)
    added = r.out.activity({
        "activity_id": event_id, "type": "meeting", "subject": cells.text("subject"),
        "start_at": start, "end_at": end, "duration_minutes": minutes,
        "state": state_at(start, end, r.options.now), "initiator_id": owner,
        "regarding_type": regarding_type, "regarding_id": regarding_id,
    })
    if added:
        r.out.party(event_id, owner, "organizer")
        r.out.party(event_id, who, "required")


def read_event_relation(r: _Reader, cells: Cells) -> None:
    event_id = _require_id(cells, "eventid")
    relation = _require_id(cells, "relationid")
    if not (event_id and relation) or cells.boolean("iswhat"):
        return
    if (cells.text("status") or "").lower() == "declined":
        return
    person = r.ref(relation)
    if person:
        invitee = cells.boolean("isinvitee")
        r.out.party(event_id, person, "required" if invitee or invitee is None
                    or object_of(relation) == "user" else "customer")


def read_email_message(r: _Reader, cells: Cells) -> None:
    sent = cells.time("messagedate", "createddate", required=True)
    sender = people.normalize_email(cells.text("fromaddress"))
    if sent is not None and sender is None:
        cells.problem("fromaddress", f"{cells.text('fromaddress')!r} is not an e-mail address"
                      if cells.text("fromaddress") else "the sender's address is empty",
                      "export the EmailMessage object with its FromAddress field")
    status = (cells.text("status") or "3").lower()
    if status not in EMAIL_STATUS:
        cells.problem("status", f"{status!r} is not an EmailMessage status",
                      "use 0 to 5 (New, Read, Replied, Sent, Forwarded, Draft)")
    if not cells.ok:
        return
    incoming = cells.boolean("incoming")
    message_id = (cells.text("messageidentifier") or "").strip().strip("<>") or None
    subject = cells.text("subject")
    activity_id = mail_activity_id(message_id, sender, sent, subject)
    related = sf_id(cells.text("relatedtoid"))
    regarding_type, regarding_id = _regarding(related)
    opened = cells.text("firstopeneddate")
    sender_id = r.out.address(sender, cells.text("fromname"))
    added = r.out.activity({
        "activity_id": activity_id, "type": "email", "subject": subject,
        "start_at": sent, "end_at": sent, "state": EMAIL_STATUS[status],
        "direction": None if incoming is None else "incoming" if incoming else "outgoing",
        "initiator_id": sender_id, "message_id": message_id,
        "conversation_id": cells.text("threadidentifier"),
        "opens": (1 if opened else 0) if "firstopeneddate" in cells.row.values else None,
        "regarding_type": regarding_type, "regarding_id": regarding_id,
    })
    task = sf_id(cells.text("activityid"))
    if task:
        r.collected.email_tasks[task] = activity_id
    if not added:
        return
    r.out.party(activity_id, sender_id, "sender")
    for role, column in (("to", "toaddress"), ("cc", "ccaddress"), ("bcc", "bccaddress")):
        for text in split_addresses(cells.text(column)):
            r.out.party(activity_id, r.out.address(text), role)


# ---------------------------------------------------------------------------
# Recognising the objects by their headers


@dataclass(frozen=True)
class _Object:
    name: str
    recognise: Callable[[set[str]], bool]
    reader: Callable[[_Reader, Cells], None] | None


def _has(*names: str) -> Callable[[set[str]], bool]:
    return lambda h: all(n in h for n in names)


def _is_salesforce(h: set[str]) -> bool:
    return "id" in h and ("systemmodstamp" in h or len(h & SYSTEM_FIELDS) >= 2)


OBJECTS = [
    _Object("EventRelation", _has("eventid", "relationid"), read_event_relation),
    _Object("OpportunityContactRole", _has("opportunityid", "contactid", "role"),
            read_contact_role),
    _Object("OpportunityTeamMember", _has("opportunityid", "userid", "teammemberrole"),
            read_team_member),
    _Object("EmailMessage", _has("fromaddress", "messagedate"), read_email_message),
    _Object("Event", lambda h: {"id", "startdatetime"} <= h
            and bool(h & {"durationinminutes", "enddatetime", "isalldayevent"}), read_event),
    _Object("Task", lambda h: {"id", "whoid", "whatid"} <= h
            and bool(h & {"activitydate", "tasksubtype", "calltype", "status"}), read_task),
    _Object("Opportunity", _has("id", "stagename", "closedate"), read_opportunity),
    _Object("User", lambda h: {"id", "username"} <= h, read_user),
    _Object("Lead", lambda h: {"id", "company", "status"} <= h
            and bool(h & {"isconverted", "lastname", "name"}), read_lead),
    _Object("Contact", lambda h: {"id", "accountid", "email"} <= h
            and bool(h & {"lastname", "name"}) and not h & {"contactid", "leadid"},
            read_contact),
    _Object("Account", lambda h: {"id", "name"} <= h and "accountid" not in h
            and bool(h & {"billingcountry", "website", "industry", "annualrevenue",
                          "numberofemployees", "billingcity"}), read_account),
    _Object("other object", _is_salesforce, None),
]
ORDER = {obj.name: i for i, obj in enumerate(
    sorted(OBJECTS, key=lambda o: ["User", "Account", "Contact", "Lead", "Opportunity",
                                   "OpportunityContactRole", "OpportunityTeamMember",
                                   "Task", "Event", "EventRelation", "EmailMessage",
                                   "other object"].index(o.name)))}


def object_for(header: list[str] | None) -> _Object | None:
    if not header:
        return None
    h = set(header)
    for obj in OBJECTS:
        if obj.recognise(h):
            return obj
    return None


# ---------------------------------------------------------------------------
# Writing: bare records for ids, and e-mails that replace their tasks

EMAIL_TASKS = """
CREATE TABLE IF NOT EXISTS salesforce_email_tasks (
    task_id      VARCHAR PRIMARY KEY,
    activity_id  VARCHAR NOT NULL
)"""


def _finish(con: duckdb.DuckDBPyConnection, collected: _Collected) -> None:
    insert_bare_people(con, collected.refs)
    if not (collected.email_tasks or collected.task_ids):
        return
    con.execute(EMAIL_TASKS)
    if collected.email_tasks:
        tasks = sorted(collected.email_tasks)
        con.register("_sf_mail", pa.table({
            "task_id": tasks, "activity_id": [collected.email_tasks[t] for t in tasks]}))
        try:
            con.execute("INSERT OR REPLACE INTO salesforce_email_tasks SELECT * FROM _sf_mail")
        finally:
            con.unregister("_sf_mail")
    # A Task that an EmailMessage stands for is the same e-mail: keep the e-mail.
    doubles = "SELECT task_id FROM salesforce_email_tasks"
    con.execute(f"DELETE FROM activity_parties WHERE activity_id IN ({doubles})")
    con.execute(f"DELETE FROM activities WHERE activity_id IN ({doubles})")


# ---------------------------------------------------------------------------
# Layouts


def _new_reader(source: Source, layout: str, options: ReadOptions) -> _Reader:
    batch = Batch(source.name, layout)
    collected = _Collected()
    batch.after_write = lambda con: _finish(con, collected)
    return _Reader(source.name, options, Rows(batch), collected)


def _read_table(reader: _Reader, table: csvread.Table, obj: _Object) -> None:
    reader.out.batch.problems.extend(table.problems)
    reader.out.batch.rows_read += len(table.rows) + len(table.problems)
    if obj.reader is None:
        return
    for row in table.rows:
        obj.reader(reader, reader.cells(row))


def _sniff_object(obj: _Object) -> Callable[[Source], bool]:
    def sniff(source: Source) -> bool:
        return object_for(csvread.header_of(source)) is obj
    return sniff


def _read_object(obj: _Object) -> Callable[[Source, ReadOptions], Batch]:
    def read(source: Source, options: ReadOptions) -> Batch:
        table = csvread.load_table(source)
        found = object_for(table.columns)
        if found is not obj:
            raise file_error(source.name, f"the header is not that of a Salesforce {obj.name}",
                             "export the object again with its API field names as headers",
                             row=1)
        reader = _new_reader(source, _layout_name(obj), options)
        _read_table(reader, table, obj)
        return reader.out.finish()
    return read


def _layout_name(obj: _Object) -> str:
    return f"salesforce {obj.name}" if obj.reader else "salesforce (object not used)"


# The weekly Data Export .zip holds attachments beside its CSV files.


def _zip_tables(source: Source) -> list[tuple[str, _Object]]:
    if source.member is not None or source.path.is_dir():
        return []
    try:
        if not zipfile.is_zipfile(source.path):
            return []
        with zipfile.ZipFile(source.path) as archive:
            if "xl/workbook.xml" in archive.namelist():
                return []
            found = []
            for info in archive.infolist():
                if info.is_dir() or PurePosixPath(info.filename).suffix.lower() != ".csv":
                    continue
                with archive.open(info) as handle:
                    head = handle.read(csvread.MAX_HEADER_BYTES)
                obj = object_for(csvread.read_header(head))
                if obj is not None:
                    found.append((info.filename, obj))
            return sorted(found, key=lambda pair: (ORDER[pair[1].name], pair[0]))
    except (zipfile.BadZipFile, OSError, EOFError):
        return []


def _sniff_zip(source: Source) -> bool:
    return any(obj.reader for _, obj in _zip_tables(source))


def _read_zip(source: Source, options: ReadOptions) -> Batch:
    reader = _new_reader(source, "salesforce export (.zip)", options)
    for member, obj in _zip_tables(source):
        part = Source(source.path, member)
        reader.file = part.name
        _read_table(reader, csvread.load_table(part), obj)
    reader.file = source.name
    return reader.out.finish()


LAYOUTS = [
    Layout(_layout_name(obj), f"Salesforce {obj.name} export (Data Loader or Data Export CSV)"
           if obj.reader else "another object of a Salesforce export (read, nothing used)",
           _sniff_object(obj), _read_object(obj))
    for obj in OBJECTS
] + [Layout("salesforce export (.zip)",
            "a Salesforce weekly Data Export archive: every object CSV in it",
            _sniff_zip, _read_zip)]

__all__ = ["LAYOUTS", "OBJECTS", "object_of", "sf_id", "Problem"]
