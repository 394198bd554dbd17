"""What every importer shares: problems, batches and the one-transaction write.

An importer reads one file (or folder, or archive) into a :class:`Batch` of
rows shaped like the canonical tables, listing every row it could not read as a
:class:`Problem`. Nothing touches the database until :func:`write_batches`
stores all the batches of one import inside a single transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa

from ingest import undo
from rapport import people
from rapport.store import TABLES, UNINDEXED_KEYS, scalar, transaction

Progress = Callable[[float, str], None]

PRIMARY_KEYS = {
    "accounts": ("account_id",),
    "people": ("person_id",),
    "leads": ("lead_id",),
    "opportunities": ("opportunity_id",),
    "opportunity_members": ("opportunity_id", "person_id", "role"),
    "activities": ("activity_id",),
    "activity_parties": ("activity_id", "person_id", "role"),
}
# CRM records are replaced by a newer export of the same record; everything
# else keeps the first copy seen, so a second source never changes a figure.
REPLACE_TABLES = {"accounts", "leads", "opportunities"}


def columns_of(table: str) -> list[str]:
    """Column names of a canonical table, in order."""
    names = []
    for line in TABLES[table].strip().splitlines():
        word = line.strip().split()[0]
        if word != "PRIMARY":
            names.append(word)
    return names


@dataclass
class Problem:
    """One thing that stops a row (or a file) from being read."""

    file: str
    row: int | None
    column: str | None
    reason: str
    fix: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.reason}. {self.fix}"

    def to_dict(self) -> dict:
        return {
            "file": self.file, "row": self.row, "column": self.column,
            "reason": self.reason, "fix": self.fix,
        }


class ImportProblem(Exception):
    """An import that stored nothing, with the problems that stopped it."""

    def __init__(self, problems: list[Problem], *, skippable: bool = False):
        self.problems = problems
        self.skippable = skippable
        lines = [str(p) for p in problems[:20]]
        if len(problems) > 20:
            lines.append(f"... and {len(problems) - 20} more")
        if skippable:
            lines.append(
                "Nothing was imported. Fix these rows, or import again with "
                "--skip-invalid to store the other rows without them."
            )
        else:
            lines.append("Nothing was imported.")
        super().__init__("\n".join(lines))


def file_error(file: str | Path, reason: str, fix: str, row=None, column=None) -> ImportProblem:
    """A whole file that cannot be read."""
    return ImportProblem([Problem(str(file), row, column, reason, fix)])


@dataclass
class Batch:
    """The rows one source file will add, before anything is written."""

    file: str
    layout: str
    checksum: str = ""
    rows_read: int = 0
    tables: dict[str, list[dict]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Work that needs the rows of the other files of the import or of earlier
    # imports (a Dataverse activityparty row names an activity of another
    # file): run inside the transaction after every batch is written.
    after_write: Callable[[duckdb.DuckDBPyConnection], None] | None = None

    def add(self, table: str, row: dict) -> None:
        self.tables.setdefault(table, []).append(row)

    def count(self, table: str) -> int:
        return len(self.tables.get(table, []))


@dataclass
class ImportResult:
    file: str
    layout: str
    outcome: str  # imported | already imported
    rows_read: int = 0
    rows_added: int = 0
    rows_skipped: int = 0
    import_id: int | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "file": self.file, "layout": self.layout, "outcome": self.outcome,
            "rows_read": self.rows_read, "rows_added": self.rows_added,
            "rows_skipped": self.rows_skipped, "import_id": self.import_id,
            "problems": [p.to_dict() for p in self.problems],
        }


def _arrow(table: str, rows: list[dict]) -> pa.Table:
    """The rows as an Arrow table holding the columns any row sets."""
    present = set().union(*(row.keys() for row in rows))
    unknown = present - set(columns_of(table))
    if unknown:
        raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
    names = [name for name in columns_of(table) if name in present]
    return pa.table({
        name: [row.get(name) for row in rows] if _keeps_length(name)
        else [_clip(row.get(name)) for row in rows]
        for name in names})


def _keeps_length(column: str) -> bool:
    """Ids and message links are compared, never drawn: they are never cut."""
    return column.endswith("_id") or column in ("refs", "in_reply_to", "email",
                                                  "checksum", "file", "problems")


# Text longer than this is cut (subjects, names): no real subject or name is
# this long, and a page must never have to draw megabytes of one cell.
MAX_TEXT = 1000


def _clip(value):
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[: MAX_TEXT - 1] + "…"
    return value


@contextlib.contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, frame: pa.Table):
    con.register(name, frame)
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    frame = _arrow(table, rows)
    names = frame.column_names
    with _registered(con, "_incoming", frame):
        keys = ", ".join(PRIMARY_KEYS[table])
        cols = ", ".join(names)
        select = (
            f"SELECT {cols} FROM _incoming "
            f"QUALIFY row_number() OVER (PARTITION BY {keys}) = 1"
        )
        con.execute(insert_sql(table, cols, select))


def insert_sql(table: str, cols: str, select: str) -> str:
    """INSERT of *select*'s rows into *table* by the table's rule: CRM records
    replace their older copy, other rows are added only when their key is
    new (for the unindexed tables of rapport.store, by an anti-join)."""
    if table in UNINDEXED_KEYS:
        match = " AND ".join(f"t.{k} = s.{k}" for k in UNINDEXED_KEYS[table])
        return (f"INSERT INTO {table} ({cols}) SELECT {cols} FROM ({select}) s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})")
    verb = "INSERT OR REPLACE" if table in REPLACE_TABLES else "INSERT OR IGNORE"
    return f"{verb} INTO {table} ({cols}) {select}"


def _add_people(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """People from a CRM replace earlier rows; bare addresses never do."""
    crm = [r for r in rows if r.get("crm_kind") != "address"]
    addresses = [r for r in rows if r.get("crm_kind") == "address"]
    if crm:
        for row in crm:
            for name in ("name", "email", "crm_account_id", "manager_id", "region"):
                row.setdefault(name, None)
            row.setdefault("opted_out", False)
        frame = _arrow("people", crm)
        with _registered(con, "_incoming", frame):
            con.execute(
                """
                INSERT OR REPLACE INTO people
                    (person_id, name, email, crm_kind, crm_account_id, opted_out,
                     manager_id, region)
                SELECT person_id, name, email, crm_kind, crm_account_id,
                       coalesce(opted_out, false), manager_id, region
                FROM _incoming
                QUALIFY row_number() OVER (PARTITION BY person_id) = 1
                """
            )
    if addresses:
        for row in addresses:
            row.setdefault("opted_out", False)
        _insert(con, "people", addresses)


def already_imported(con: duckdb.DuckDBPyConnection, checksum: str) -> int | None:
    return scalar(
        con,
        "SELECT min(import_id) FROM imports WHERE checksum = ? AND outcome = 'imported'",
        [checksum],
    )


def write_batches(
    con: duckdb.DuckDBPyConnection,
    batches: list[Batch],
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> list[ImportResult]:
    """Store *batches* in one transaction: all of them or none.

    A batch whose checksum was imported before adds nothing. Row problems stop
    the import unless *skip_invalid*; then the rows are left out and listed
    with the import's record.
    """
    blocking = [p for b in batches for p in b.problems]
    if blocking and not skip_invalid:
        raise ImportProblem(blocking, skippable=True)
    results: list[ImportResult] = []
    with transaction(con):
        for i, batch in enumerate(batches):
            if progress:
                progress(i / max(len(batches), 1), f"Storing {batch.file}")
            previous = already_imported(con, batch.checksum)
            if previous is not None:
                results.append(ImportResult(batch.file, batch.layout, "already imported",
                                            rows_read=batch.rows_read, import_id=previous))
                continue
            results.append(_write_one(con, batch))
        written = [(b, r) for b, r in zip(batches, results) if r.outcome == "imported"]
        for batch, result in written:
            if batch.after_write:
                with undo.journal(con, result.import_id):
                    batch.after_write(con)
        if progress:
            progress(0.95, "Classifying people and accounts")
        people.refresh(con)
        # Figure tables follow in the same transaction (kpi/materialize.py).
        from kpi import materialize
        materialize.after_write(con, touched_activities(
            [b for b, r in zip(batches, results) if r.outcome == "imported"]))
    if progress:
        progress(1.0, "Done")
    return results


def touched_activities(batches: list[Batch]) -> set[str]:
    """Ids of the activities *batches* write or add parties to."""
    return {row["activity_id"] for batch in batches
            for table in ("activities", "activity_parties")
            for row in batch.tables.get(table, [])}


def _write_one(con: duckdb.DuckDBPyConnection, batch: Batch) -> ImportResult:
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    import_id = scalar(con, "SELECT nextval('import_ids')")
    before = scalar(con, "SELECT count(*) FROM activities")
    with undo.journal(con, import_id, batch.tables):
        for table in ("accounts", "leads", "opportunities", "opportunity_members",
                      "activities", "activity_parties"):
            _insert(con, table, batch.tables.get(table, []))
        _add_people(con, batch.tables.get("people", []))
    activity_ids = sorted({row["activity_id"] for row in batch.tables.get("activities", [])})
    if activity_ids:
        with _registered(con, "_ids", pa.table({"activity_id": activity_ids})):
            con.execute(
                insert_sql("activity_sources", "activity_id, import_id",
                           "SELECT activity_id, ? AS import_id FROM _ids"),
                [import_id],
            )
    added = scalar(con, "SELECT count(*) FROM activities") - before
    finished = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'imported', ?)",
        [import_id, batch.file, batch.checksum, batch.layout, batch.rows_read, added,
         len(batch.problems), started, finished,
         json.dumps([p.to_dict() for p in batch.problems])],
    )
    return ImportResult(batch.file, batch.layout, "imported", rows_read=batch.rows_read,
                        rows_added=added, rows_skipped=len(batch.problems),
                        import_id=import_id, problems=batch.problems)
