"""Erasing a person: every row that names them, in one transaction.

``python -m rapport erase ADDRESS|ID`` calls :func:`erase_file`. The person
is found by e-mail address, person id or person key; every people row of the
same human goes (a CRM contact and the bare address a mailbox brought are one
person). Then, in one transaction:

- their parts in activities (``activity_parties``) go;
- an activity left with no party outside our own people (an e-mail between
  them and one seller, a call, a meeting about them) goes whole, with its
  ``activity_sources`` rows: what is left would still describe their contact
  with us. An activity that keeps other customers' parties stays, without
  them: where they initiated it or it was regarding them, that is cleared;
- leads that are them, their opportunity memberships, and references to
  them as a contact, owner or manager;
- the undo journal's rows that name them or the activities that went (undo
  then leaves those rows alone), and their address, id or name wherever an
  import's record (file name, listing of skipped rows) mentions it;
- the figure tables are rebuilt, people are classified again (so an account
  that existed only through their domain goes too).

A check then searches every text column of every table for the address and
the ids; if any remains, nothing is erased and the error says where. The
``settings`` table is the one exception: an address in ``excluded_addresses``
stays, so that the person stays invisible if a later import names them again.

DuckDB leaves deleted rows' bytes in the file's free blocks, so after the
transaction :func:`compact` rewrites the database into a new file and puts it
in place: the erased values are then gone from the disk, not only from the
tables. ``docs/privacy.md`` explains what is stored and why.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from rapport import people, store
from rapport.store import scalar

ERASED = "[erased]"
# Tables whose text is left as it is (see the module's docstring).
KEPT = {"settings", "meta"}
# Free text, where an address is erased wherever it stands ("from-ann@x.com.mbox");
# elsewhere only a whole address is (ann@x.com, not the other person jo.ann@x.com).
FREE_TEXT = {("imports", "file"), ("imports", "problems"), ("activities", "subject")}


class ErasureError(Exception):
    """The erasure could not be completed; nothing was changed."""


@dataclass
class Person:
    """Every trace by which the store names one human."""

    query: str
    person_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    lead_ids: set[str] = field(default_factory=set)

    @property
    def ids(self) -> set[str]:
        return self.person_ids | self.lead_ids

    def needles(self) -> list[str]:
        """The lower-case texts whose presence anywhere means the person is still there."""
        found = {e.lower() for e in self.emails} | {i.lower() for i in self.ids}
        return sorted(n for n in found if n)


def _strings(con, sql: str, params) -> set[str]:
    return {row[0] for row in con.execute(sql, params).fetchall() if row[0]}


def find(con: duckdb.DuckDBPyConnection, query: str) -> Person:
    """The person *query* names (an e-mail address, a person id or key, a lead id).

    Raises LookupError when nothing in the store names them.
    """
    text = query.strip()
    address = people.normalize_email(text)
    lowered = text.lower()
    person = Person(text)
    keys = _strings(con, "SELECT person_key FROM people WHERE person_id = ? "
                         "OR person_key = ? OR lower(email) = ?",
                    [text, address or lowered, address or lowered])
    if keys:
        person.person_ids = _strings(con, "SELECT person_id FROM people "
                                          "WHERE list_contains(?, person_key)", [sorted(keys)])
    else:
        person.person_ids = _strings(con, "SELECT DISTINCT person_id FROM activity_parties "
                                          "WHERE person_id = ?", [text])
    if address:
        person.emails.add(address)
        person.person_ids.add("mailto:" + address)
    if person.person_ids:
        ids = sorted(person.person_ids)
        person.emails |= {e.lower() for e in _strings(
            con, "SELECT email FROM people WHERE list_contains(?, person_id)", [ids])}
        person.names = _strings(con, "SELECT name FROM people WHERE list_contains(?, person_id)",
                                [ids])
    person.lead_ids = _strings(con, "SELECT lead_id FROM leads WHERE lead_id = ? "
                                    "OR list_contains(?, lower(email))",
                               [text, sorted(person.emails)])
    person.names |= _strings(con, "SELECT name FROM leads WHERE list_contains(?, lead_id)",
                             [sorted(person.lead_ids)])
    for email in list(person.emails):
        person.person_ids.add("mailto:" + email)
    present = scalar(con, """
        SELECT (SELECT count(*) FROM people WHERE list_contains($ids, person_id))
             + (SELECT count(*) FROM activity_parties WHERE list_contains($ids, person_id))
             + (SELECT count(*) FROM leads WHERE list_contains($ids, lead_id))""",
                     {"ids": sorted(person.ids)})
    if not present:
        raise LookupError(f"no person in the store has the address or id {text!r}")
    return person


def _tables(con) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary ORDER BY table_name").fetchall()
    return [name for (name,) in rows]


def _text_columns(con, table: str, *, keys: bool = True) -> list[str]:
    """The VARCHAR columns of *table* (without its primary key's, unless *keys*)."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ? AND data_type = 'VARCHAR' "
        "ORDER BY column_index", [table]).fetchall()
    names = [name for (name,) in rows]
    if not keys:
        skip = set(store.table_key(con, table) or ())
        names = [n for n in names if n not in skip]
    return names


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pattern(texts, *, loose: bool = False) -> str | None:
    """A regular expression matching any of *texts* as a whole word: an address
    ann@x.com matches in "Ann <ann@x.com>" but not inside joann@x.com. *loose*
    (for free text) also matches it next to a dot or dash: from-ann@x.com.mbox."""
    alternatives = "|".join(re.escape(t) for t in sorted(set(texts), key=len, reverse=True)
                            if t)
    if not alternatives:
        return None
    if loose:
        return f"(^|[^A-Za-z0-9])({alternatives})($|[^A-Za-z0-9])"
    return f"(^|[^A-Za-z0-9_.+-])({alternatives})($|[^A-Za-z0-9_.-])"


