"""Microsoft Dynamics 365 / Dataverse exports.

One CSV (or the first sheet of an .xlsx) per table, headed by the tables'
logical column names: systemuser, account, contact, lead, opportunity, email,
appointment, phonecall, task and activityparty. Each file is recognised by its
header. The Configuration Migration Tool's ``data.xml`` (alone, in its folder
or in its .zip) holds the same tables and is read too.

An activityparty row names its activity by the activity's GUID, and that
activity may be in another file of the import or of an earlier import. An
e-mail with a Message-ID is stored under ``msg:<id>`` rather than its GUID (so
the same message from a mailbox import is one activity), so parties are
attached when the import is written: ``dataverse_ids`` remembers which GUID
became which activity, and party rows stored under a GUID move to the
activity's id as soon as both are known. The columns read are listed in
docs/formats-dataverse.md.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import duckdb
import pyarrow as pa

from ingest import csvread
from ingest.base import Batch, file_error, insert_sql
from ingest.csvread import Cells, Row
from ingest.layouts import Layout, ReadOptions
from ingest.sources import Source
from rapport import people

SOURCE = "dataverse"

# Polymorphic lookups name the table by logical name; older exports use the
# object type code.
OBJECT_TYPE_CODES = {
    "1": "account", "2": "contact", "3": "opportunity", "4": "lead", "8": "systemuser",
    "9": "team", "2020": "queue", "4000": "equipment", "4201": "appointment",
    "4202": "email", "4210": "phonecall", "4212": "task",
}
# participationtypemask -> canonical role; 8 (regarding), 10 (resource) and
# the chat roles are not parties.
ROLE_OF_MASK = {1: "sender", 2: "to", 3: "cc", 4: "bcc", 5: "required", 6: "optional",
                7: "organizer", 9: "owner", 11: "customer"}
MASK_LABELS = {"sender": 1, "to recipient": 2, "to": 2, "cc recipient": 3, "cc": 3,
               "bcc recipient": 4, "bcc": 4, "required attendee": 5, "optional attendee": 6,
               "organizer": 7, "regarding": 8, "owner": 9, "resource": 10, "customer": 11}
# Which kind of person a party of each table is. Rooms and equipment are no one.
PARTY_KINDS = {"systemuser": "user", "queue": "user", "team": "user", "contact": "contact",
               "lead": "lead", "account": "address"}
NOT_PEOPLE = {"equipment", "resource"}

EMAIL_STATUS = {2: "completed", 3: "completed", 4: "completed", 1: "draft", 5: "canceled",
                6: "pending", 7: "pending", 8: "failed"}
EMAIL_STATUS_LABELS = {"completed": 2, "sent": 3, "received": 4, "draft": 1, "canceled": 5,
                       "cancelled": 5, "pending send": 6, "pending": 6, "sending": 7,
                       "failed": 8}
EMAIL_STATE = {0: "draft", 1: "completed", 2: "canceled"}
STATE_LABELS = {"open": 0, "completed": 1, "canceled": 2, "cancelled": 2, "scheduled": 3,
                "won": 1, "lost": 2, "qualified": 1, "disqualified": 2, "active": 0,
                "inactive": 1}
APPOINTMENT_STATE = {0: "scheduled", 1: "completed", 2: "canceled", 3: "scheduled"}
APPOINTMENT_STATUS = {3: "completed", 4: "canceled"}
CALL_STATE = {0: "scheduled", 1: "completed", 2: "canceled"}
TASK_STATE = {0: "scheduled", 1: "completed", 2: "canceled"}
LEAD_STATE = {0: "open", 1: "qualified", 2: "disqualified"}
OPPORTUNITY_STATE = {0: "open", 1: "won", 2: "lost"}

_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12})\}?$")


def crm_id(text: str | None) -> str | None:
    """A record id as stored: GUIDs lower-case without braces, others trimmed."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    match = _GUID.match(text)
    return match.group(1).lower() if match else text


def logical_name(text: str | None) -> str | None:
    """The table a lookup points to, from a logical name or an object type code."""
    if not text or not text.strip():
        return None
    value = text.strip().lower()
    return OBJECT_TYPE_CODES.get(value.split(".")[0], value)


def bare_message_id(text: str | None) -> str | None:
    if not text:
        return None
    value = text.strip().strip("<>").strip()
    return value or None


# ---------------------------------------------------------------------------
# Column names as the exports write them

