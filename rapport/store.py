"""The store: one DuckDB file holding Rapport's canonical tables.

Every part of Rapport reads and writes through :func:`connect`. Times are
stored as ``TIMESTAMP`` values in UTC (no zone attached); the display zone is a
setting applied only when figures are drawn.

The tables are documented in ``docs/store.md``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from typing import Iterator

import duckdb

ENV_DB = "RAPPORT_DB"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "data" / "rapport.duckdb"

SCHEMA_VERSION = 1

# Keys of the tables that grow with the activities. They are not declared as
# PRIMARY KEY: DuckDB keeps a declared key as an index in memory, which at
# millions of rows costs more time and memory than the import itself. The
# importers keep them unique instead, inserting only rows whose key is new
# (ingest.base), one import at a time; tests/test_store.py checks it.
UNINDEXED_KEYS: dict[str, tuple[str, ...]] = {
    "activities": ("activity_id",),
    "activity_parties": ("activity_id", "person_id", "role"),
    "activity_sources": ("activity_id", "import_id"),
}

# The canonical tables. Column order here is the column order of Rapport's own
# CSV layout (see ingest/canonical.py), so keep the two in step.
TABLES: dict[str, str] = {
    "accounts": """
        account_id   VARCHAR PRIMARY KEY,
        name         VARCHAR,
        domain       VARCHAR,
        industry     VARCHAR,
        employees    BIGINT,
        revenue      DOUBLE,
        country      VARCHAR,
        parent_id    VARCHAR,
        source       VARCHAR NOT NULL
    """,
    # One row per person as a source names them, ours or theirs. ``crm_kind``
    # says where the row came from (user, contact, lead, address). The last
    # three columns are derived by rapport.people.classify() from the CRM facts
    # and the settings, and recomputed whenever either changes: ``person_key``
    # joins the rows of one human (the lower-case address, else the id),
    # ``side`` is us, them or excluded, ``account_id`` the account of theirs.
    "people": """
        person_id       VARCHAR PRIMARY KEY,
        name            VARCHAR,
        email           VARCHAR,
        crm_kind        VARCHAR NOT NULL,
        crm_account_id  VARCHAR,
        opted_out       BOOLEAN NOT NULL DEFAULT false,
        manager_id      VARCHAR,
        region          VARCHAR,
        person_key      VARCHAR,
        side            VARCHAR NOT NULL DEFAULT 'them',
        account_id      VARCHAR
    """,
    "leads": """
        lead_id      VARCHAR PRIMARY KEY,
        name         VARCHAR,
        email        VARCHAR,
        company      VARCHAR,
        owner_id     VARCHAR,
        state        VARCHAR,
        created_at   TIMESTAMP
    """,
    "opportunities": """
        opportunity_id  VARCHAR PRIMARY KEY,
        name            VARCHAR,
        account_id      VARCHAR,
        contact_id      VARCHAR,
        owner_id        VARCHAR,
        state           VARCHAR NOT NULL,
        amount          DOUBLE,
        product         VARCHAR,
        created_at      TIMESTAMP,
        closed_at       TIMESTAMP
    """,
    # Sales team members and customer stakeholders of an opportunity.
    "opportunity_members": """
        opportunity_id  VARCHAR NOT NULL,
        person_id       VARCHAR NOT NULL,
        role            VARCHAR NOT NULL,
        PRIMARY KEY (opportunity_id, person_id, role)
    """,
    "activities": """
        activity_id       VARCHAR NOT NULL,
        type              VARCHAR NOT NULL,
        subject           VARCHAR,
        start_at          TIMESTAMP NOT NULL,
        end_at            TIMESTAMP,
        duration_minutes  DOUBLE,
        state             VARCHAR NOT NULL,
        direction         VARCHAR,
        initiator_id      VARCHAR,
        regarding_type    VARCHAR,
        regarding_id      VARCHAR,
        message_id        VARCHAR,
        in_reply_to       VARCHAR,
        refs              VARCHAR,
        conversation_id   VARCHAR,
        followed          BOOLEAN,
        opens             INTEGER,
        clicks            INTEGER,
        replies           INTEGER,
        attachment_opens  INTEGER
    """,
    "activity_parties": """
        activity_id  VARCHAR NOT NULL,
        person_id    VARCHAR NOT NULL,
        role         VARCHAR NOT NULL
    """,
    # Which import brought which activity. An activity seen in two sources has
    # two rows here and one in activities; undoing one import keeps it.
    "activity_sources": """
        activity_id  VARCHAR NOT NULL,
        import_id    BIGINT NOT NULL
    """,
    "imports": """
        import_id     BIGINT PRIMARY KEY,
        file          VARCHAR NOT NULL,
        checksum      VARCHAR NOT NULL,
        layout        VARCHAR NOT NULL,
        rows_read     BIGINT NOT NULL,
        rows_added    BIGINT NOT NULL,
        rows_skipped  BIGINT NOT NULL,
        started_at    TIMESTAMP NOT NULL,
        finished_at   TIMESTAMP NOT NULL,
        outcome       VARCHAR NOT NULL,
        problems      VARCHAR
    """,
    # What each import changed, so that it can be undone (ingest/undo.py).
    "import_journal": """
        import_id   BIGINT NOT NULL,
        table_name  VARCHAR NOT NULL,
        key         VARCHAR NOT NULL,
        existed     BOOLEAN NOT NULL,
        before      VARCHAR,
        PRIMARY KEY (import_id, table_name, key)
    """,
    "mappings": "name VARCHAR PRIMARY KEY, mapping VARCHAR NOT NULL",  # ingest/mapping.py
    "settings": """
        key    VARCHAR PRIMARY KEY,
        value  VARCHAR NOT NULL
    """,
    "meta": """
        key    VARCHAR PRIMARY KEY,
        value  VARCHAR NOT NULL
    """,
}

ACTIVITY_TYPES = ("email", "meeting", "call", "task")
ACTIVITY_STATES = ("completed", "scheduled", "canceled", "draft", "pending", "failed")
PARTY_ROLES = (
    "sender", "to", "cc", "bcc", "organizer", "required", "optional",
    "caller", "callee", "owner", "customer",
)


def db_path(path: str | os.PathLike | None = None) -> Path:
    """The database file to use: *path*, else ``$RAPPORT_DB``, else the default."""
    if path:
        return Path(path)
    if os.environ.get(ENV_DB):
        return Path(os.environ[ENV_DB])
    return DEFAULT_DB


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every canonical table that does not exist yet."""
    for name, columns in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
    con.execute("CREATE SEQUENCE IF NOT EXISTS import_ids START 1")
    con.execute(
        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
    )


