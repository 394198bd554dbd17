"""The tables that grow with the activities have no declared key (see
rapport.store.UNINDEXED_KEYS): the importers keep their keys unique.

tests/data/canonical holds 4 activities and 9 party rows. A second file set
repeats two of those activities (one with a changed subject) and three of
their party rows, and adds one activity with two parties: after both imports
the store holds 4 + 1 = 5 activities and 9 + 2 = 11 party rows, each key
once, and the repeated activity keeps the subject of the first import.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from ingest import run_import
from ingest.undo import undo_import
from rapport import store

EXAMPLE = Path(__file__).resolve().parent / "data" / "canonical"


def _keys_are_unique(con) -> None:
    for table, key in store.UNINDEXED_KEYS.items():
        cols = ", ".join(key)
        dupes = store.scalar(con, f"SELECT count(*) FROM (SELECT {cols} FROM {table} "
                                  f"GROUP BY {cols} HAVING count(*) > 1)")
        assert dupes == 0, table


def _second_set(folder: Path) -> Path:
    folder.mkdir()
    with open(EXAMPLE / "activities.csv", newline="") as f:
        acts = list(csv.DictReader(f))
    with open(EXAMPLE / "activity_parties.csv", newline="") as f:
        parties = list(csv.DictReader(f))
    repeated = [dict(acts[0], subject="Changed later"), acts[1]]
    new = dict(acts[0], activity_id="msg:m9@ourco.example", message_id="m9@ourco.example",
               start_at="2024-03-20T09:00:00Z", end_at="2024-03-20T09:00:00Z")
    with open(folder / "activities.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(acts[0]))
        w.writeheader()
        w.writerows(repeated + [new])
    same = [p for p in parties if p["activity_id"] == acts[0]["activity_id"]]
    with open(folder / "activity_parties.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["activity_id", "person_id", "role"])
        w.writeheader()
        w.writerows(same + [{"activity_id": new["activity_id"], "person_id": "u-1",
                             "role": "sender"},
                            {"activity_id": new["activity_id"], "person_id": "c-1",
                             "role": "to"}])
    shutil.copy(EXAMPLE / "people.csv", folder / "people.csv")
    return folder


def test_repeated_rows_are_stored_once_and_undo_keeps_the_first(tmp_path):
    con = store.connect(tmp_path / "keys.duckdb")
    run_import(con, [str(p) for p in sorted(EXAMPLE.glob("*.csv"))])
    assert store.scalar(con, "SELECT count(*) FROM activities") == 4
    assert store.scalar(con, "SELECT count(*) FROM activity_parties") == 9
    first_last = store.scalar(con, "SELECT max(import_id) FROM imports")
    second = _second_set(tmp_path / "second")
    run_import(con, [str(p) for p in sorted(second.glob("*.csv"))])
    _keys_are_unique(con)
    assert store.scalar(con, "SELECT count(*) FROM activities") == 5
    assert store.scalar(con, "SELECT count(*) FROM activity_parties") == 11
    assert store.scalar(con, "SELECT subject FROM activities "
                             "WHERE activity_id = 'msg:m1@ourco.example'") == "Spring order"
    # One activity brought by both imports: two sources, one row.
    assert store.scalar(con, "SELECT count(*) FROM activity_sources "
                             "WHERE activity_id = 'msg:m1@ourco.example'") == 2
    # Undoing the second import removes only what it alone brought.
    later = [i for (i,) in con.execute("SELECT import_id FROM imports WHERE import_id > ? "
                                       "ORDER BY import_id DESC", [first_last]).fetchall()]
    assert len(later) == 2  # activities and parties; people.csv is the same file again
    for import_id in later:
        undo_import(con, import_id)
    _keys_are_unique(con)
    assert store.scalar(con, "SELECT count(*) FROM activities") == 4
    assert store.scalar(con, "SELECT count(*) FROM activity_parties") == 9
    assert store.scalar(con, "SELECT count(*) FROM activity_sources "
                             "WHERE activity_id = 'msg:m1@ourco.example'") == 1


def test_the_same_rows_twice_in_one_file_are_stored_once(tmp_path):
    folder = tmp_path / "twice"
    folder.mkdir()
    text = (EXAMPLE / "activity_parties.csv").read_text().splitlines()
    (folder / "activity_parties.csv").write_text("\n".join(text + text[1:]) + "\n")
    shutil.copy(EXAMPLE / "activities.csv", folder / "activities.csv")
    shutil.copy(EXAMPLE / "people.csv", folder / "people.csv")
    con = store.connect(tmp_path / "twice.duckdb")
    run_import(con, [str(p) for p in sorted(folder.glob("*.csv"))])
    _keys_are_unique(con)
    assert store.scalar(con, "SELECT count(*) FROM activity_parties") == 9


def test_memory_and_thread_settings_from_the_environment(tmp_path, monkeypatch, capsys):
    from rapport import cli

    monkeypatch.setenv("RAPPORT_MEMORY_LIMIT", "600MB")
    monkeypatch.setenv("RAPPORT_THREADS", "1")
    con = store.connect(tmp_path / "env.duckdb")
    threads, limit = con.execute("SELECT current_setting('threads'), "
                                 "current_setting('memory_limit')").fetchall()[0]
    assert threads == 1 and limit.startswith("572.")  # 600 MB = 572.2 MiB
    con.close()
    monkeypatch.setenv("RAPPORT_THREADS", "two")
    assert cli.main(["--db", str(tmp_path / "env.duckdb"), "settings", "show"]) == 2
    assert "RAPPORT_THREADS must be a whole number" in capsys.readouterr().err
    monkeypatch.setenv("RAPPORT_THREADS", "1")
    monkeypatch.setenv("RAPPORT_MEMORY_LIMIT", "lots")
    assert cli.main(["--db", str(tmp_path / "env.duckdb"), "settings", "show"]) == 2
    assert "such as 600MB or 4GB; got 'lots'" in capsys.readouterr().err