# Web API exports write a lookup as _x_value and its table as an annotation.
_TYPE_COLUMN = {"regardingobjectid": "regardingobjecttypecode", "partyid": "partyobjecttypecode",
                "parentcustomerid": "parentcustomeridtype", "customerid": "customeridtype",
                "ownerid": "owneridtype"}


def canonical_column(name: str) -> str:
    """A header cell as this module names it (lower-case logical name)."""
    name = name.strip().lower()
    if "@" in name:
        base, _, annotation = name.partition("@")
        base = re.sub(r"^_(.*)_value$", r"\1", base)
        if annotation.endswith("lookuplogicalname"):
            return _TYPE_COLUMN.get(base, base + "type")
        if annotation.endswith("formattedvalue"):
            return base + "name"
        return name
    return re.sub(r"^_(.*)_value$", r"\1", name)


def _rekey(table: csvread.Table) -> None:
    columns = [canonical_column(c) for c in table.columns]
    mapping = dict(zip(table.columns, columns))
    table.columns = columns
    for row in table.rows:
        values: dict[str, str] = {}
        for key, value in row.values.items():
            new = mapping.get(key, key)
            if new not in values or not values[new].strip():
                values[new] = value
        row.values = values


# ---------------------------------------------------------------------------
# What one import collects besides the rows: GUIDs that became other ids, the
# people named only as parties, the activities whose initiator is a party.


@dataclass
class _Collected:
    id_map: dict[str, str] = field(default_factory=dict)  # activity GUID -> activity_id
    party_people: dict[str, dict] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)  # activity ids and GUIDs of this batch

    def person(self, person_id: str, kind: str, name: str | None, email: str | None,
               account: str | None = None) -> None:
        known = self.party_people.get(person_id)
        if known is None:
            self.party_people[person_id] = {
                "person_id": person_id, "name": name, "email": email, "crm_kind": kind,
                "crm_account_id": account}
        else:
            known["name"] = known["name"] or name
            known["email"] = known["email"] or email


@dataclass
class _Reader:
    batch: Batch
    options: ReadOptions
    collected: _Collected
    serial: bool = False

    def cells(self, file: str, row: Row) -> Cells:
        return Cells(file, row, self.options.zone, self.batch.problems, serial=self.serial)


def _name(cells: Cells) -> str | None:
    full = cells.text("fullname", "name", "yomifullname")
    if full:
        return full
    parts = [cells.text("firstname"), cells.text("lastname")]
    return " ".join(p for p in parts if p) or None


def _email(cells: Cells, *columns: str) -> str | None:
    for column in columns:
        value = people.normalize_email(cells.text(column))
        if value:
            return value
    return None


def _require_id(cells: Cells, column: str) -> str | None:
    value = crm_id(cells.text(column))
    if value is None:
        cells.problem(column, f"the {column} is empty", "every row needs its record id; "
                      "export the table again with its id column filled")
    return value


def _state(cells: Cells, column: str, mapping: dict[int, str], what: str) -> str | None:
    code = cells.code(column, STATE_LABELS)
    if code is None:
        return None
    if code not in mapping:
        known = ", ".join(f"{k} {v}" for k, v in mapping.items())
        article = "an" if what[0] in "aeiou" else "a"
        cells.problem(column, f"{code} is not {article} {what} statecode ({known})",
                      "check the column holds the statecode")
        return None
    return mapping[code]


def _direction(cells: Cells) -> str | None:
    value = (cells.text("directioncode") or "").lower()
    if value in ("1", "true", "outgoing", "yes"):
        return "outgoing"
    if value in ("0", "false", "incoming", "no"):
        return "incoming"
    if value:
        cells.problem("directioncode", f"{value!r} is not a direction",
                      "use 1 (outgoing) or 0 (incoming)")
    return None


def _regarding(cells: Cells) -> tuple[str | None, str | None]:
    regarding_id = crm_id(cells.text("regardingobjectid"))
    if regarding_id is None:
        return None, None
    return logical_name(cells.text("regardingobjecttypecode", "regardingobjectidtype")), \
        regarding_id


# ---------------------------------------------------------------------------
# One reader per table: each turns one row into canonical rows.


