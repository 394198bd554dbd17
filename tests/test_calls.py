"""Call logs: the Copenhagen study (times from a start date) and a desk-phone export."""

import datetime as dt

import pytest

import kpi
from ingest import ImportProblem, run_import
from rapport import cli, settings as settings_mod, store
from tests.conftest import DATA

CALLS = DATA / "calls"
COPENHAGEN = CALLS / "copenhagen_calls.csv"
START = dt.date(2013, 9, 2)


def test_the_study_needs_its_start_date_and_says_how_to_give_it(con):
    before = store.table_counts(con)
    with pytest.raises(ImportProblem, match=r"copenhagen_calls.csv, row 2, column timestamp: "
                       r"the times are numbers such as 184: seconds from the start.*--start-date"):
        run_import(con, [COPENHAGEN])
    assert store.table_counts(con) == before


def test_the_study_imports_every_call_from_its_start_date(con):
    (result,) = run_import(con, [COPENHAGEN], start_date=START)
    assert (result.layout, result.rows_read, result.rows_added) == ("call log", 3600, 3600)
    # The first row: 184 s after the start, caller 300, callee 301, 121 s.
    first = con.execute(
        "SELECT start_at, duration_minutes, state, initiator_id FROM activities "
        "ORDER BY start_at LIMIT 1").fetchall()
    assert first == [(dt.datetime(2013, 9, 2, 0, 3, 4), 121 / 60, "completed", "tel:300")]
    states = dict(con.execute("SELECT state, count(*) FROM activities GROUP BY 1").fetchall())
    assert states == {"completed": 3234, "failed": 366}  # duration -1: no connection
    assert store.table_counts(con)["people"] == 536


def test_a_study_participant_has_figures(con):
    run_import(con, [COPENHAGEN], start_date=START)
    made, received, minutes = con.execute(
        """SELECT count(*) FILTER (WHERE ap.role = 'caller'),
                  count(*) FILTER (WHERE ap.role = 'callee'),
                  sum(a.duration_minutes)
           FROM activities a JOIN activity_parties ap USING (activity_id)
           WHERE ap.person_id = 'tel:300' AND a.state = 'completed'""").fetchall()[0]
    figures = kpi.figures(con, "contact", "tel:300", as_of=dt.datetime(2013, 10, 1),
                          days=None)
    # Nobody in the study is ours, so every completed call was started by "them".
    assert figures["interactions"]["calls"] == {"by_us": 0, "by_them": made + received}
    assert made + received > 0 and minutes > 0


def test_the_command_line_takes_the_start_date(tmp_path, capsys):
    db = tmp_path / "calls.duckdb"
    assert cli.main(["--db", str(db), "import", str(COPENHAGEN),
                     "--start-date", "2013-09-02"]) == 0
    assert "3600 activities added" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--db", str(db), "import", str(COPENHAGEN), "--start-date", "Sept 2"])
    assert "--start-date 'Sept 2' is not a date" in capsys.readouterr().err


def test_a_desk_phone_export_with_units_directions_and_statuses(con):
    settings_mod.save(con, internal_domains=["ourco.com"])
    (result,) = run_import(con, [CALLS / "desk_phone.csv"])
    rows = con.execute(
        "SELECT activity_id, start_at, duration_minutes, state, direction, initiator_id "
        "FROM activities ORDER BY activity_id").fetchall()
    assert rows == [
        ("call:c-1", dt.datetime(2024, 2, 1, 10), 12.5, "completed", "outgoing",
         "mailto:sam@ourco.com"),
        ("call:c-2", dt.datetime(2024, 2, 1, 15, 30), 3.0, "completed", "incoming",
         "tel:+49301234567"),
        ("call:c-3", dt.datetime(2024, 2, 2, 9), 0.0, "failed", "outgoing",
         "mailto:sam@ourco.com"),
    ]
    callees = con.execute("SELECT person_id FROM activity_parties WHERE role = 'callee' "
                          "ORDER BY activity_id").fetchall()
    # 0049 30 1234567 and +49 30 1234567 are one number.
    assert callees == [("mailto:cara@contoso.com",), ("mailto:sam@ourco.com",),
                       ("tel:+49301234567",)]
    figures = kpi.figures(con, "account", "contoso.com", as_of=dt.datetime(2024, 3, 1),
                          days=None)
    assert figures["interactions"]["calls"] == {"by_us": 1, "by_them": 0}
