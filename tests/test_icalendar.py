"""iCalendar files: meetings, time zones and recurring series within a bounded range."""

import datetime as dt

import pytest

import kpi
from ingest import ImportProblem
from ingest.base import write_batches
from ingest.layouts import ReadOptions, detect, read_all
from ingest.sources import Source
from rapport import settings as settings_mod
from rapport import store
from tests.conftest import DATA

CALENDARS = DATA / "icalendar"
NOW = dt.datetime(2024, 6, 15)


def _import(con, *paths, now=NOW, skip_invalid=False):
    settings_mod.save(con, internal_domains=["ourco.com"])
    options = ReadOptions(settings=settings_mod.load(con), now=now)
    return write_batches(con, read_all(list(paths), options), skip_invalid=skip_invalid)


def _starts(con, prefix):
    return [row[0] for row in con.execute(
        "SELECT start_at FROM activities WHERE activity_id LIKE ? ORDER BY start_at",
        [prefix + "%"]).fetchall()]


def test_a_calendar_is_recognised_by_its_content_even_as_a_bare_event():
    assert detect(Source(CALENDARS / "team.ics")).name == "icalendar"
    bare = CALENDARS / "event_with_recurrence_exdates_on_different_lines.ics"
    assert bare.read_bytes().startswith(b"BEGIN:VEVENT")
    assert detect(Source(bare)).name == "icalendar"


def test_the_weekly_series_keeps_its_moved_occurrence_and_drops_exdate_and_cancelled(con):
    _import(con, CALENDARS / "team.ics")
    rows = con.execute(
        "SELECT activity_id, start_at, duration_minutes, subject FROM activities "
        "WHERE activity_id LIKE 'ics:weekly-review%' ORDER BY start_at").fetchall()
    # Six Mondays at 10:00 Berlin (09:00 UTC) from 8 January; 22 January is an
    # EXDATE, 29 January moved to Tuesday 14:00-15:30, 5 February cancelled.
    assert rows == [
        ("ics:weekly-review@ourco.com/20240108T090000Z", dt.datetime(2024, 1, 8, 9), 60.0,
         "Weekly review"),
        ("ics:weekly-review@ourco.com/20240115T090000Z", dt.datetime(2024, 1, 15, 9), 60.0,
         "Weekly review"),
        ("ics:weekly-review@ourco.com/20240129T090000Z", dt.datetime(2024, 1, 30, 13), 90.0,
         "Weekly review (moved)"),
        ("ics:weekly-review@ourco.com/20240212T090000Z", dt.datetime(2024, 2, 12, 9), 60.0,
         "Weekly review"),
    ]


def test_declined_attendees_rooms_and_the_organizer_twice_are_no_parties(con):
    _import(con, CALENDARS / "team.ics")
    parties = con.execute(
        "SELECT person_id, role FROM activity_parties WHERE activity_id = "
        "'ics:weekly-review@ourco.com/20240108T090000Z' ORDER BY role, person_id").fetchall()
    assert parties == [("mailto:eve@contoso.com", "optional"),
                       ("mailto:sam@ourco.com", "organizer"),
                       ("mailto:cara@contoso.com", "required")]
    assert con.execute("SELECT initiator_id FROM activities WHERE activity_id = "
                       "'ics:demo@contoso.com'").fetchall() == [("mailto:cara@contoso.com",)]


def test_a_series_without_end_stops_a_year_after_the_import(con):
    _import(con, CALENDARS / "team.ics")
    starts = _starts(con, "ics:monthly-checkin")
    assert starts[0] == dt.datetime(2024, 1, 1, 8, 30)
    assert starts[-1] == dt.datetime(2025, 6, 1, 8, 30)
    assert len(starts) == 18
    states = con.execute(
        "SELECT state, count(*) FROM activities WHERE activity_id LIKE 'ics:monthly%' "
        "GROUP BY 1 ORDER BY 1").fetchall()
    assert states == [("completed", 6), ("scheduled", 12)]