def read_systemuser(r: _Reader, cells: Cells) -> None:
    person_id = _require_id(cells, "systemuserid")
    name = _name(cells)
    email = _email(cells, "internalemailaddress", "domainname", "personalemailaddress")
    manager = crm_id(cells.text("parentsystemuserid"))
    region = cells.text("region", "territoryidname", "address1_stateorprovince")
    if cells.ok:
        r.batch.add("people", {"person_id": person_id, "name": name, "email": email,
                               "crm_kind": "user", "manager_id": manager, "region": region})


def read_account(r: _Reader, cells: Cells) -> None:
    account_id = _require_id(cells, "accountid")
    domain = people.domain_from_url(cells.text("websiteurl"))
    if domain is None:
        mail_domain = people.registrable_domain(
            people.email_domain(_email(cells, "emailaddress1", "emailaddress2")))
        if mail_domain and mail_domain not in people.FREEMAIL:
            domain = mail_domain
    industry = cells.text("industrycodename", "industry", "industrycode")
    employees = cells.integer("numberofemployees")
    revenue = cells.number("revenue")
    if cells.ok:
        r.batch.add("accounts", {
            "account_id": account_id, "name": cells.text("name"), "domain": domain,
            "industry": industry, "employees": employees, "revenue": revenue,
            "country": cells.text("address1_country"),
            "parent_id": crm_id(cells.text("parentaccountid")), "source": SOURCE})


def read_contact(r: _Reader, cells: Cells) -> None:
    person_id = _require_id(cells, "contactid")
    account = None
    kind = logical_name(cells.text("parentcustomeridtype"))
    if kind in (None, "account"):
        account = crm_id(cells.text("parentcustomerid"))
    account = account or crm_id(cells.text("accountid"))
    if cells.ok:
        r.batch.add("people", {
            "person_id": person_id, "name": _name(cells),
            "email": _email(cells, "emailaddress1", "emailaddress2", "emailaddress3"),
            "crm_kind": "contact", "crm_account_id": account})


def read_lead(r: _Reader, cells: Cells) -> None:
    lead_id = _require_id(cells, "leadid")
    state = _state(cells, "statecode", LEAD_STATE, "lead")
    created = cells.time("createdon")
    email = _email(cells, "emailaddress1", "emailaddress2")
    name = _name(cells)
    if cells.ok:
        r.batch.add("leads", {
            "lead_id": lead_id, "name": name, "email": email,
            "company": cells.text("companyname"), "owner_id": crm_id(cells.text("ownerid")),
            "state": state or "open", "created_at": created})
        r.batch.add("people", {"person_id": lead_id, "name": name, "email": email,
                               "crm_kind": "lead"})


def read_opportunity(r: _Reader, cells: Cells) -> None:
    opportunity_id = _require_id(cells, "opportunityid")
    state = _state(cells, "statecode", OPPORTUNITY_STATE, "opportunity") or "open"
    estimated = cells.number("estimatedvalue")
    actual = cells.number("actualvalue")
    created = cells.time("createdon")
    closed = cells.time("actualclosedate")
    account = crm_id(cells.text("parentaccountid"))
    contact = crm_id(cells.text("parentcontactid"))
    customer = crm_id(cells.text("customerid"))
    customer_type = logical_name(cells.text("customeridtype"))
    if customer and customer_type == "contact":
        contact = contact or customer
    elif customer:
        account = account or customer
    if not cells.ok:
        return
    amount = (actual if actual is not None else estimated) if state == "won" else estimated
    r.batch.add("opportunities", {
        "opportunity_id": opportunity_id, "name": cells.text("name"), "account_id": account,
        "contact_id": contact, "owner_id": crm_id(cells.text("ownerid")), "state": state,
        "amount": amount,
        "product": cells.text("product", "productidname", "productname", "productid"),
        "created_at": created, "closed_at": closed if state != "open" else None})
    if contact:
        r.batch.add("opportunity_members", {"opportunity_id": opportunity_id,
                                            "person_id": contact, "role": "customer"})


def _activity_base(r: _Reader, cells: Cells, kind: str) -> dict | None:
    guid = _require_id(cells, "activityid")
    regarding_type, regarding_id = _regarding(cells)
    return {"activity_id": guid, "type": kind, "subject": cells.text("subject"),
            "regarding_type": regarding_type, "regarding_id": regarding_id}


def _owner_party(r: _Reader, cells: Cells, activity_id: str) -> None:
    owner = crm_id(cells.text("ownerid"))
    owner_type = logical_name(cells.text("owneridtype")) or "systemuser"
    if owner and owner_type in PARTY_KINDS:
        r.batch.add("activity_parties", {"activity_id": activity_id, "person_id": owner,
                                         "role": "owner"})
        r.collected.person(owner, PARTY_KINDS[owner_type], cells.text("owneridname"), None)