def traces(con: duckdb.DuckDBPyConnection, person: Person) -> dict[str, int]:
    """{table.column: rows} where any of the person's addresses or ids still appear."""
    regex = pattern(person.needles())
    loose = pattern(person.needles(), loose=True)
    found: dict[str, int] = {}
    if regex is None:
        return found
    for table in _tables(con):
        if table in KEPT:
            continue
        for column in _text_columns(con, table):
            which = loose if (table, column) in FREE_TEXT else regex
            count = scalar(con, f"SELECT count(*) FROM {_quote(table)} "
                                f"WHERE regexp_matches({_quote(column)}, ?, 'i')", [which])
            if count:
                found[f"{table}.{column}"] = count
    return found


def _exists(con, table: str) -> bool:
    return table in _tables(con)


def erase(con: duckdb.DuckDBPyConnection, query: str) -> dict:
    """Erase the person *query* names, in one transaction; counts of what went.

    Raises LookupError when no one matches, ErasureError (with nothing
    changed) when a trace of them would remain.
    """
    with store.transaction(con):
        person = find(con, query)
        ids = sorted(person.ids)
        counts: dict[str, int] = {}

        def count(sql: str, params) -> int:
            return scalar(con, f"SELECT count(*) FROM {sql}", params) or 0

        touched = sorted(_strings(con, """
            SELECT activity_id FROM activity_parties WHERE list_contains($ids, person_id)
            UNION SELECT activity_id FROM activities
            WHERE list_contains($ids, initiator_id) OR list_contains($ids, regarding_id)""",
                                  {"ids": ids}))
        counts["activity parties"] = count(
            "activity_parties WHERE list_contains(?, person_id)", [ids])
        con.execute("DELETE FROM activity_parties WHERE list_contains(?, person_id)", [ids])
        # An activity with no party left outside our own people goes whole.
        gone = sorted(_strings(con, """
            SELECT a.activity_id FROM activities a
            WHERE list_contains($touched, a.activity_id) AND NOT EXISTS (
                SELECT 1 FROM activity_parties ap LEFT JOIN people p USING (person_id)
                WHERE ap.activity_id = a.activity_id
                  AND (p.side IS NULL OR p.side = 'them'))""", {"touched": touched}))
        counts["activities"] = len(gone)
        con.execute("DELETE FROM activity_parties WHERE list_contains(?, activity_id)", [gone])
        con.execute("DELETE FROM activity_sources WHERE list_contains(?, activity_id)", [gone])
        con.execute("DELETE FROM activities WHERE list_contains(?, activity_id)", [gone])
        if _exists(con, "dataverse_ids"):
            con.execute("DELETE FROM dataverse_ids WHERE list_contains(?, activity_id)",
                        [gone])
        con.execute("UPDATE activities SET initiator_id = NULL "
                    "WHERE list_contains(?, initiator_id)", [ids])
        con.execute("UPDATE activities SET regarding_id = NULL, regarding_type = NULL "
                    "WHERE list_contains(?, regarding_id)", [ids])
        counts["leads"] = count("leads WHERE list_contains(?, lead_id)", [ids])
        con.execute("DELETE FROM leads WHERE list_contains(?, lead_id)", [ids])
        con.execute("UPDATE leads SET owner_id = NULL WHERE list_contains(?, owner_id)", [ids])
        counts["opportunity memberships"] = count(
            "opportunity_members WHERE list_contains(?, person_id)", [ids])
        con.execute("DELETE FROM opportunity_members WHERE list_contains(?, person_id)", [ids])
        con.execute("UPDATE opportunities SET contact_id = NULL "
                    "WHERE list_contains(?, contact_id)", [ids])
        con.execute("UPDATE opportunities SET owner_id = NULL "
                    "WHERE list_contains(?, owner_id)", [ids])
        con.execute("UPDATE people SET manager_id = NULL WHERE list_contains(?, manager_id)",
                    [ids])
        counts["people"] = count("people WHERE list_contains(?, person_id)", [ids])
        con.execute("DELETE FROM people WHERE list_contains(?, person_id)", [ids])
        counts["undo journal entries"] = _scrub_journal(con, person, gone)
        counts["import records"] = _scrub_imports(con, person)
        counts["other mentions"] = _scrub_text(con, person)
        people.refresh(con)
        _refresh_figures(con)
        left = traces(con, person)
        if left:
            where = ", ".join(f"{k} ({v} rows)" for k, v in sorted(left.items()))
            raise ErasureError(f"{query!r} would still appear in {where}, so nothing was "
                               "erased. A table Rapport does not clean holds it: report this")
    return counts


