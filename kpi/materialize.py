"""Figure tables: what the pages read, computed ahead instead of on every view.

Three tables hold the result of the one definition in :mod:`kpi.scope` for
every record at once, in record order so that a page reads a few rows:

- ``record_activity``: one row per record and activity that belongs to it
  (all states), with the activity's columns and who initiated it;
- ``record_party``: one row per record, activity and visible party;
- ``record_day``: per record and calendar day of the display zone, completed
  emails, meetings and calls by initiating side, and the day's last one.

``figure_inputs`` keeps a fingerprint of what membership depends on besides
the activities (people's sides and accounts, leads, opportunities and their
members), and ``figure_meta`` when and under which settings the tables were
computed. :func:`after_write` runs inside the import transaction and
refreshes only the records the import touched; :func:`recompute` rebuilds
everything (``python -m rapport recompute``, and after a settings change).
:func:`is_fresh` tells a reader whether the tables match the store; when
they do not, :mod:`kpi.core` computes from the canonical tables instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import hashlib
import json
import time
from typing import Iterable, Iterator

import duckdb
import pyarrow as pa

from kpi import scope
from rapport import settings as settings_mod
from rapport.store import scalar

FIGURE_TABLES = ("record_activity", "record_party", "record_day")
# Above this share of the store's activities an import rebuilds everything:
# one pass over all is cheaper than many small deletes and inserts.
FULL_SHARE = 0.2
# Settings that change which rows the figure tables hold.
FIGURE_SETTINGS = ("internal_domains", "excluded_addresses", "excluded_domains",
                   "automated_sender_pattern", "display_timezone")

# What membership reads besides the activities, one row per fact. A change in
# any row means the record (or the person's activities) must be recomputed.
INPUTS = """
SELECT 'account' AS kind, account_id AS id, '' AS fact FROM accounts
UNION ALL
SELECT 'lead', lead_id, coalesce(owner_id, '') || '|' || coalesce(lower(email), '')
FROM leads
UNION ALL
SELECT 'opportunity', opportunity_id,
       coalesce(owner_id, '') || '|' || coalesce(contact_id, '') || '|' ||
       coalesce(CAST(created_at AS VARCHAR), '') || '|' ||
       coalesce(CAST(closed_at AS VARCHAR), '')
FROM opportunities
UNION ALL
SELECT 'opportunity', opportunity_id, 'member|' || person_id || '|' || role
FROM opportunity_members
UNION ALL
SELECT 'person', person_id,
       coalesce(person_key, '') || '|' || side || '|' || coalesce(account_id, '') || '|' ||
       coalesce(name, '') || '|' || coalesce(email, '')
FROM people
"""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                            "AND database_name = current_database()", [table]))


def fingerprint(current: settings_mod.Settings) -> str:
    """A short hash of the settings that change the figure tables' rows."""
    values = {name: getattr(current, name) for name in FIGURE_SETTINGS}
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


STATE_SQL = ("SELECT (SELECT count(*) FROM imports), (SELECT count(*) FROM activities), "
             "(SELECT count(*) FROM activity_parties)")


def _state(con: duckdb.DuckDBPyConnection) -> dict:
    """What the store looks like now, as the figure tables record it."""
    imports, activities, parties = con.execute(STATE_SQL).fetchall()[0]
    return {"imports": imports or 0, "activities": activities or 0, "parties": parties or 0}


# Inside :func:`reading`, what meta() and is_fresh() found, per connection.
_READING: contextvars.ContextVar[dict | None] = contextvars.ContextVar("_READING",
                                                                       default=None)