def _store_activity(r: _Reader, cells: Cells, row: dict, guid: str | None) -> None:
    if not cells.ok or guid is None:
        return
    r.batch.add("activities", row)
    r.collected.touched.add(row["activity_id"])
    if guid != row["activity_id"]:
        r.collected.id_map[guid] = row["activity_id"]
        r.collected.touched.add(guid)


def read_email(r: _Reader, cells: Cells) -> None:
    row = _activity_base(r, cells, "email")
    guid = row["activity_id"]
    status = cells.code("statuscode", EMAIL_STATUS_LABELS)
    if status is not None:
        state = EMAIL_STATUS.get(status)
        if state is None:
            cells.problem("statuscode", f"{status} is not an e-mail statuscode",
                          "use 1 draft, 2 completed, 3 sent, 4 received, 5 canceled, "
                          "6 pending send, 7 sending or 8 failed")
    else:
        state = _state(cells, "statecode", EMAIL_STATE, "e-mail") or "completed"
    start = cells.time("senton", "actualend", "modifiedon", "createdon", required=True)
    message_id = bare_message_id(cells.text("messageid"))
    from ingest.mailbox import conversation_of  # one rule for Outlook thread indexes

    row.update({
        "start_at": start, "end_at": start, "state": state, "direction": _direction(cells),
        "message_id": message_id,
        "in_reply_to": bare_message_id(cells.text("inreplyto")),
        "conversation_id": conversation_of(cells.text("conversationindex")),
        "followed": cells.boolean("isemailfollowed"), "opens": cells.integer("opencount"),
        "clicks": cells.integer("linksclickedcount"), "replies": cells.integer("replycount"),
        "attachment_opens": cells.integer("attachmentopencount"),
    })
    if message_id:
        row["activity_id"] = "msg:" + message_id.lower()
    _store_activity(r, cells, row, guid)


def _minutes(cells: Cells, *columns: str) -> float | None:
    for column in columns:
        value = cells.number(column)
        if value is not None:
            return value
    return None


def _check_order(cells: Cells, start, end, column: str) -> None:
    if start is not None and end is not None and end < start:
        cells.problem(column, f"it ends ({end:%Y-%m-%d %H:%M}) before it starts "
                      f"({start:%Y-%m-%d %H:%M} UTC)", "check the two times of this row")


def read_appointment(r: _Reader, cells: Cells) -> None:
    row = _activity_base(r, cells, "meeting")
    guid = row["activity_id"]
    start = cells.time("scheduledstart", "actualstart", required=True)
    end = cells.time("scheduledend", "actualend")
    _check_order(cells, start, end, "scheduledend")
    minutes = _minutes(cells, "actualdurationminutes", "scheduleddurationminutes")
    if minutes is None and start and end:
        minutes = (end - start).total_seconds() / 60
    if end is None and start and minutes is not None:
        end = start + dt.timedelta(minutes=minutes)
    state = _state(cells, "statecode", APPOINTMENT_STATE, "appointment")
    if state is None:
        state = APPOINTMENT_STATUS.get(cells.code("statuscode") or -1, "scheduled")
    row.update({"start_at": start, "end_at": end, "duration_minutes": minutes,
                "state": state, "direction": None})
    if guid and cells.ok:
        _owner_party(r, cells, guid)
    _store_activity(r, cells, row, guid)


def read_phonecall(r: _Reader, cells: Cells) -> None:
    row = _activity_base(r, cells, "call")
    guid = row["activity_id"]
    minutes = _minutes(cells, "actualdurationminutes", "scheduleddurationminutes")
    start = cells.time("actualstart")
    end = cells.time("actualend")
    _check_order(cells, start, end, "actualend")
    if start is None and end is not None and minutes is not None:
        start = end - dt.timedelta(minutes=minutes)
    start = start or end or cells.time("scheduledstart", "scheduledend", "createdon",
                                       required=True)
    if end is None and start is not None and minutes is not None:
        end = start + dt.timedelta(minutes=minutes)
    state = _state(cells, "statecode", CALL_STATE, "phone call") or "completed"
    direction = _direction(cells)
    if direction is None:
        direction = {2: "outgoing", 4: "incoming"}.get(cells.code("statuscode") or -1)
    row.update({"start_at": start, "end_at": end, "duration_minutes": minutes,
                "state": state, "direction": direction})
    if guid and cells.ok:
        _owner_party(r, cells, guid)
    _store_activity(r, cells, row, guid)


