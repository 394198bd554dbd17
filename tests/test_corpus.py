"""Every input of the hostile corpus (tests/corpus/cases.py), against a database
that already holds data.

A refused input must raise an ImportProblem whose problem names the file
(and the row and column where they apply), says what is wrong and what to do,
and must leave every table of the database exactly as it was. An input with
invalid rows is refused the same way without --skip-invalid; with it, the
other rows are stored and the problems kept with the import's record. Odd but
legitimate inputs are stored, and their check says what must hold after.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from ingest import ImportProblem, run_import
from rapport import store
from tests.conftest import DATA, ROOT
from tests.corpus import state
from tests.corpus.cases import CASES, Case

BASELINE = [DATA / "mail" / "ourco.mbox", DATA / "dataverse_small"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A database file holding a mailbox and a small Dataverse export."""
    path = tmp_path_factory.mktemp("baseline") / "rapport.duckdb"
    con = store.connect(path)
    run_import(con, BASELINE, skip_invalid=True)
    con.execute("CHECKPOINT")
    con.close()
    return path


@pytest.fixture
def db_file(baseline, tmp_path) -> Path:
    target = tmp_path / "rapport.duckdb"
    shutil.copyfile(baseline, target)
    return target


def _paths(built) -> list[Path]:
    return built if isinstance(built, list) else [built]


def _matches(problem, case: Case) -> bool:
    if case.file and case.file not in problem.file:
        return False
    if case.row is not None and problem.row != case.row:
        return False
    if case.column is not None and (problem.column or "").lower() != case.column.lower():
        return False
    return (re.search(case.reason, problem.reason, re.IGNORECASE | re.DOTALL) is not None
            and re.search(case.fix, problem.fix, re.IGNORECASE) is not None)


def _expect_refusal(con, paths, case: Case) -> ImportProblem:
    tracing = case.max_memory is not None
    if tracing:
        tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ImportProblem) as caught:
            run_import(con, paths)
    finally:
        took = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] if tracing else 0
        if tracing:
            tracemalloc.stop()
    problems = caught.value.problems
    assert any(_matches(p, case) for p in problems), \
        f"no problem matches {case}:\n" + "\n".join(str(p) for p in problems[:5])
    text = str(caught.value)
    assert "Nothing was imported" in text
    assert took < case.seconds, f"the refusal took {took:.1f} s"
    if tracing:
        assert peak < case.max_memory, f"the import allocated {peak:,} bytes at its peak"
    return caught.value


NOT_CLI = [c for c in CASES if not c.cli]


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else [])
             for c in NOT_CLI])
def test_corpus_input(case: Case, db_file, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    paths = _paths(case.build(inputs))
    outside = [tmp_path.parent.parent / "x.eml", tmp_path.parent.parent / "systemuser.csv",
               Path("/tmp/x.eml"), ROOT / "x.eml"]
    existed = {p for p in outside if p.exists()}
    con = store.connect(db_file)
    try:
        before = state.hashes(con)
        if case.outcome == "stored":
            results = run_import(con, paths)
            assert all(r.outcome == "imported" for r in results)
            case.check(con, results, tmp_path)
        else:
            _expect_refusal(con, paths, case)
            assert state.changed(before, state.hashes(con)) == []
            if case.outcome == "rows":
                results = run_import(con, paths, skip_invalid=True)
                skipped = [p for r in results for p in r.problems]
                assert any(_matches(p, case) for p in skipped)
                kept = json.loads(con.execute(
                    "SELECT problems FROM imports WHERE import_id = ?",
                    [results[0].import_id]).fetchall()[0][0])
                assert kept == [p.to_dict() for p in results[0].problems]
                assert sum(r.rows_skipped for r in results) >= 1
        # Nothing an archive named is ever written anywhere.
        assert {p for p in outside if p.exists()} == existed
    finally:
        con.close()


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else [])
             for c in CASES if c.cli])
def test_corpus_input_on_the_command_line(case: Case, db_file, tmp_path):
    """Inputs too big to import in the test's own process: the command line, in a
    process of its own whose peak memory is measured."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    paths = _paths(case.build(inputs))
    con = store.connect(db_file, read_only=True)
    before = state.hashes(con)
    con.close()
    report = ("import resource, sys\nfrom rapport.cli import main\ncode = main(sys.argv[1:])\n"
              "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
              "file=sys.stderr)\nsys.exit(code)\n")
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", report, "--db", str(db_file), "import",
                          *map(str, paths)], cwd=ROOT, capture_output=True, text=True,
                         timeout=case.seconds * 3, env={**os.environ, "PYTHONPATH": str(ROOT)})
    took = time.monotonic() - started
    assert run.returncode == 2, run.stderr[-2000:]
    message = run.stderr
    assert case.file in message
    assert re.search(case.reason, message, re.IGNORECASE)
    assert re.search(case.fix, message, re.IGNORECASE)
    assert "Nothing was imported" in message
    peak_kb = int(re.search(r"PEAK_KB (\d+)", message).group(1))
    assert peak_kb * 1024 < case.max_memory, f"peak memory {peak_kb / 1024:.0f} MB"
    assert took < case.seconds, f"the refusal took {took:.0f} s"
    con = store.connect(db_file, read_only=True)
    try:
        assert state.changed(before, state.hashes(con)) == []
    finally:
        con.close()


def test_the_corpus_is_large_and_every_refusal_says_what_to_do():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        assert case.outcome in ("refused", "rows", "stored"), case.id
        if case.outcome == "stored":
            assert case.check is not None, case.id
        else:
            assert case.reason and case.fix and case.file, case.id
