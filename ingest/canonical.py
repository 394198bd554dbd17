"""Rapport's own layout: one CSV (or Parquet) file per canonical table.

Each file is named after its table (``activities.csv``) and holds exactly the
table's columns as ``rapport/store.py`` defines them; a file is recognised by
its header, whatever its name. ``people`` holds only the facts a source gives
(person_id, name, email, crm_kind, crm_account_id, opted_out, manager_id,
region): person_key, side and account_id are derived again on import.

:func:`export` writes the same files, so an export imports back unchanged.
Text cells that a spreadsheet would run as a formula get a leading apostrophe
on export, which the import takes off again. With ``pseudonymize`` every name,
e-mail address and subject is replaced by a stable keyed-hash pseudonym that
keeps the shape the figures need (which addresses share a domain, which
e-mails reply to which). The layout is documented in docs/formats-canonical.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
import os
import re
from pathlib import Path

import duckdb

from ingest import csvread
from ingest.base import Batch, columns_of, file_error
from ingest.csvread import Cells, Row
from ingest.layouts import Layout, ReadOptions
from ingest.sources import Source
from rapport import people
from rapport import settings as settings_mod
from rapport.store import ACTIVITY_STATES, ACTIVITY_TYPES, PARTY_ROLES, TABLES

DERIVED_PEOPLE = ("person_key", "side", "account_id")
# The tables of the layout, in the order they are written and documented.
EXPORTED = ("accounts", "people", "leads", "opportunities", "opportunity_members",
            "activities", "activity_parties", "settings")
DIRECTIONS = ("outgoing", "incoming", "internal")
CRM_KINDS = ("user", "contact", "lead", "address")
LEAD_STATES = ("open", "qualified", "disqualified")
OPPORTUNITY_STATES = ("open", "won", "lost")
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ENV_KEY = "RAPPORT_PSEUDONYM_KEY"


def _column_types(table: str) -> dict[str, str]:
    types = {}
    for line in TABLES[table].strip().splitlines():
        words = line.strip().rstrip(",").split()
        if words and words[0] != "PRIMARY":
            types[words[0]] = words[1].upper()
    return types


def _not_null(table: str) -> set[str]:
    required = set()
    for line in TABLES[table].strip().splitlines():
        words = line.strip().split()
        if words and words[0] != "PRIMARY" and ("NOT NULL" in line or "PRIMARY KEY" in line):
            required.add(words[0])
    return required


def layout_columns(table: str) -> list[str]:
    """The columns of *table* in Rapport's layout, in order."""
    names = columns_of(table)
    if table == "people":
        names = [n for n in names if n not in DERIVED_PEOPLE]
    return names


# ---------------------------------------------------------------------------
# Formula injection


def escape_cell(value: str) -> str:
    """*value* as written to a CSV cell: a leading apostrophe stops a formula."""
    if value and (value.startswith(FORMULA_START)
                  or (value[0] == "'" and len(value) > 1
                      and value[1] in FORMULA_START + ("'",))):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The inverse of :func:`escape_cell`."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START + ("'",):
        return value[1:]
    return value


# ---------------------------------------------------------------------------
# Reading


def _parquet_columns(source: Source) -> list[str] | None:
    if source.suffix != ".parquet" or source.path.is_dir():
        return None
    try:
        import pyarrow.parquet as pq

        with source.open() as handle:
            return [c.lower() for c in pq.read_schema(handle).names]
    except Exception:  # noqa: BLE001 - not a Parquet file we can read
        return None


def _header(source: Source) -> list[str] | None:
    if source.path.is_dir():
        return None
    if source.suffix == ".parquet":
        return _parquet_columns(source)
    return csvread.header_of(source)


def table_of_header(header: list[str] | None, source: Source) -> str | None:
    """The canonical table whose columns *header* holds, exactly."""
    if not header:
        return None
    have = {h for h in header if h}
    if len(have) != len([h for h in header if h]):
        return None
    for table in EXPORTED:
        expected = set(layout_columns(table))
        if table == "settings":
            # key,value is too common a header to claim without the name too.
            if have == expected and Path(source.member or source.path.name).stem.lower() \
                    == "settings":
                return table
            continue
        if have == expected:
            return table
        if table == "people" and have == expected | set(DERIVED_PEOPLE):
            return table
    return None