def read_task(r: _Reader, cells: Cells) -> None:
    row = _activity_base(r, cells, "task")
    guid = row["activity_id"]
    start = cells.time("scheduledend", "scheduledstart", "actualend", "createdon")
    if start is None:
        return  # a task with no date at all can never be a next interaction
    state = _state(cells, "statecode", TASK_STATE, "task") or "scheduled"
    row.update({"start_at": start, "end_at": start,
                "duration_minutes": _minutes(cells, "actualdurationminutes"),
                "state": state, "direction": None})
    if guid and cells.ok:
        _owner_party(r, cells, guid)
    _store_activity(r, cells, row, guid)


def read_activityparty(r: _Reader, cells: Cells) -> None:
    guid = _require_id(cells, "activityid")
    mask = cells.code("participationtypemask", MASK_LABELS)
    if mask is None and cells.ok:
        cells.problem("participationtypemask", "the participation type is empty",
                      "fill it with 1 sender, 2 to, 3 cc, 4 bcc, 5 required, 6 optional, "
                      "7 organizer, 9 owner or 11 customer")
    party = crm_id(cells.text("partyid"))
    party_type = logical_name(cells.text("partyobjecttypecode", "partyidtype"))
    address = people.normalize_email(cells.text("addressused"))
    if not cells.ok or mask not in ROLE_OF_MASK or party_type in NOT_PEOPLE:
        return
    if party:
        person_id = party
        r.collected.person(party, PARTY_KINDS.get(party_type or "", "address"),
                           cells.text("partyidname"), address,
                           party if party_type == "account" else None)
    elif address:
        person_id = "mailto:" + address
        r.batch.add("people", {"person_id": person_id, "email": address,
                               "crm_kind": "address"})
    else:
        return  # a phone number or an empty address names no one we can match
    r.batch.add("activity_parties", {"activity_id": guid, "person_id": person_id,
                                     "role": ROLE_OF_MASK[mask]})
    r.collected.touched.add(guid)


ACTIVITY_READERS = {"email": read_email, "appointment": read_appointment,
                    "phonecall": read_phonecall, "task": read_task}


def read_activitypointer(r: _Reader, cells: Cells) -> None:
    kind = logical_name(cells.text("activitytypecode"))
    reader = ACTIVITY_READERS.get(kind or "")
    if reader:
        reader(r, cells)


# ---------------------------------------------------------------------------
# Writing: what needs the database and the other files of the import

MAP_TABLE = """
CREATE TABLE IF NOT EXISTS dataverse_ids (
    crm_id       VARCHAR PRIMARY KEY,
    activity_id  VARCHAR NOT NULL
)"""


def _finish(con: duckdb.DuckDBPyConnection, collected: _Collected) -> None:
    """Attach parties to their activities, add people named only as parties,
    and set the initiator of e-mails and meetings from their parties."""
    con.execute(MAP_TABLE)
    if collected.id_map:
        frame = pa.table({"crm_id": list(collected.id_map),
                          "activity_id": list(collected.id_map.values())})
        con.register("_dv_map", frame)
        try:
            con.execute("INSERT OR REPLACE INTO dataverse_ids SELECT crm_id, activity_id "
                        "FROM _dv_map")
        finally:
            con.unregister("_dv_map")
    # Party rows stored under the GUID of an e-mail that has a Message-ID.
    con.execute(insert_sql(
        "activity_parties", "activity_id, person_id, role",
        "SELECT DISTINCT m.activity_id, ap.person_id, ap.role "
        "FROM activity_parties ap JOIN dataverse_ids m ON ap.activity_id = m.crm_id"))
    con.execute("DELETE FROM activity_parties "
                "WHERE activity_id IN (SELECT crm_id FROM dataverse_ids)")
    if collected.party_people:
        rows = list(collected.party_people.values())
        frame = pa.table({name: pa.array([row[name] for row in rows], pa.string())
                          for name in ("person_id", "name", "email", "crm_kind",
                                       "crm_account_id")})
        con.register("_dv_people", frame)
        try:
            con.execute("""
                INSERT OR IGNORE INTO people
                    (person_id, name, email, crm_kind, crm_account_id, opted_out)
                SELECT person_id, name, email, crm_kind, crm_account_id, false
                FROM _dv_people
            """)
        finally:
            con.unregister("_dv_people")
    if collected.touched:
        con.register("_dv_touched", pa.table({"id": sorted(collected.touched)}))
        try:
            con.execute("""
                UPDATE activities SET initiator_id = best.person_id
                FROM (
                    SELECT ap.activity_id, ap.person_id
                    FROM activity_parties ap JOIN activities a USING (activity_id)
                    WHERE a.activity_id IN (
                          SELECT coalesce(m.activity_id, t.id)
                          FROM _dv_touched t LEFT JOIN dataverse_ids m ON m.crm_id = t.id)
                      AND ((a.type = 'email' AND ap.role = 'sender')
                           OR (a.type = 'meeting' AND ap.role IN ('organizer', 'owner')))
                    QUALIFY row_number() OVER (
                        PARTITION BY ap.activity_id
                        ORDER BY CASE ap.role WHEN 'owner' THEN 2 ELSE 1 END, ap.person_id
                    ) = 1
                ) AS best
                WHERE activities.activity_id = best.activity_id
                  AND activities.initiator_id IS DISTINCT FROM best.person_id
                  AND (activities.initiator_id IS NULL
                       -- the owner stood in until the organizer was known
                       OR EXISTS (SELECT 1 FROM activity_parties o
                                  WHERE o.activity_id = activities.activity_id
                                    AND o.role = 'owner'
                                    AND o.person_id = activities.initiator_id))
            """)
        finally:
            con.unregister("_dv_touched")