def _scrub_journal(con, person: Person, gone: list[str]) -> int:
    """Undo-journal rows that name the person or an activity that went."""
    if not _exists(con, "import_journal"):
        return 0
    regex = pattern(person.needles() + gone)
    if regex is None:
        return 0
    condition = ("regexp_matches(key, $re, 'i') OR "
                 "regexp_matches(coalesce(before, ''), $re, 'i')")
    removed = scalar(con, f"SELECT count(*) FROM import_journal WHERE {condition}",
                     {"re": regex})
    con.execute(f"DELETE FROM import_journal WHERE {condition}", {"re": regex})
    return removed


def _scrub_imports(con, person: Person) -> int:
    """Replace the person's address, ids and full name in the imports' records."""
    regex = pattern(person.needles() + [n for n in person.names if len(n.strip()) >= 5],
                    loose=True)
    if regex is None:
        return 0
    condition = ("regexp_matches(file, $re, 'i') OR "
                 "regexp_matches(coalesce(problems, ''), $re, 'i')")
    changed = scalar(con, f"SELECT count(*) FROM imports WHERE {condition}", {"re": regex})
    con.execute("UPDATE imports SET file = regexp_replace(file, $re, $to, 'gi'), "
                f"problems = regexp_replace(problems, $re, $to, 'gi') WHERE {condition}",
                {"re": regex, "to": "\\1" + ERASED + "\\3"})
    return changed


def _scrub_text(con, person: Person) -> int:
    """The person's address or ids inside any other text (a subject that names
    them, say), replaced; keys are left for the final check."""
    strict = pattern(person.needles())
    if strict is None:
        return 0
    loose = pattern(person.needles(), loose=True)
    skip = KEPT | {"import_journal", "imports"} | _figure_tables()
    changed = 0
    for table in _tables(con):
        if table in skip:
            continue
        for column in _text_columns(con, table, keys=False):
            regex = loose if (table, column) in FREE_TEXT else strict
            q = _quote(column)
            where = f"WHERE regexp_matches({q}, $re, 'i')"
            changed += scalar(con, f"SELECT count(*) FROM {_quote(table)} {where}",
                              {"re": regex}) or 0
            con.execute(f"UPDATE {_quote(table)} SET {q} = regexp_replace({q}, $re, $to, "
                        f"'gi') {where}", {"re": regex, "to": "\\1" + ERASED + "\\3"})
    return changed


def _figure_tables() -> set[str]:
    try:
        from kpi import materialize
    except ImportError:
        return set()
    return set(materialize.FIGURE_TABLES) | {"figure_inputs", "figure_meta"}


def _refresh_figures(con) -> None:
    try:
        from kpi import materialize
    except ImportError:
        return
    if any(_exists(con, t) for t in materialize.FIGURE_TABLES):
        materialize.recompute(con)


def compact(path: str | os.PathLike) -> None:
    """Rewrite the database file so that no freed block keeps erased bytes.

    The file must not be open elsewhere. The copy is written beside it and
    renamed into place, so the file is whole at every moment.
    """
    path = Path(path)
    fresh = path.with_name(path.name + ".compact")
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    con = duckdb.connect(str(path), config=store.duckdb_config())
    try:
        name = scalar(con, "SELECT current_database()")
        con.execute("ATTACH ? AS rapport_compact", [str(fresh)])
        con.execute(f"COPY FROM DATABASE {_quote(name)} TO rapport_compact")
        con.execute("DETACH rapport_compact")
    finally:
        con.close()
    os.replace(fresh, path)


def erase_file(path: str | os.PathLike, query: str) -> dict:
    """Erase the person *query* names from the database file *path*, then compact it."""
    con = store.connect(path)
    try:
        counts = erase(con, query)
    finally:
        con.close()
    compact(path)
    return counts
