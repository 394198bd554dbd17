"""The Upload and Settings pages, run by Streamlit's AppTest on real database files."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rapport import store
from rapport import settings as settings_mod
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
HUBSPOT = DATA / "hubspot"
EUROPEAN = DATA / "edge" / "european_crm.csv"


@pytest.fixture
def empty_db(tmp_path):
    path = tmp_path / "empty.duckdb"
    store.connect(path).close()
    return path


def open_page(db: Path, monkeypatch, page: str) -> AppTest:
    monkeypatch.setenv(store.ENV_DB, str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def count(db: Path, sql: str):
    con = store.connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def upload(at: AppTest, *paths: Path) -> AppTest:
    at.file_uploader[0].set_value([(p.name, p.read_bytes(), "text/csv") for p in paths]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_upload_page_shows_what_each_file_adds_before_writing(empty_db, monkeypatch):
    at = upload(open_page(empty_db, monkeypatch, "pages/upload.py"),
                HUBSPOT / "calls.csv", HUBSPOT / "contacts.csv")
    summary = at.dataframe[0].value
    assert list(summary["file"]) == ["calls.csv", "contacts.csv"]
    assert list(summary["layout"]) == ["hubspot calls", "hubspot contacts"]
    assert list(summary["activities"]) == [3, 0]
    assert list(summary["records"]) == ["", "2 people"]
    preview = at.dataframe[1].value
    assert list(preview["activity_id"]) == ["hubspot:call:101", "hubspot:call:102",
                                            "hubspot:call:103"]
    assert count(empty_db, "SELECT count(*) FROM imports") == [(0,)]


def test_import_then_undo_from_the_history(empty_db, monkeypatch):
    at = upload(open_page(empty_db, monkeypatch, "pages/upload.py"), HUBSPOT / "calls.csv")
    at.button(key="upload_import").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Imported 1 file(s)."]
    assert count(empty_db, "SELECT count(*) FROM activities") == [(3,)]
    at.button(key="undo_1").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Import 1 undone")
    assert count(empty_db, "SELECT count(*) FROM activities") == [(0,)]
    assert count(empty_db, "SELECT outcome FROM imports") == [("undone",)]


def test_row_problems_block_the_import_until_invalid_rows_are_skipped(empty_db, monkeypatch,
                                                                     tmp_path):
    bad = tmp_path / "calls.csv"
    bad.write_text((HUBSPOT / "calls.csv").read_text().replace("NO_ANSWER", "MAYBE"))
    at = upload(open_page(empty_db, monkeypatch, "pages/upload.py"), bad)
    problems = at.dataframe[-1].value
    assert list(problems.columns) == ["file", "row", "column", "why", "what to do"]
    assert problems.iloc[0].to_dict()["row"] == "4"
    assert problems.iloc[0]["column"] == "hs_call_status"
    assert at.button(key="upload_import").disabled
    at.checkbox(key="upload_skip").check().run()
    assert not at.button(key="upload_import").disabled
    at.button(key="upload_import").click().run()
    assert count(empty_db, "SELECT count(*), max(rows_skipped) FROM activities, imports") \
        == [(2, 1)]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(empty_db, monkeypatch,
                                                                  tmp_path):
    con = store.connect(empty_db)
    settings_mod.save(con, max_upload_mb=1)
    con.close()
    big = tmp_path / "big.csv"
    big.write_bytes(b"caller,callee,start,duration\n" + b"1,2,2024-01-01,3\n" * 80_000)
    at = upload(open_page(empty_db, monkeypatch, "pages/upload.py"), big)
    assert any("more than the upload limit of 1 MB" in e.value for e in at.error)
    assert not at.dataframe or "big.csv" not in list(at.dataframe[0].value.get("file", []))


def test_an_unknown_layout_opens_the_mapping_step_and_saves_the_mapping(empty_db, monkeypatch):
    at = upload(open_page(empty_db, monkeypatch, "pages/upload.py"), EUROPEAN)
    assert at.subheader[0].value == "Map the columns of european_crm.csv"
    # The guesses from the German headers, and the unit from "Dauer (Std.)".
    assert at.selectbox(key="map_0_time").value == "datum"
    assert at.selectbox(key="map_0_duration").value == "dauer (std.)"
    assert at.selectbox(key="map_0_unit").value == "hours"
    at.text_input(key="map_0_name").input("Kundenexport").run()
    preview = at.dataframe[1].value
    assert list(preview["type"]) == ["call", "email", "meeting"]
    assert list(preview["duration_minutes"])[0] == 90.0
    at.button(key="upload_import").click().run()
    assert not at.exception
    assert count(empty_db, "SELECT count(*) FROM activities") == [(3,)]
    assert count(empty_db, "SELECT name FROM mappings") == [("Kundenexport",)]


def test_the_settings_page_saves_checks_and_reclassifies(empty_db, monkeypatch):
    at = open_page(empty_db, monkeypatch, "pages/settings.py")
    at.number_input(key="set_cadence_days").set_value(14)
    at.text_input(key="set_internal_domains").input("ourco.com, eu.ourco.com")
    at.button[0].click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Saved cadence_days, internal_domains")
    con = store.connect(empty_db, read_only=True)
    saved = settings_mod.load(con)
    con.close()
    assert (saved.cadence_days, saved.internal_domains, saved.internal_domains_inferred) == \
        (14, ["ourco.com", "eu.ourco.com"], False)
    at.number_input(key="set_weight_call").set_value(3.0)
    at.button[0].click().run()
    assert [e.value for e in at.error] == [
        "Not saved: weight_call: 3.0 is outside 0.5 to 1.5 (default 1.0)"]


def test_stale_upload_folders_are_removed(tmp_path, monkeypatch):
    import os
    import tempfile
    import time

    from ingest import staging

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    old = tmp_path / "rapport-old"
    old.mkdir()
    (old / "mail.mbox").write_text("From x\n")
    fresh = tmp_path / "rapport-new"
    fresh.mkdir()
    day_ago = time.time() - 2 * staging.STALE_UPLOAD_SECONDS
    os.utime(old, (day_ago, day_ago))
    assert staging.remove_stale_uploads() == 1
    assert not old.exists() and fresh.exists()


def test_unreadable_uploads_are_named_as_uploaded_with_the_command_lines_reason(tmp_path):
    import io

    from ingest import staging
    from ingest.layouts import ReadOptions

    binary = b"a,b\n1,2\n" + b"\x00" * 10 + b"\n"
    uploads = [("report.csv", binary), ("empty.csv", b""), ("export.zip", b"PK\x03\x04junk")]
    folder = tmp_path / "staged"
    folder.mkdir()
    files = [(name, staging.save_upload(io.BytesIO(data), name, len(data), folder, 10))
             for name, data in uploads]
    upload = staging.stage(files, ReadOptions(settings=settings_mod.Settings(),
                                              timezone="UTC"))
    problems = staging.problems_frame(upload)
    assert list(problems["file"]) == ["report.csv", "empty.csv", "export.zip"]
    reasons = list(problems["why"])
    assert reasons[0].startswith("the file holds NUL bytes (the first at byte 8, on line 3)")
    assert reasons[1] == "the file is empty"
    assert reasons[2].startswith("the zip archive cannot be read")
    text = problems.to_string()
    assert str(folder) not in text and str(tmp_path) not in text
    assert not upload.row_problems  # whole files: nothing can be skipped


def test_a_row_problem_names_the_file_as_uploaded_with_its_row_and_column(tmp_path):
    import io

    from ingest import staging
    from ingest.layouts import ReadOptions

    text = (DATA / "canonical" / "activities.csv").read_text().splitlines()
    fields = text[2].split(",")
    fields[3] = "2024-13-45T25:00:00"  # start_at of the second data row (file row 3)
    data = "\n".join([text[0], text[1], ",".join(fields), *text[3:]]).encode() + b"\n"
    folder = tmp_path / "staged"
    folder.mkdir()
    saved = staging.save_upload(io.BytesIO(data), "wrong_dates.csv", len(data), folder, 10)
    upload = staging.stage([("wrong_dates.csv", saved)],
                           ReadOptions(settings=settings_mod.Settings(), timezone="UTC"))
    problems = staging.problems_frame(upload)
    assert problems[["file", "row", "column"]].values.tolist() == [
        ["wrong_dates.csv", "3", "start_at"]]
    assert "month must be in 1..12" in problems["why"][0]
    assert str(tmp_path) not in problems.to_string()
    assert upload.row_problems  # a row, so the others can be imported without it