def _new_batch(source: Source, layout: str, options: ReadOptions, *, serial=False
               ) -> _Reader:
    batch = Batch(source.name, layout)
    collected = _Collected()
    batch.after_write = lambda con: _finish(con, collected)
    return _Reader(batch, options, collected, serial=serial)


# ---------------------------------------------------------------------------
# CSV / .xlsx layouts


@dataclass(frozen=True)
class _TableSpec:
    table: str
    description: str
    recognise: Callable[[set[str]], bool]
    required: tuple  # column names; a tuple inside means any one of them
    reader: Callable[[_Reader, Cells], None]


def _activity_header(h: set[str]) -> bool:
    return "activityid" in h and "participationtypemask" not in h \
        and "activitytypecode" not in h


def _is_email(h: set[str]) -> bool:
    return "participationtypemask" not in h and "activitytypecode" not in h and (
        "senton" in h or ("messageid" in h and "directioncode" in h))


def _is_phonecall(h: set[str]) -> bool:
    return _activity_header(h) and "directioncode" in h and not _is_email(h)


def _is_appointment(h: set[str]) -> bool:
    return (_activity_header(h) and "directioncode" not in h and "senton" not in h
            and ("isalldayevent" in h or "location" in h
                 or ("scheduledstart" in h and "percentcomplete" not in h)))


def _is_task(h: set[str]) -> bool:
    return (_activity_header(h) and "directioncode" not in h and "senton" not in h
            and not _is_appointment(h))


_RECORD_IDS = ("activityid", "systemuserid", "accountid", "contactid", "leadid",
               "opportunityid")


def _only(key: str, *also_not: str) -> Callable[[set[str]], bool]:
    def recognise(h: set[str]) -> bool:
        if key not in h or "participationtypemask" in h:
            return False
        return not any(other in h for other in also_not)
    return recognise


SPECS = [
    _TableSpec("activityparty", "Dataverse activityparty table (who took part in each activity)",
               lambda h: "participationtypemask" in h,
               ("activityid", "participationtypemask", ("partyid", "addressused")),
               read_activityparty),
    _TableSpec("activitypointer", "Dataverse activities of several types (activitytypecode)",
               lambda h: "activityid" in h and "activitytypecode" in h
               and "participationtypemask" not in h,
               ("activityid", "activitytypecode"), read_activitypointer),
    _TableSpec("email", "Dataverse email table", _is_email,
               ("activityid", ("senton", "actualend", "modifiedon", "createdon")),
               read_email),
    _TableSpec("phonecall", "Dataverse phonecall table", _is_phonecall,
               ("activityid",
                ("actualstart", "actualend", "scheduledstart", "scheduledend", "createdon")),
               read_phonecall),
    _TableSpec("appointment", "Dataverse appointment table", _is_appointment,
               ("activityid", ("scheduledstart", "actualstart")), read_appointment),
    _TableSpec("task", "Dataverse task table", _is_task,
               ("activityid", ("scheduledend", "scheduledstart", "actualend", "createdon")),
               read_task),
    _TableSpec("opportunity", "Dataverse opportunity table",
               _only("opportunityid", "activityid"), ("opportunityid",), read_opportunity),
    _TableSpec("lead", "Dataverse lead table",
               _only("leadid", "activityid", "opportunityid"), ("leadid",), read_lead),
    _TableSpec("contact", "Dataverse contact table",
               _only("contactid", "activityid", "opportunityid", "leadid"), ("contactid",),
               read_contact),
    _TableSpec("account", "Dataverse account table",
               _only("accountid", "activityid", "opportunityid", "leadid", "contactid",
                     "systemuserid"), ("accountid",), read_account),
    _TableSpec("systemuser", "Dataverse systemuser table (our users)",
               _only("systemuserid", "activityid", "opportunityid", "leadid", "contactid"),
               ("systemuserid",), read_systemuser),
]