def _parquet_table(source: Source) -> csvread.Table:
    import pyarrow.parquet as pq

    try:
        with source.open() as handle:
            frame = pq.read_table(handle)
    except Exception as exc:  # noqa: BLE001
        raise file_error(source.name, f"the Parquet file cannot be read ({exc})",
                         "write it again, or export the table as CSV") from None
    columns = [c.lower() for c in frame.column_names]
    table = csvread.Table(source.name, "parquet", ",", columns, frame.column_names)
    for number, record in enumerate(frame.to_pylist(), start=2):
        values = {}
        for name, value in zip(columns, record.values()):
            if value is None:
                values[name] = ""
            elif isinstance(value, dt.datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
                    values[name] = value.isoformat() + "Z"
                else:
                    values[name] = value.isoformat()
            elif isinstance(value, bool):
                values[name] = "true" if value else "false"
            elif isinstance(value, float):
                values[name] = repr(value)
            else:
                values[name] = str(value)
        table.rows.append(Row(number, values))
    return table


def _check_enum(cells: Cells, column: str, value, allowed) -> None:
    if value is not None and value not in allowed:
        cells.problem(column, f"{value!r} is not one of {', '.join(allowed)}",
                      f"use one of: {', '.join(allowed)}")


def _row_values(table: str, cells: Cells, types: dict[str, str],
                required: set[str]) -> dict:
    values = {}
    for column in layout_columns(table):
        kind = types[column]
        if kind == "TIMESTAMP":
            value = cells.time(column)
        elif kind in ("BIGINT", "INTEGER"):
            value = cells.integer(column)
        elif kind == "DOUBLE":
            value = cells.number(column)
        elif kind == "BOOLEAN":
            value = cells.boolean(column)
        else:
            raw = cells.row.values.get(column, "")
            value = unescape_cell(raw) if raw.strip() != "" else None
        if value is None and column in required and cells.ok:
            if not (table == "people" and column == "opted_out"):
                cells.problem(column, f"the {column} is empty",
                              f"every {table} row needs a {column}")
        values[column] = value
    if table == "activities":
        _check_enum(cells, "type", values["type"], ACTIVITY_TYPES)
        _check_enum(cells, "state", values["state"], ACTIVITY_STATES)
        _check_enum(cells, "direction", values["direction"], DIRECTIONS)
    elif table == "activity_parties":
        _check_enum(cells, "role", values["role"], PARTY_ROLES)
    elif table == "people":
        _check_enum(cells, "crm_kind", values["crm_kind"], CRM_KINDS)
        if values["opted_out"] is None:
            values["opted_out"] = False
        if values["email"]:
            values["email"] = values["email"].lower()
    elif table == "leads":
        _check_enum(cells, "state", values["state"], LEAD_STATES)
    elif table == "opportunities":
        _check_enum(cells, "state", values["state"], OPPORTUNITY_STATES)
    elif table == "settings":
        _check_setting(cells, values)
    return values


def _check_setting(cells: Cells, values: dict) -> None:
    key, text = values.get("key"), values.get("value")
    if key is None or text is None:
        return
    if key not in settings_mod.FIELDS:
        cells.problem("key", f"{key!r} is not a Rapport setting",
                      "see docs/settings.md for the settings and their names")
        return
    try:
        value = json.loads(text)
    except ValueError:
        cells.problem("value", f"{text[:40]!r} is not a JSON value",
                      'write the value as JSON, for example ["ourco.com"] or 14')
        return
    default = getattr(settings_mod.Settings(), key)
    try:
        if isinstance(default, bool) != isinstance(value, bool) or \
                (isinstance(default, (list, str)) and not isinstance(value, type(default))):
            raise ValueError(f"{key} needs a {type(default).__name__}")
        settings_mod.Settings(**{key: value}).validate()
    except (ValueError, TypeError) as exc:
        cells.problem("value", f"{text[:40]!r} is not a valid {key} ({exc})",
                      "see docs/settings.md for the allowed values")


def _apply_settings(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Settings from the file, for every key the database has not set itself."""
    con.executemany("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)",
                    [(row["key"], row["value"]) for row in rows])


def read(source: Source, options: ReadOptions) -> Batch:
    table_name = table_of_header(_header(source), source)
    if table_name is None:
        raise file_error(source.name, "the columns are not those of a Rapport table",
                         "see docs/formats-canonical.md for each table's columns")
    table = _parquet_table(source) if source.suffix == ".parquet" \
        else csvread.load_table(source)
    batch = Batch(source.name, "rapport " + table_name)
    if options.progress:
        options.progress(0.0, f"{source.name}: Rapport {table_name} table "
                         f"({table.described}, {len(table.rows)} rows)")
    types = _column_types(table_name)
    required = _not_null(table_name)
    serial = table.encoding == "xlsx"
    settings_rows = []
    for row in table.rows:
        cells = Cells(source.name, row, options.zone, batch.problems, serial=serial)
        values = _row_values(table_name, cells, types, required)
        if not cells.ok:
            continue
        if table_name == "settings":
            settings_rows.append(values)
        else:
            batch.add(table_name, values)
    batch.problems.extend(table.problems)
    batch.rows_read = len(table.rows) + len(table.problems)
    if settings_rows:
        batch.after_write = lambda con: _apply_settings(con, settings_rows)
    return batch


def _sniffer(table: str):
    def sniff(source: Source) -> bool:
        return table_of_header(_header(source), source) == table
    return sniff


LAYOUTS = [
    Layout("rapport " + table, f"Rapport's own layout: the {table} table",
           _sniffer(table), read)
    for table in EXPORTED
]


# ---------------------------------------------------------------------------
# Pseudonyms

_PREFIX = re.compile(r"^(\s*(re|fwd?|aw|sv|wg|tr|antw)\s*:\s*)+", re.IGNORECASE)


class Pseudonyms:
    """Stable pseudonyms: the same input always gives the same output.

    The hash is keyed, so someone holding only the export cannot confirm a
    guessed address by hashing it. The key is ``$RAPPORT_PSEUDONYM_KEY`` when
    set, else derived from the database's first import (so exports of one
    database agree with each other).
    """

    def __init__(self, key: bytes, automated_pattern: str):
        self.key = key
        self.automated = automated_pattern

    def tag(self, kind: str, text: str, size: int = 8) -> str:
        digest = hmac.new(self.key, f"{kind}\x00{text}".encode(), hashlib.sha256)
        return digest.hexdigest()[:size]

    def domain(self, domain: str | None) -> str | None:
        if not domain:
            return domain
        domain = domain.lower().strip().rstrip(".")
        registrable = people.registrable_domain(domain) or domain
        if registrable in people.FREEMAIL:
            return domain
        base = f"acct-{self.tag('domain', registrable)}.example"
        if domain in (registrable, "www." + registrable):
            return base
        return f"sub-{self.tag('subdomain', domain, 6)}.{base}"

    def email(self, address: str | None) -> str | None:
        if not address or "@" not in address:
            return self.name("text", address)
        address = address.strip().lower()
        local, _, domain = address.rpartition("@")
        if not people.is_automated(address, self.automated):
            local = "person-" + self.tag("email", address)
        return f"{local}@{self.domain(domain)}"

    def name(self, kind: str, text: str | None, label: str = "") -> str | None:
        if text is None or text == "":
            return text
        return f"{label or kind.title()} {self.tag(kind, text.strip().lower())}"

    def person_name(self, name: str | None, email: str | None) -> str | None:
        if not name:
            return name
        if email:
            return "Person " + self.tag("email", email.strip().lower())
        return self.name("person", name, "Person")

    def person_id(self, value: str | None) -> str | None:
        if value is None:
            return None
        for prefix in ("mailto:", "email:"):
            if value.startswith(prefix):
                return prefix + self.email(value[len(prefix):])
        return value

    def account_id(self, value: str | None) -> str | None:
        if value and value.startswith("domain:"):
            return "domain:" + self.domain(value[len("domain:"):])
        return value

    def message_id(self, value: str | None) -> str | None:
        if not value:
            return value
        return f"{self.tag('message', value.strip().strip('<>').lower(), 16)}@msg.example"

    def activity_id(self, value: str | None) -> str | None:
        if value and value.startswith("msg:"):
            return "msg:" + self.message_id(value[4:])
        return value

    def subject(self, value: str | None) -> str | None:
        if not value:
            return value
        prefix = _PREFIX.match(value)
        head = prefix.group(0) if prefix else ""
        rest = re.sub(r"\s+", " ", value[len(head):]).strip().lower()
        return f"{head}Subject {self.tag('subject', rest)}"

    def row(self, table: str, row: dict) -> dict:
        row = dict(row)
        if table == "accounts":
            domain = row.get("domain")
            if domain and row.get("name"):
                # The same hash as the pseudonymous domain: acct-<hash>.example.
                registrable = people.registrable_domain(domain) or domain
                row["name"] = f"Account {self.tag('domain', registrable)}"
            else:
                row["name"] = self.name("account", row.get("name"), "Account")
            row["domain"] = self.domain(domain)
            row["account_id"] = self.account_id(row["account_id"])
            row["parent_id"] = self.account_id(row.get("parent_id"))
        elif table == "people":
            row["name"] = self.person_name(row.get("name"), row.get("email"))
            row["email"] = self.email(row.get("email"))
            row["person_id"] = self.person_id(row["person_id"])
            row["crm_account_id"] = self.account_id(row.get("crm_account_id"))
            row["manager_id"] = self.person_id(row.get("manager_id"))
        elif table == "leads":
            row["name"] = self.person_name(row.get("name"), row.get("email"))
            row["email"] = self.email(row.get("email"))
            row["company"] = self.name("company", row.get("company"), "Company")
            row["owner_id"] = self.person_id(row.get("owner_id"))
        elif table == "opportunities":
            row["name"] = self.name("opportunity", row.get("name"), "Opportunity")
            row["account_id"] = self.account_id(row.get("account_id"))
            row["contact_id"] = self.person_id(row.get("contact_id"))
            row["owner_id"] = self.person_id(row.get("owner_id"))
        elif table == "opportunity_members":
            row["person_id"] = self.person_id(row["person_id"])
        elif table == "activities":
            row["activity_id"] = self.activity_id(row["activity_id"])
            row["subject"] = self.subject(row.get("subject"))
            row["initiator_id"] = self.person_id(row.get("initiator_id"))
            row["regarding_id"] = self.account_id(self.person_id(row.get("regarding_id")))
            row["message_id"] = self.message_id(row.get("message_id"))
            row["in_reply_to"] = self.message_id(row.get("in_reply_to"))
            if row.get("refs"):
                row["refs"] = " ".join(self.message_id(r) for r in row["refs"].split())
            if row.get("conversation_id"):
                row["conversation_id"] = "conv-" + self.tag("conversation",
                                                            row["conversation_id"], 16)
        elif table == "activity_parties":
            row["activity_id"] = self.activity_id(row["activity_id"])
            row["person_id"] = self.person_id(row["person_id"])
        elif table == "settings":
            row["value"] = self.setting(row["key"], row["value"])
        return row

    def setting(self, key: str, value: str) -> str:
        try:
            data = json.loads(value)
        except ValueError:
            return value
        if key in ("internal_domains", "excluded_domains") and isinstance(data, list):
            data = [self.domain(d) for d in data]
        elif key == "excluded_addresses" and isinstance(data, list):
            data = [self.email(a) for a in data]
        else:
            return value
        return json.dumps(data)


def pseudonym_key(con: duckdb.DuckDBPyConnection) -> bytes:
    if os.environ.get(ENV_KEY):
        return os.environ[ENV_KEY].encode()
    rows = con.execute(
        "SELECT checksum, started_at FROM imports ORDER BY import_id LIMIT 1").fetchall()
    seed = f"{rows[0][0]}|{rows[0][1]}" if rows else "rapport"
    return hashlib.sha256(b"rapport-pseudonyms\x00" + seed.encode()).digest()


# ---------------------------------------------------------------------------
# Export


def _cell(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "TIMESTAMP":
        text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
        return text + "Z"
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind == "DOUBLE":
        return repr(float(value))
    if kind in ("BIGINT", "INTEGER"):
        return str(int(value))
    return escape_cell(str(value))


def _order(table: str) -> str:
    from ingest.base import PRIMARY_KEYS

    keys = PRIMARY_KEYS.get(table, ("key",))
    return ", ".join(keys)


def export(con: duckdb.DuckDBPyConnection, folder: str | os.PathLike,
           pseudonymize: bool = False, *, key: bytes | None = None) -> list[Path]:
    """Write every canonical table to *folder* as ``<table>.csv``; the paths written."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    masks = None
    if pseudonymize:
        rules = settings_mod.load(con)
        masks = Pseudonyms(key or pseudonym_key(con), rules.automated_sender_pattern)
    written = []
    for table in EXPORTED:
        columns = layout_columns(table)
        types = _column_types(table)
        cursor = con.cursor()
        try:
            result = cursor.execute(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY {_order(table)}")
            path = target / f"{table}.csv"
            with open(path, "w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\r\n")
                writer.writerow(columns)
                while True:
                    chunk = result.fetchmany(10_000)
                    if not chunk:
                        break
                    for record in chunk:
                        row = dict(zip(columns, record))
                        if masks is not None:
                            row = masks.row(table, row)
                        writer.writerow([_cell(row[c], types[c]) for c in columns])
        finally:
            cursor.close()
        written.append(path)
    return written


__all__ = ["EXPORTED", "LAYOUTS", "Pseudonyms", "escape_cell", "export", "layout_columns",
           "read", "unescape_cell"]