def test_cancelled_events_are_not_meetings_and_all_day_events_have_no_length(con):
    _import(con, CALENDARS / "team.ics")
    assert _starts(con, "ics:cancelled-lunch") == []
    offsite = con.execute("SELECT start_at, end_at, duration_minutes FROM activities "
                          "WHERE activity_id = 'ics:offsite@ourco.com'").fetchall()
    assert offsite == [(dt.datetime(2024, 3, 1, 12), None, None)]


def test_the_account_figures_are_the_hand_worked_ones(con):
    _import(con, CALENDARS / "team.ics")
    figures = kpi.figures(con, "account", "contoso.com", as_of=NOW, days=None)
    # 4 weekly reviews and 6 monthly check-ins organised by us, their demo.
    assert figures["interactions"]["meetings"] == {"by_us": 10, "by_them": 1}
    assert figures["next_interaction"] == {"at": "2024-07-01T08:30:00Z", "type": "meeting",
                                           "subject": "Monthly check-in"}
    contacted = {p["email"]: p["meetings"] for p in figures["most_contacted"]}
    assert contacted == {"cara@contoso.com": 11, "eve@contoso.com": 3}


def test_the_same_invitation_from_two_calendars_is_one_meeting(con, tmp_path):
    copy = tmp_path / "caras-calendar.ics"
    copy.write_text((CALENDARS / "team.ics").read_text().replace(
        "PRODID:-//Rapport tests//team calendar//EN",
        "PRODID:-//Rapport tests//team calendar//EN\nX-WR-CALNAME:Cara"))
    _import(con, CALENDARS / "team.ics")
    before = store.table_counts(con)["activities"]
    results = _import(con, copy)
    assert results[0].outcome == "imported" and results[0].rows_added == 0
    assert store.table_counts(con)["activities"] == before


def test_exdates_on_separate_lines_and_windows_zone_names(con):
    _import(con, CALENDARS / "event_with_recurrence_exdates_on_different_lines.ics",
            CALENDARS / "timezone_same_start.ics")
    # Tuesdays 27 March to 3 July 2012 at 10:00 Vienna: 15, less 5 EXDATEs.
    vienna = [s for s in _starts(con, "ics:series:")]
    assert len(vienna) == 10
    assert vienna[0] == dt.datetime(2012, 3, 27, 8) and vienna[-1] == dt.datetime(2012, 7, 3, 8)
    exchange = con.execute("SELECT start_at, duration_minutes FROM activities WHERE "
                           "activity_id LIKE 'ics:0400000082%'").fetchall()
    assert exchange == [(dt.datetime(2017, 2, 24, 20), 30.0)]  # 12:00 Pacific Standard Time


def test_a_broken_start_is_an_invalid_row_named_by_event(con):
    settings_mod.save(con, internal_domains=["ourco.com"])
    before = store.table_counts(con)
    with pytest.raises(ImportProblem, match=r"broken_dtstart.ics, row event 1 \(UID test-123\), "
                       r"column DTSTART: the start is not a date or time"):
        _import(con, CALENDARS / "broken_dtstart.ics")
    assert store.table_counts(con) == before


def test_a_series_repeating_every_minute_is_refused_not_expanded(con, tmp_path):
    flood = tmp_path / "flood.ics"
    flood.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:flood\n"
                     "DTSTART:20240101T000000Z\nDURATION:PT1M\nRRULE:FREQ=MINUTELY\n"
                     "ORGANIZER:mailto:sam@ourco.com\nEND:VEVENT\nBEGIN:VEVENT\nUID:ok\n"
                     "DTSTART:20240102T100000Z\nDURATION:PT30M\nSUMMARY:Fine\n"
                     "ORGANIZER:mailto:sam@ourco.com\nEND:VEVENT\nEND:VCALENDAR\n")
    with pytest.raises(ImportProblem, match="repeats more than 5,000 times"):
        _import(con, flood)
    results = _import(con, flood, skip_invalid=True)
    assert results[0].rows_added == 1
    assert _starts(con, "ics:") == [dt.datetime(2024, 1, 2, 10)]