def _header_set(source: Source) -> set[str] | None:
    if source.suffix not in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ""):
        return None
    header = csvread.header_of(source)
    if header is None:
        return None
    return {canonical_column(c) for c in header}


def _spec_of(header: set[str]) -> _TableSpec | None:
    for spec in SPECS:
        if spec.recognise(header):
            return spec
    return None


def _sniffer(spec: _TableSpec) -> Callable[[Source], bool]:
    def sniff(source: Source) -> bool:
        header = _header_set(source)
        return header is not None and _spec_of(header) is spec
    return sniff


def _table_reader(spec: _TableSpec) -> Callable[[Source, ReadOptions], Batch]:
    def read(source: Source, options: ReadOptions) -> Batch:
        table = csvread.load_table(source)
        _rekey(table)
        missing = csvread.missing_columns(table, list(spec.required))
        if missing:
            names = " and ".join(missing)
            raise file_error(
                source.name,
                f"this {spec.table} table has no {names} column "
                f"(it was recognised by its columns {', '.join(sorted(table.columns)[:8])})",
                f"export the {spec.table} table again including the {names} column",
                row=1, column=missing[0])
        reader = _new_batch(source, "dataverse " + spec.table, options,
                            serial=table.encoding == "xlsx")
        if options.progress:
            options.progress(0.0, f"{source.name}: Dataverse {spec.table} table "
                             f"({table.described}, {len(table.rows)} rows)")
        for row in table.rows:
            spec.reader(reader, reader.cells(source.name, row))
        reader.batch.problems.extend(table.problems)
        reader.batch.rows_read = len(table.rows) + len(table.problems)
        return reader.batch
    return read


# ---------------------------------------------------------------------------
# Configuration Migration Tool data.xml

XML_ENTITIES = {"systemuser": read_systemuser, "account": read_account,
                "contact": read_contact, "lead": read_lead, "opportunity": read_opportunity,
                "email": read_email, "appointment": read_appointment,
                "phonecall": read_phonecall, "task": read_task,
                "activityparty": read_activityparty}


def _folder_exports(folder) -> list:
    """data.xml in *folder*, else the data.xml of each of its subfolders."""
    here = folder / "data.xml"
    if here.is_file():
        return [here]
    return sorted(p / "data.xml" for p in folder.iterdir()
                  if p.is_dir() and (p / "data.xml").is_file())


def _xml_files(source: Source) -> list[tuple[str, bytes]]:
    """(name, bytes) of every data.xml a folder source holds, else of the source."""
    if source.path.is_dir():
        return [(str(p), p.read_bytes()) for p in _folder_exports(source.path)]
    data = _xml_bytes(source)
    return [(source.name, data)] if data is not None else []


def _xml_bytes(source: Source) -> bytes | None:
    """The data.xml of *source* (the file, its folder or its .zip), or None."""
    try:
        if source.path.is_dir():
            found = _folder_exports(source.path)
            return found[0].read_bytes() if found else None
        if source.member is None and zipfile.is_zipfile(source.path):
            with zipfile.ZipFile(source.path) as archive:
                names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "data.xml"]
                if len(names) != 1:
                    return None
                info = archive.getinfo(names[0])
                if info.file_size > 2 * 1024**3:
                    return None
                return archive.read(names[0])
        with source.open() as handle:
            return handle.read()
    except (OSError, zipfile.BadZipFile):
        return None