@contextlib.contextmanager
def reading(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Read the figure tables' record once for a group of reads.

    A page asks "are the figure tables up to date?" before each of its
    queries; within this block the first answer stands for all of them, so
    the block must not write. Blocks nest; the outermost one decides.
    """
    cache = _READING.get()
    if cache is not None:
        yield
        return
    token = _READING.set({})
    try:
        yield
    finally:
        _READING.reset(token)


def reads(func):
    """Run *func(con, ...)* inside :func:`reading` of its connection."""
    @functools.wraps(func)
    def wrapper(con, *args, **kwargs):
        with reading(con):
            return func(con, *args, **kwargs)
    return wrapper


def _cached(con, what: str, compute):
    cache = _READING.get()
    if cache is None:
        return compute()
    key = (id(con), what)
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def settings(con: duckdb.DuckDBPyConnection, load) -> settings_mod.Settings:
    """*load(con)*, read once per :func:`reading` block."""
    return _cached(con, "settings", lambda: load(con))


def meta(con: duckdb.DuckDBPyConnection) -> dict:
    """The figure tables' own record: computed_at, settings, store state."""
    return _cached(con, "meta", lambda: _read_meta(con))


def _read_meta(con: duckdb.DuckDBPyConnection) -> dict:
    # A failed query would abort the caller's transaction: look before reading.
    if not _exists(con, "figure_meta"):
        return {}
    rows = con.execute("SELECT key, value FROM figure_meta").fetchall()
    return {k: json.loads(v) for k, v in rows}


_FINGERPRINTS: dict[tuple, str] = {}


def is_fresh(con: duckdb.DuckDBPyConnection,
             current: settings_mod.Settings | None = None) -> bool:
    """True when the figure tables hold exactly what the store implies:
    computed under the current settings, for the rows the store now has."""
    if current is not None:
        return _is_fresh(con, current)
    return _cached(con, "fresh", lambda: _is_fresh(con, None))


def _is_fresh(con, current: settings_mod.Settings | None) -> bool:
    info = meta(con)
    if not info:
        return False
    if current is not None:
        wanted = fingerprint(current)
    else:
        raw = tuple(sorted(con.execute("SELECT key, value FROM settings").fetchall()))
        wanted = _FINGERPRINTS.get(raw)
        if wanted is None:
            wanted = _FINGERPRINTS[raw] = fingerprint(settings_mod.load(con))
    return info.get("settings") == wanted and info.get("state") == _state(con)


def computed_at(con: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """When the figure tables were last computed (None when there are none)."""
    value = meta(con).get("computed_at")
    return dt.datetime.fromisoformat(value) if value else None


def _write_meta(con, current: settings_mod.Settings, seconds: float, how: str) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS figure_meta (key VARCHAR PRIMARY KEY, "
                "value VARCHAR NOT NULL)")
    first, last, completed = con.execute(
        "SELECT min(start_at), max(start_at), count(*) FROM activities "
        "WHERE state = 'completed'").fetchall()[0]
    extent = {"first_at": first.isoformat() if first else None,
              "last_at": last.isoformat() if last else None, "completed": completed}
    rows = {"computed_at": _now().isoformat(), "settings": fingerprint(current),
            "zone": current.display_timezone, "state": _state(con), "extent": extent,
            "seconds": round(seconds, 3), "how": how}
    cache = _READING.get()
    if cache is not None:
        cache.clear()
    con.execute("DELETE FROM figure_meta")
    con.executemany("INSERT INTO figure_meta VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in rows.items()])


def _build(con: duckdb.DuckDBPyConnection, zone: str, sources: dict | None = None,
           member_filter: str = "", into: str = "CREATE OR REPLACE TABLE {table} AS",
           where: str = "") -> None:
    """Compute membership once, then each figure table from it.

    The shared expressions (party, counted, record_members) are computed once
    into temporary tables of the same names, which the statements of
    :mod:`kpi.scope` then read.
    """
    base = scope.base_ctes(sources)
    for name in ("party", "counted"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS WITH {base} SELECT * FROM {name}")
    con.execute("CREATE OR REPLACE TEMP TABLE record_members AS "
                f"WITH {scope.MEMBERS.format(member_filter=member_filter)} "
                f"{scope.RECORD_MEMBERS} {where}")
    for table in ("record_activity", "record_party"):
        body = scope.RECORD_ACTIVITY if table == "record_activity" else scope.RECORD_PARTY
        order = f"ORDER BY {scope.RECORD_ORDER}" if into.startswith("CREATE") else ""
        con.execute(f"{into.format(table=table)} {body} {order}")
    for name in ("record_members", "counted", "party"):
        con.execute(f"DROP TABLE {name}")
    if into.startswith("CREATE"):
        con.execute(f"CREATE OR REPLACE TABLE record_day AS "
                    f"{scope.record_day_sql('record_activity', zone)} "
                    "ORDER BY record_type, record_id, day")


def recompute(con: duckdb.DuckDBPyConnection,
              current: settings_mod.Settings | None = None) -> dict:
    """Rebuild every figure table from the canonical tables.

    Runs inside the caller's transaction when there is one. Returns the row
    counts and the seconds it took.
    """
    started = time.perf_counter()
    current = current or settings_mod.load(con)
    zone = current.display_timezone
    _build(con, zone)
    con.execute(f"CREATE OR REPLACE TABLE figure_inputs AS {INPUTS}")
    seconds = time.perf_counter() - started
    _write_meta(con, current, seconds, "full")
    return {**{t: scalar(con, f"SELECT count(*) FROM {t}") for t in FIGURE_TABLES},
            "seconds": round(seconds, 3)}


def _changed_inputs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(kind, id) of every input fact that differs from the last computation."""
    return con.execute(
        f"""WITH now AS ({INPUTS})
        SELECT DISTINCT kind, id FROM (
            (SELECT * FROM now EXCEPT SELECT * FROM figure_inputs)
            UNION ALL
            (SELECT * FROM figure_inputs EXCEPT SELECT * FROM now))"""
    ).fetchall()


# DuckDB numbers the rows a transaction appends from here on until it commits
# (MAX_ROW_ID), so inside the import transaction they are the import's rows.
LOCAL_ROW_ID = 36028797018960000


def _new_rows(con, table: str) -> list[str]:
    """Activity ids of the rows this transaction appended to *table*."""
    return [a for (a,) in con.execute(
        f"SELECT DISTINCT activity_id FROM {table} WHERE rowid >= {LOCAL_ROW_ID}").fetchall()]


def after_write(con: duckdb.DuckDBPyConnection,
                touched_activity_ids: Iterable[str] = ()) -> dict:
    """Bring the figure tables up to date after an import, in its transaction.

    *touched_activity_ids* are the activities the import wrote or gave new
    parties; rows appended since the last computation and changed people,
    leads, opportunities and accounts are found here as well. Only the
    records of those are recomputed; with no figure tables yet, or with a
    large share of the store touched, everything is.
    """
    current = settings_mod.load(con)
    info = meta(con)
    if (not info or info.get("settings") != fingerprint(current)
            or not all(_exists(con, t) for t in (*FIGURE_TABLES, "figure_inputs"))):
        return recompute(con, current)
    started = time.perf_counter()
    touched = set(touched_activity_ids)
    touched.update(_new_rows(con, "activities"))
    touched.update(_new_rows(con, "activity_parties"))
    changed = _changed_inputs(con)
    people_changed = [i for kind, i in changed if kind == "person"]
    records = [(kind, i) for kind, i in changed if kind != "person"]
    if people_changed:
        with _registered(con, "_people_changed", pa.table({"person_id": people_changed})):
            touched.update(a for (a,) in con.execute(
                """SELECT activity_id FROM activity_parties
                   WHERE person_id IN (SELECT person_id FROM _people_changed)
                   UNION
                   SELECT activity_id FROM activities
                   WHERE initiator_id IN (SELECT person_id FROM _people_changed)
                      OR regarding_id IN (SELECT person_id FROM _people_changed)"""
            ).fetchall())
    total = scalar(con, "SELECT count(*) FROM activities") or 0
    if len(touched) > FULL_SHARE * max(total, 1) or len(records) > FULL_SHARE * max(total, 1):
        return recompute(con, current)
    zone = current.display_timezone
    ids = pa.table({"activity_id": pa.array(sorted(touched), pa.string())})
    recs = pa.table({"record_type": pa.array([k for k, _ in records], pa.string()),
                     "record_id": pa.array([i for _, i in records], pa.string())})
    with _registered(con, "_touched", ids), _registered(con, "_records", recs):
        con.execute("CREATE OR REPLACE TEMP TABLE _affected AS "
                    "SELECT DISTINCT record_type, record_id FROM record_activity "
                    "WHERE activity_id IN (SELECT activity_id FROM _touched) "
                    "UNION SELECT record_type, record_id FROM _records")
        for table in ("record_activity", "record_party"):
            con.execute(f"DELETE FROM {table} WHERE activity_id IN "
                        "(SELECT activity_id FROM _touched)")
            con.execute(f"DELETE FROM {table} WHERE (record_type, record_id) IN "
                        "(SELECT record_type, record_id FROM _records)")
        restricted = {
            "activities": "(SELECT * FROM activities WHERE activity_id IN "
                          "(SELECT activity_id FROM _touched))",
            "activity_parties": "(SELECT * FROM activity_parties WHERE activity_id IN "
                                "(SELECT activity_id FROM _touched))",
        }
        if len(ids):
            _build(con, zone, restricted, into="INSERT INTO {table}")
        if len(recs):
            # Rows of touched activities were inserted just above.
            _build(con, zone, None, into="INSERT INTO {table}",
                   where="WHERE (record_type, record_id) IN (SELECT record_type, record_id "
                         "FROM _records) AND activity_id NOT IN "
                         "(SELECT activity_id FROM _touched)")
        con.execute("INSERT INTO _affected SELECT DISTINCT record_type, record_id "
                    "FROM record_activity WHERE activity_id IN "
                    "(SELECT activity_id FROM _touched)")
        con.execute("DELETE FROM record_day WHERE (record_type, record_id) IN "
                    "(SELECT record_type, record_id FROM _affected)")
        con.execute("INSERT INTO record_day " + scope.record_day_sql(
            "record_activity", zone,
            "AND (record_type, record_id) IN (SELECT record_type, record_id FROM _affected)"))
        affected = scalar(con, "SELECT count(DISTINCT (record_type, record_id)) FROM _affected")
        con.execute("DROP TABLE _affected")
    con.execute(f"CREATE OR REPLACE TABLE figure_inputs AS {INPUTS}")
    seconds = time.perf_counter() - started
    _write_meta(con, current, seconds, "incremental")
    return {"activities": len(touched), "records": int(affected or 0),
            "seconds": round(seconds, 3)}


class _registered:
    def __init__(self, con, name, table):
        self.con, self.name, self.table = con, name, table

    def __enter__(self):
        self.con.register(self.name, self.table)

    def __exit__(self, *exc):
        try:
            self.con.unregister(self.name)
        except duckdb.Error:
            pass
