"""Undoing an import: every figure goes back to what it was before it.

While an import is written, :func:`journal` notes in ``import_journal``
every row the import touched: its table, its key, whether the row existed
before, and if so the row as it was (its pre-image, as JSON). The rows an
import writes are known from its batch; what a layout's ``after_write`` step
changes is found by comparing the tables before and after it.

:func:`undo_import` then walks the journal of one import, in one
transaction:

- a row no later import touched goes back to its pre-image, or is deleted
  when the import created it;
- a row a later import also touched stays as it is, and the later import's
  journal takes over this import's pre-image, so undoing that one later
  still restores what was there before both;
- the import's ``activity_sources`` rows go, its record in ``imports`` is
  kept with the outcome ``undone`` (so the same file can be imported again),
  and people are classified again, which also re-infers the internal domains
  and rebuilds the accounts derived from e-mail domains.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import duckdb
import pyarrow as pa

from rapport import people
from rapport.store import scalar, table_key, transaction

log = logging.getLogger(__name__)

JOURNAL = "import_journal"
# Bookkeeping tables: never journaled, undo handles them itself.
NOT_JOURNALED = {"imports", "settings", "meta", "mappings", "activity_sources", JOURNAL}
# Columns derived by people.classify(); recomputed after an undo, never compared.
DERIVED = {"people": {"person_key", "side", "account_id"}}


class UndoError(Exception):
    """An import that cannot be undone, with the reason."""


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    from rapport.store import TABLES

    con.execute(f"CREATE TABLE IF NOT EXISTS {JOURNAL} ({TABLES[JOURNAL]})")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows if name not in NOT_JOURNALED]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
        "AND database_name = current_database() AND schema_name = 'main' "
        "ORDER BY column_index", [table]).fetchall()


def _struct(columns: list[tuple[str, str]]) -> str:
    """A json_transform structure for *columns*: {"name": "TYPE", ...}."""
    import json

    return json.dumps({name: kind for name, kind in columns})


def _key_json(alias: str, key: list[str]) -> str:
    return "to_json({" + ", ".join(f"'{k}': {alias}.{_quote(k)}" for k in key) + "})::VARCHAR"


def _join(left: str, right: str, key: list[str]) -> str:
    return " AND ".join(f"{left}.{_quote(k)} = {right}.{_quote(k)}" for k in key)


# ---------------------------------------------------------------------------
# Recording


@contextlib.contextmanager
def journal(
    con: duckdb.DuckDBPyConnection,
    import_id: int,
    touched: dict[str, list[dict]] | None = None,
) -> Iterator[None]:
    """Note what the block changes for *import_id*.

    With *touched* (the rows a batch writes, by table) only those keys are
    noted, rows the batch leaves unchanged included, because the import
    brought them too. Without it every table is compared before and after.
    """
    ensure_table(con)
    # A marker row: this import has a journal, even when it changed nothing.
    con.execute(f"INSERT OR IGNORE INTO {JOURNAL} VALUES (?, '', '', false, NULL)",
                [import_id])
    if touched is not None:
        plans = _snapshot_keys(con, touched)
    else:
        plans = _snapshot_all(con)
    yield
    for table, key, snap, keys in plans:
        _record(con, import_id, table, key, snap, keys)
    for _, _, snap, keys in plans:
        con.execute(f"DROP TABLE IF EXISTS {snap}")
        if keys:
            with contextlib.suppress(duckdb.Error):
                con.unregister(keys)


def _snapshot_keys(con, touched: dict[str, list[dict]]) -> list[tuple]:
    plans = []
    for n, (table, rows) in enumerate(sorted(touched.items())):
        key = table_key(con, table) if rows else None
        if not key:
            continue
        seen = {tuple(None if row.get(k) is None else str(row[k]) for k in key)
                for row in rows}
        keys_name = f"_undo_keys_{n}"
        con.register(keys_name, pa.table({k: pa.array([s[i] for s in seen], pa.string())
                                          for i, k in enumerate(key)}))
        snap = f"_undo_snap_{n}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {snap} AS SELECT t.* FROM "
                    f"{_quote(table)} t SEMI JOIN {keys_name} k ON {_join('t', 'k', key)}")
        plans.append((table, key, snap, keys_name))
    return plans


def _snapshot_all(con) -> list[tuple]:
    plans = []
    for n, table in enumerate(_tables(con)):
        key = table_key(con, table)
        if not key:
            log.debug("undo journal: %s has no primary key and is not journaled", table)
            continue
        snap = f"_undo_full_{n}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {snap} AS SELECT * FROM {_quote(table)}")
        plans.append((table, key, snap, None))
    return plans


def _record(con, import_id: int, table: str, key: list[str], snap: str,
            keys_name: str | None) -> None:
    if keys_name is not None:
        keys_sql = f"SELECT * FROM {keys_name}"
    else:
        compared = [c for c, _ in _columns(con, table) if c not in DERIVED.get(table, set())]
        cols = ", ".join(_quote(c) for c in compared)
        keycols = ", ".join(_quote(k) for k in key)
        keys_sql = (
            f"SELECT {keycols} FROM (SELECT {cols} FROM {snap} EXCEPT "
            f"SELECT {cols} FROM {_quote(table)}) UNION "
            f"SELECT {keycols} FROM (SELECT {cols} FROM {_quote(table)} EXCEPT "
            f"SELECT {cols} FROM {snap})")
    first = _quote(key[0])
    con.execute(
        f"""INSERT OR IGNORE INTO {JOURNAL}
            SELECT ?, ?, {_key_json('k', key)}, s.{first} IS NOT NULL,
                   CASE WHEN s.{first} IS NOT NULL THEN to_json(s)::VARCHAR END
            FROM ({keys_sql}) k LEFT JOIN {snap} s ON {_join('s', 'k', key)}""",
        [import_id, table])


# ---------------------------------------------------------------------------
# Undoing


def undo_import(con: duckdb.DuckDBPyConnection, import_id: int) -> dict:
    """Remove what only import *import_id* brought, in one transaction.

    Returns counts of what changed: rows restored, rows deleted, rows kept
    because a later import also brought them. Raises :class:`UndoError` for
    an unknown import or one that is already undone.
    """
    ensure_table(con)
    outcome = scalar(con, "SELECT outcome FROM imports WHERE import_id = ?", [import_id])
    if outcome is None:
        raise UndoError(f"there is no import {import_id}; the import history lists them")
    if outcome != "imported":
        raise UndoError(f"import {import_id} is {outcome}; there is nothing to undo")
    if import_id not in undoable(con):
        raise UndoError(f"import {import_id} was stored before Rapport kept a record of "
                        "what each import changed, so it cannot be undone; build the "
                        "database again from the files you want")
    counts = {"restored": 0, "deleted": 0, "kept": 0}
    with transaction(con):
        tables = con.execute(
            f"SELECT DISTINCT table_name FROM {JOURNAL} WHERE import_id = ? "
            "AND table_name <> ''", [import_id]).fetchall()
        for (table,) in tables:
            for name, value in _undo_table(con, import_id, table).items():
                counts[name] += value
        con.execute(f"DELETE FROM {JOURNAL} WHERE import_id = ?", [import_id])
        con.execute("DELETE FROM activity_sources WHERE import_id = ?", [import_id])
        con.execute("UPDATE imports SET outcome = 'undone' WHERE import_id = ?", [import_id])
        people.refresh(con)
        # The figure tables follow in the same transaction, so every figure is
        # what it was before the import the moment the undo commits.
        from kpi import materialize
        materialize.recompute(con)
    log.debug("undo of import %s: %s", import_id, counts)
    return counts


def _undo_table(con, import_id: int, table: str) -> dict[str, int]:
    key = table_key(con, table)
    columns = _columns(con, table)
    if not key or not columns:
        return {}
    key_struct = _struct([(c, t) for c, t in columns if c in key])
    row_struct = _struct(columns)
    q = _quote(table)
    # Rows a later import also touched: it takes over this import's pre-image.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _undo_mine AS
            SELECT j.key, j.existed, j.before,
                   (SELECT min(l.import_id) FROM {JOURNAL} l
                    WHERE l.table_name = j.table_name AND l.key = j.key
                      AND l.import_id > j.import_id) AS later
            FROM {JOURNAL} j WHERE j.import_id = ? AND j.table_name = ?""",
        [import_id, table])
    kept = scalar(con, "SELECT count(*) FROM _undo_mine WHERE later IS NOT NULL")
    con.execute(
        f"""UPDATE {JOURNAL} SET existed = m.existed, before = m.before
            FROM _undo_mine m
            WHERE {JOURNAL}.table_name = ? AND {JOURNAL}.key = m.key
              AND {JOURNAL}.import_id = m.later""", [table])
    # Rows only this import touched: delete them, then put back pre-images.
    con.execute(
        f"""DELETE FROM {q} t USING (
                SELECT unnest(json_transform(key, '{key_struct}')) FROM _undo_mine
                WHERE later IS NULL) k
            WHERE {_join('t', 'k', key)}""")
    restored = scalar(con, "SELECT count(*) FROM _undo_mine WHERE later IS NULL AND existed")
    deleted = scalar(con, "SELECT count(*) FROM _undo_mine WHERE later IS NULL AND NOT existed")
    con.execute(
        f"""INSERT INTO {q} SELECT unnest(json_transform(before, '{row_struct}'))
            FROM _undo_mine WHERE later IS NULL AND existed""")
    con.execute("DROP TABLE _undo_mine")
    return {"restored": restored, "deleted": deleted, "kept": kept}


def undoable(con: duckdb.DuckDBPyConnection) -> set[int]:
    """Import ids that have a journal, so undo can restore what they changed.

    Reads only, so it works on the app's read-only connection; a database
    made before journals were kept has none.
    """
    try:
        rows = con.execute(f"SELECT DISTINCT import_id FROM {JOURNAL}").fetchall()
    except duckdb.CatalogException:
        return set()
    return {i for (i,) in rows}
