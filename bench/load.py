"""Loading a canonical folder into a store, two ways.

- :func:`import_folder`: Rapport's own import (ingest.canonical through
  ``ingest.run_import``): every row read and checked in Python, one transaction.
- :func:`bulk_import`: the same result for a folder of well-formed files, with
  DuckDB reading the CSV files itself. Same transaction, same insert rules as
  ``ingest.base.write_batches`` (new activities, parties and bare addresses
  are added, CRM records replace older copies), the same classification of
  people and the same refresh of the figure tables; no row checks.
- :func:`batch_of`: generated tables as one ``ingest.base.Batch`` (small data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pyarrow as pa

from bench.generate import TABLE_ORDER, layout_columns
from ingest.base import Batch, PRIMARY_KEYS, insert_sql, write_batches
from rapport import people
from rapport.store import scalar, transaction


def batch_of(tables: dict[str, pa.Table], name: str = "generated") -> Batch:
    """All generated rows as one batch for ``write_batches``."""
    batch = Batch(file=f"{name}.csv", layout="generated",
                  checksum="sha256:" + hashlib.sha256(name.encode()).hexdigest())
    for table in TABLE_ORDER:
        rows = tables[table].to_pylist()
        batch.tables[table] = rows
        batch.rows_read += len(rows)
    return batch


def import_folder(con: duckdb.DuckDBPyConnection, folder: str | Path) -> list:
    """Rapport's import of every CSV file of *folder*, as the command line does."""
    from ingest import run_import

    paths = [str(Path(folder) / f"{t}.csv") for t in TABLE_ORDER]
    return run_import(con, paths)


def _types(table: str) -> dict[str, str]:
    from rapport.store import TABLES

    types = {}
    for line in TABLES[table].strip().splitlines():
        words = line.strip().rstrip(",").split()
        if words and words[0] != "PRIMARY":
            types[words[0]] = words[1]
    return {c: types[c] for c in layout_columns(table)}


def _reader(path: Path, table: str) -> str:
    columns = ", ".join(f"'{c}': '{t}'" for c, t in _types(table).items())
    return (f"read_csv('{path}', header = true, columns = {{{columns}}}, "
            "timestampformat = '%Y-%m-%d %H:%M:%S.%f')")


def bulk_import(con: duckdb.DuckDBPyConnection, folder: str | Path, *,
                figures: bool = True) -> dict:
    """Load a folder of canonical CSV files in one transaction (see above).

    *figures* False leaves the figure tables alone (for data that only a
    figure-independent measurement reads).
    """
    from kpi import materialize

    folder = Path(folder)
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    counts = {}
    with transaction(con):
        import_id = scalar(con, "SELECT nextval('import_ids')")
        before = scalar(con, "SELECT count(*) FROM activities")
        for table in TABLE_ORDER:
            path = folder / f"{table}.csv"
            cols = ", ".join(layout_columns(table))
            source = _reader(path, table)
            if table == "people":
                con.execute(f"INSERT OR REPLACE INTO people ({cols}) SELECT {cols} "
                            f"FROM {source} WHERE crm_kind <> 'address'")
                con.execute(f"INSERT OR IGNORE INTO people ({cols}) SELECT {cols} "
                            f"FROM {source} WHERE crm_kind = 'address'")
            else:
                keys = ", ".join(PRIMARY_KEYS[table])
                con.execute(insert_sql(
                    table, cols, f"SELECT {cols} FROM {source} "
                                 f"QUALIFY row_number() OVER (PARTITION BY {keys}) = 1"))
            counts[table] = scalar(con, f"SELECT count(*) FROM {table}")
        con.execute(insert_sql("activity_sources", "activity_id, import_id",
                               "SELECT DISTINCT activity_id, ? AS import_id FROM "
                               + _reader(folder / "activities.csv", "activities")),
                    [import_id])
        added = scalar(con, "SELECT count(*) FROM activities") - before
        finished = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        con.execute(
            "INSERT INTO imports (import_id, file, checksum, layout, rows_read, rows_added, "
            "rows_skipped, started_at, finished_at, outcome, problems) "
            "VALUES (?, ?, ?, 'bulk canonical', ?, ?, 0, ?, ?, 'imported', '[]')",
            [import_id, str(folder), f"bulk:{folder}", sum(counts.values()), added,
             started, finished])
        people.refresh(con)
        refreshed = materialize.after_write(con, ()) if figures else None
    return {"rows": counts, "activities_added": added, "figures": refreshed}


__all__ = ["batch_of", "bulk_import", "import_folder", "write_batches"]