def _looks_like_cmt(head: bytes) -> bool:
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return False
    # The root element may follow a declaration, comments or a (refused) DOCTYPE.
    return re.search(rb"<entities[\s>]", text) is not None and b"<entity " in head[:65536]


def _sniff_xml(source: Source) -> bool:
    if source.path.is_dir():
        head = _xml_bytes(source)
        return head is not None and _looks_like_cmt(head[:65536])
    if source.member is None and zipfile.is_zipfile(source.path):
        try:
            with zipfile.ZipFile(source.path) as archive:
                names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "data.xml"]
                if len(names) != 1:
                    return False
                with archive.open(names[0]) as handle:
                    return _looks_like_cmt(handle.read(65536))
        except (OSError, zipfile.BadZipFile):
            return False
    return _looks_like_cmt(source.head(65536))


def _field_values(element, values: dict[str, str]) -> None:
    name = (element.get("name") or "").lower()
    if not name:
        return
    values[name] = element.get("value") or ""
    entity = element.get("lookupentity")
    if entity:
        values[_TYPE_COLUMN.get(name, name + "type")] = entity
    label = element.get("lookupentityname")
    if label:
        values[name + "name"] = label


def _xml_records(data: bytes, file: str):
    """(entity, record number, values, parties) for every record of a data.xml."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse  # no entity expansion, no external fetch

    entity = None
    number = 0
    depth = 0
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start", "end"),
                                        forbid_dtd=True):
            tag = element.tag
            if event == "start":
                depth += 1
                if tag == "entity" and depth == 2:
                    entity = (element.get("name") or "").lower()
                    number = 0
                continue
            depth -= 1
            if tag == "record" and entity is not None and depth == 3:
                number += 1
                values: dict[str, str] = {}
                parties: list[dict[str, str]] = []
                for child in element:
                    if child.tag != "field":
                        continue
                    _field_values(child, values)
                    for party in child.iter("activitypointerrecords"):
                        party_values: dict[str, str] = {}
                        for inner in party:
                            if inner.tag == "field":
                                _field_values(inner, party_values)
                        party_values.setdefault("activityid", element.get("id") or "")
                        parties.append(party_values)
                values.setdefault(entity + "id", element.get("id") or "")
                if entity in ACTIVITY_READERS:
                    values.setdefault("activityid", element.get("id") or "")
                yield entity, number, values, parties
                element.clear()
            elif tag == "entity":
                entity = None
    except DefusedXmlException as exc:
        raise file_error(file, f"the XML declares a document type or entities ({exc})",
                         "Rapport does not expand XML entities; export the data again "
                         "with the Configuration Migration Tool") from None
    except Exception as exc:  # noqa: BLE001 - ParseError and friends
        raise file_error(file, f"the XML cannot be read ({exc})",
                         "export the data again; the file may be truncated") from None


def read_xml(source: Source, options: ReadOptions) -> Batch:
    files = _xml_files(source)
    if not files:
        raise file_error(source.name, "no data.xml found",
                         "import the data.xml of a Configuration Migration Tool export")
    reader = _new_batch(source, "dataverse data.xml", options)
    counts: dict[str, int] = {}
    for name, data in files:
        for entity, number, values, parties in _xml_records(data, name):
            read = XML_ENTITIES.get(entity)
            counts[entity] = counts.get(entity, 0) + 1
            if read is None:
                continue
            label = f"{name} [{entity}]"
            reader.batch.rows_read += 1
            read(reader, reader.cells(label, Row(number, values)))
            for party in parties:
                read_activityparty(reader, reader.cells(label + " activityparty",
                                                        Row(number, party)))
    if not any(counts.get(name) for name in XML_ENTITIES):
        found = ", ".join(sorted(counts)) or "no records"
        raise file_error(source.name, f"the data.xml holds none of the tables Rapport reads "
                         f"(it holds {found})",
                         "export the account, contact, systemuser and activity tables "
                         "(email, appointment, phonecall, task)")
    return reader.batch


# ---------------------------------------------------------------------------

LAYOUTS = [
    Layout("dataverse " + spec.table, spec.description, _sniffer(spec), _table_reader(spec))
    for spec in SPECS
] + [
    Layout("dataverse data.xml",
           "a Dataverse Configuration Migration Tool export (data.xml, its folder or .zip)",
           _sniff_xml, read_xml),
]


__all__ = ["LAYOUTS", "SPECS", "canonical_column", "crm_id"]
