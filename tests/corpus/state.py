"""What a database holds, as one hash per table: to tell "unchanged" for sure."""

from __future__ import annotations

import hashlib

import duckdb


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table of the database file (the canonical ones and any an importer
    or the figure layer added), by name."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary ORDER BY table_name").fetchall()
    return [name for (name,) in rows]


def table_hash(con: duckdb.DuckDBPyConnection, table: str,
               exclude: tuple[str, ...] = ()) -> str:
    """A hash of *table*'s rows, all columns but *exclude*, in a fixed order."""
    digest = hashlib.sha256()
    columns = "* EXCLUDE (" + ", ".join(exclude) + ")" if exclude else "*"
    cursor = con.execute(f'SELECT {columns} FROM "{table}" ORDER BY ALL')
    while True:
        chunk = cursor.fetchmany(10_000)
        if not chunk:
            break
        for row in chunk:
            digest.update(repr(row).encode("utf-8", "surrogatepass"))
            digest.update(b"\n")
    return digest.hexdigest()


def hashes(con: duckdb.DuckDBPyConnection, only: tuple[str, ...] | None = None,
           exclude: dict[str, tuple[str, ...] | None] | None = None) -> dict[str, str]:
    """{table: hash} for every table (or the tables named in *only*).

    *exclude* maps a table to the columns left out of its hash (the times an
    import ran, say), or to None to leave the table out altogether.
    """
    exclude = exclude or {}
    names = tables(con) if only is None else [t for t in tables(con) if t in only]
    return {name: table_hash(con, name, exclude.get(name) or ())
            for name in names if not (name in exclude and exclude[name] is None)}


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Tables whose content differs, or that appeared or went."""
    return sorted(name for name in set(before) | set(after)
                  if before.get(name) != after.get(name))