def connect(
    path: str | os.PathLike | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the store, creating the file and its tables when needed."""
    target = db_path(path)
    if read_only:
        if not target.exists():
            raise FileNotFoundError(
                f"{target}: no Rapport database here. Import data first "
                "(python -m rapport import PATH) or choose another file with --db."
            )
        return duckdb.connect(str(target), read_only=True, config=duckdb_config())
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(target), config=duckdb_config())
    create_schema(con)
    return con


ENV_MEMORY = "RAPPORT_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"


ENV_THREADS = "RAPPORT_THREADS"


def duckdb_config() -> dict:
    """DuckDB settings of every connection.

    The memory limit keeps a large import or recompute from taking the whole
    machine: past it, DuckDB spills to a temporary folder beside the file.
    RAPPORT_THREADS caps DuckDB's threads (default: one per core); with a
    small memory limit, one thread lets a large import fit where several,
    each holding its own buffers, would run out (docs/performance.md).
    """
    memory = os.environ.get(ENV_MEMORY, "").strip() or DEFAULT_MEMORY_LIMIT
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory, re.I):
        raise ValueError(f"{ENV_MEMORY} must be an amount of memory such as 600MB or "
                         f"4GB; got {memory!r}")
    config = {"memory_limit": memory}
    threads = os.environ.get(ENV_THREADS, "").strip()
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise ValueError(f"{ENV_THREADS} must be a whole number of 1 or more; "
                             f"got {threads!r}")
        config["threads"] = int(threads)
    return config


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All of the block's writes, or none of them."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params=None):
    """The single value *sql* returns, or None when it returns no row.

    It fetches the whole result: DuckDB keeps a half-read result open and
    refuses further work on the connection until it is finished.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every canonical table (used by tests and the status line)."""
    return {
        name: scalar(con, f"SELECT count(*) FROM {name}")
        for name in TABLES
    }


def import_history(con: duckdb.DuckDBPyConnection):
    """Every import, newest first, as a DataFrame (the app's Data page)."""
    return con.execute(
        "SELECT import_id, file, layout, outcome, rows_read, rows_added, rows_skipped, "
        "started_at, finished_at, problems FROM imports ORDER BY import_id DESC"
    ).df()


class SharedConnection:
    """One process-wide connection; each thread reads through its own cursor.

    DuckDB connections are not safe to share between threads, but cursors made
    from one connection are. The app keeps one of these per database file.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False):
        self.path = db_path(path)
        self.read_only = read_only
        self._con = connect(self.path, read_only=read_only)
        self._local = threading.local()
        self.lock = threading.RLock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
        return cur

    def close(self) -> None:
        self._con.close()


def table_key(con: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    """The key columns of *table*: its PRIMARY KEY, else its UNINDEXED_KEYS."""
    rows = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = ? "
        "AND database_name = current_database() AND schema_name = 'main' "
        "AND constraint_type = 'PRIMARY KEY'", [table]).fetchall()
    if rows:
        return list(rows[0][0])
    return list(UNINDEXED_KEYS[table]) if table in UNINDEXED_KEYS else None
