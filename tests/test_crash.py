"""Crash safety: an import killed at any moment leaves the store as it was
before the import or as it is after it, never in between.

``python -m rapport import`` runs as a process of its own on a copy of a
database that already holds data (state A). One uninterrupted run gives the
state after the import (state B) and the timing of its phases (start-up,
reading, storing, closing). Twenty more runs are killed with SIGKILL: eight at
moments spread over the start-up and the reading, twelve at moments spread
from the "Storing" line on stderr to past the end. After each, the database
must open, hold exactly A or B (every table; only the times an import ran and
the figure tables' own clock are left out), and its figure tables must be
what a full recomputation from the canonical tables gives.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest import run_import
from rapport import store
from tests.conftest import DATA, ROOT
from tests.corpus import state

pytestmark = pytest.mark.slow

SAMPLE = ROOT / "data" / "samples" / "enron" / "enron_with_categories.zip"
KILLS_EARLY = 8
KILLS_STORING = 12
# Left out of the comparison: when an import ran, and the figure tables' clock.
VOLATILE = {"imports": ("started_at", "finished_at"), "figure_meta": None}
FIGURE_TABLES = ("record_activity", "record_party", "record_day", "figure_inputs")


def _command(db: Path) -> list[str]:
    return [sys.executable, "-m", "rapport", "--db", str(db), "import", str(SAMPLE),
            "--skip-invalid"]


def _start(db: Path) -> subprocess.Popen:
    return subprocess.Popen(_command(db), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _figures_agree(con) -> None:
    """The figure tables hold what a full recomputation writes, and say they are fresh."""
    try:
        from kpi import materialize
    except ImportError:
        return
    present = set(state.tables(con))
    if not present.intersection(FIGURE_TABLES):
        return
    assert materialize.is_fresh(con), "the figure tables do not match the store"
    stored = state.hashes(con, only=FIGURE_TABLES)
    con.execute("BEGIN TRANSACTION")
    try:
        materialize.recompute(con)
        fresh = state.hashes(con, only=FIGURE_TABLES)
    finally:
        con.execute("ROLLBACK")
    assert state.changed(stored, fresh) == []


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """State A (a database with a mailbox and a Dataverse export), state B (A
    plus the Enron sample, imported whole), and the timing of that import."""
    folder = tmp_path_factory.mktemp("crash")
    before = folder / "before.duckdb"
    con = store.connect(before)
    run_import(con, [DATA / "mail" / "ourco.mbox", DATA / "dataverse_small"],
               skip_invalid=True)
    con.close()
    con = store.connect(before)
    hash_a = state.hashes(con, exclude=VOLATILE)
    con.close()

    after = folder / "after.duckdb"
    shutil.copyfile(before, after)
    started = time.monotonic()
    proc = _start(after)
    marks = {}
    for line in proc.stderr:
        if line.startswith("Storing") and "storing" not in marks:
            marks["storing"] = time.monotonic() - started
    assert proc.wait(timeout=300) == 0
    marks["exit"] = time.monotonic() - started
    con = store.connect(after)
    hash_b = state.hashes(con, exclude=VOLATILE)
    _figures_agree(con)
    con.close()
    assert state.changed(hash_a, hash_b), "the import changed nothing"
    return {"before": before, "a": hash_a, "b": hash_b, "marks": marks, "folder": folder}


def _moments(marks: dict) -> list[tuple[str, float]]:
    """(anchor, seconds after it) of every kill."""
    early = [("start", marks["storing"] * (i + 1) / (KILLS_EARLY + 1))
             for i in range(KILLS_EARLY)]
    span = (marks["exit"] - marks["storing"]) * 1.15
    storing = [("storing", span * i / (KILLS_STORING - 1)) for i in range(KILLS_STORING)]
    return early + storing


def test_an_import_killed_at_twenty_moments_leaves_the_state_before_or_after(references):
    outcomes = []
    for n, (anchor, delay) in enumerate(_moments(references["marks"])):
        db = references["folder"] / f"killed-{n}.duckdb"
        shutil.copyfile(references["before"], db)
        proc = _start(db)
        if anchor == "storing":
            for line in proc.stderr:
                if line.startswith("Storing"):
                    break
            else:
                pytest.fail(f"kill {n}: the import ended before storing: {proc.wait()}")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        proc.stderr.close()
        con = store.connect(db)  # it opens (and replays its write-ahead log)
        try:
            found = state.hashes(con, exclude=VOLATILE)
            if not state.changed(references["a"], found):
                outcome = "before"
            elif not state.changed(references["b"], found):
                outcome = "after"
            else:
                pytest.fail(f"kill {n} ({anchor} + {delay:.2f} s): a mix of the two states; "
                            f"tables differing from before: "
                            f"{state.changed(references['a'], found)}, from after: "
                            f"{state.changed(references['b'], found)}")
            _figures_agree(con)
            if n % 4 == 0:
                # The store is usable: the same import now completes (or adds nothing).
                run_import(con, [SAMPLE], skip_invalid=True)
                assert not state.changed(references["b"],
                                         state.hashes(con, exclude=VOLATILE))
        finally:
            con.close()
        outcomes.append((anchor, round(delay, 2), code, outcome))
        for leftover in db.parent.glob(db.name + "*"):
            leftover.unlink()
    killed = [o for o in outcomes if o[2] == -signal.SIGKILL]
    print("kills (anchor, seconds, exit code, state):", outcomes)
    assert len(outcomes) == KILLS_EARLY + KILLS_STORING
    # Most of the twenty really stopped the import midway, and both ends were seen.
    assert len(killed) >= 12, outcomes
    assert {o[3] for o in outcomes} == {"before", "after"}, outcomes
