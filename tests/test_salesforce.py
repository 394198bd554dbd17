"""Salesforce exports: the real workshop sample and a tiny hand-made export."""

import datetime as dt
import hashlib
import shutil
import zipfile

import pytest

import kpi
from ingest import ImportProblem, run_import, undo
from ingest.salesforce import object_of, sf_id
from rapport import store
from tests.conftest import DATA

WORKSHOP = DATA / "salesforce" / "workshop"
TINY = DATA / "salesforce" / "tiny"
AS_OF = dt.datetime(2024, 3, 1, 23, 59, 59)
# The draft has no MessageIdentifier: its id is the hash of sender, time and subject.
DRAFT_ID = "msg:" + hashlib.sha1(
    b"sam@ourco.com|2024-02-07T08:00:00|Draft follow-up").hexdigest()[:24]


def _figures(con, record_type, key, as_of=AS_OF):
    return kpi.figures(con, record_type, key, as_of=as_of, days=None)


def test_a_15_character_id_gets_the_suffix_of_its_18_character_form():
    assert sf_id("001Ec00000GGw40") == "001Ec00000GGw40IAD"
    assert sf_id("001Ec00000GGw40IAD") == "001Ec00000GGw40IAD"
    assert object_of("00QEc00000BBaeXMAT") == "lead"
    assert object_of("003Ec00000Cz31GIAR") == "contact"
    assert object_of("500Ec00000AAAAAAAA") is None


def test_the_workshop_export_imports_every_object_it_holds(con):
    results = run_import(con, [WORKSHOP])
    layouts = {r.file.rsplit("/", 1)[1]: r.layout for r in results}
    assert layouts == {
        "Account.csv": "salesforce Account", "Case.csv": "salesforce (object not used)",
        "Contact.csv": "salesforce Contact", "Lead.csv": "salesforce Lead",
        "Opportunity.csv": "salesforce Opportunity", "Task.csv": "salesforce Task",
    }
    counts = store.table_counts(con)
    assert counts["leads"] == 60 and counts["opportunities"] == 50
    assert counts["activities"] == 75
    states = dict(con.execute("SELECT state, count(*) FROM opportunities GROUP BY 1").fetchall())
    assert states == {"open": 35, "won": 12, "lost": 3}
    # Every task is "Not Started"; the type comes from the custom Type__c field.
    kinds = dict(con.execute(
        "SELECT type, count(*) FROM activities WHERE state = 'scheduled' GROUP BY 1").fetchall())
    assert kinds == {"call": 17, "email": 18, "meeting": 12, "task": 28}
    # The lead statuses: 24 Qualified, 21 New, 15 Working.
    leads = dict(con.execute("SELECT state, count(*) FROM leads GROUP BY 1").fetchall())
    assert leads == {"qualified": 24, "open": 36}
    # The one owner has no User file: a bare user record, on our side.
    owner = con.execute("SELECT crm_kind, side FROM people "
                        "WHERE person_id = '005Ec000004oBPNIA2'").fetchall()
    assert owner == [("user", "us")]


def test_a_workshop_task_is_dated_noon_utc_of_its_activity_date(con):
    run_import(con, [WORKSHOP])
    row = con.execute("SELECT start_at, type, subject, regarding_type, regarding_id "
                      "FROM activities WHERE activity_id = '00TEc00000Co1WjMAJ'").fetchall()
    # ActivityDate 2023-12-24, Type__c Prep, WhoId a contact, WhatId empty.
    assert row == [(dt.datetime(2023, 12, 24, 12, 0), "task", "Insurance Consultation",
                    "contact", "003Ec00000Cz31GIAR")]


def test_the_workshop_gives_an_account_its_next_interaction(con):
    run_import(con, [WORKSHOP])
    figures = _figures(con, "account", "Moody and Sons", as_of=dt.datetime(2023, 12, 1))
    assert figures["next_interaction"] == {
        "at": "2023-12-15T12:00:00Z", "type": "task", "subject": "Credit Card Application"}
    assert figures["interactions"]["calls"] == {"by_us": 0, "by_them": 0}


def test_the_tiny_export_gives_the_hand_worked_figures(con):
    run_import(con, [TINY])
    figures = _figures(con, "account", "001000000000001AAA")
    # Calls: outbound 1 (us), inbound 1 (them), internal none. Meetings: the
    # demo, organised by our owner. E-mails: the proposal (ours) and the reply
    # (theirs); the draft counts nowhere and the e-mail task is the proposal.
    assert figures["interactions"] == {
        "emails": {"by_us": 1, "by_them": 1},
        "meetings": {"by_us": 1, "by_them": 0},
        "calls": {"by_us": 1, "by_them": 1},
    }
    assert figures["last_interaction"]["subject"] == "Demo"
    assert figures["next_interaction"] == {
        "at": "2024-03-10T12:00:00Z", "type": "task", "subject": "Send contract draft"}
    contacted = {p["email"]: p["interactions"] for p in figures["most_contacted"]}
    # Cara: 2 calls, the demo, the proposal and her reply. Dan: the proposal
    # and the demo (an EventRelation invitee); the declined lead is no party.
    assert contacted == {"cara@contoso.com": 5, "dan@contoso.com": 2}


def test_the_tiny_export_stores_calls_events_and_mail_as_salesforce_says(con):
    run_import(con, [TINY])
    rows = con.execute(
        "SELECT activity_id, type, state, direction, duration_minutes, start_at, end_at "
        "FROM activities ORDER BY activity_id").fetchall()
    assert rows == [
        ("00T000000000001AAA", "call", "completed", "outgoing", 10.0,
         dt.datetime(2024, 2, 1, 15), dt.datetime(2024, 2, 1, 15, 10)),
        ("00T000000000002AAA", "call", "completed", "incoming", 5.0,
         dt.datetime(2024, 2, 2, 9, 30), dt.datetime(2024, 2, 2, 9, 35)),
        ("00T000000000003AAA", "call", "completed", "internal", 15.0,
         dt.datetime(2024, 2, 3, 10), dt.datetime(2024, 2, 3, 10, 15)),
        ("00T000000000004AAA", "task", "scheduled", None, None,
         dt.datetime(2024, 3, 10, 12), None),
        ("00U000000000001AAA", "meeting", "completed", None, 60.0,
         dt.datetime(2024, 2, 10, 14), dt.datetime(2024, 2, 10, 15)),
        ("00U000000000002AAA", "meeting", "completed", None, None,
         dt.datetime(2024, 4, 1, 12), None),
        (DRAFT_ID, "email", "draft", "outgoing", None,
         dt.datetime(2024, 2, 7, 8), dt.datetime(2024, 2, 7, 8)),
        ("msg:prop-1@ourco.com", "email", "completed", "outgoing", None,
         dt.datetime(2024, 2, 5, 10), dt.datetime(2024, 2, 5, 10)),
        ("msg:re-1@contoso.com", "email", "completed", "incoming", None,
         dt.datetime(2024, 2, 6, 8), dt.datetime(2024, 2, 6, 8)),
    ]
    parties = con.execute(
        "SELECT person_id, role FROM activity_parties WHERE activity_id = "
        "'msg:prop-1@ourco.com' ORDER BY role, person_id").fetchall()
    assert parties == [("mailto:sam@ourco.com", "sender"), ("mailto:cara@contoso.com", "to"),
                       ("mailto:dan@contoso.com", "to")]
    members = con.execute("SELECT * FROM opportunity_members").fetchall()
    assert members == [("006000000000001AAA", "003000000000002AAA", "decision maker")]
    assert con.execute("SELECT opens FROM activities WHERE activity_id = "
                       "'msg:prop-1@ourco.com'").fetchall() == [(1,)]


def test_an_email_task_imported_after_its_email_message_is_dropped(con, tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(TINY / "EmailMessage.csv", first)
    run_import(con, [first])
    run_import(con, [TINY / "Task.csv"])
    ids = [i for (i,) in con.execute("SELECT activity_id FROM activities "
                                     "WHERE type = 'email' ORDER BY 1").fetchall()]
    assert "00T000000000005AAA" not in ids
    assert len(ids) == 3


def test_the_same_message_from_salesforce_and_a_mailbox_is_one_email(con, tmp_path):
    eml = tmp_path / "proposal.eml"
    eml.write_text("Message-ID: <prop-1@ourco.com>\nFrom: Sam Seller <sam@ourco.com>\n"
                   "To: cara@contoso.com\nDate: Mon, 05 Feb 2024 10:00:00 +0000\n"
                   "Subject: Proposal\n\nbody\n")
    run_import(con, [eml])
    run_import(con, [TINY / "EmailMessage.csv"])
    assert con.execute("SELECT count(*) FROM activities WHERE "
                       "activity_id = 'msg:prop-1@ourco.com'").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM activity_sources WHERE "
                       "activity_id = 'msg:prop-1@ourco.com'").fetchall() == [(2,)]


def test_the_weekly_export_zip_with_attachments_imports_its_csv_files(con, tmp_path):
    archive = tmp_path / "WE_00D000000000001_1.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(TINY.iterdir()):
            out.write(path, path.name)
        out.writestr("Attachments/00P000000000001AAA", b"%PDF-1.4 not read")
    results = run_import(con, [archive])
    assert [r.layout for r in results] == ["salesforce export (.zip)"]
    figures = _figures(con, "account", "Contoso")
    assert figures["interactions"]["calls"] == {"by_us": 1, "by_them": 1}


def test_a_bad_row_names_file_row_and_column_and_stores_nothing(con, tmp_path):
    bad = tmp_path / "Task.csv"
    text = (TINY / "Task.csv").read_text().replace(",Inbound,", ",Sideways,")
    bad.write_text(text)
    before = store.table_counts(con)
    with pytest.raises(ImportProblem, match=r"Task.csv, row 3, column calltype: "
                       r"'Sideways' is not a call type"):
        run_import(con, [bad])
    assert store.table_counts(con) == before
    results = run_import(con, [bad], skip_invalid=True)
    assert results[0].rows_skipped == 1 and results[0].rows_added == 4


def test_undoing_the_task_import_gives_back_the_figures_before_it(con):
    run_import(con, [TINY / "User.csv", TINY / "Account.csv", TINY / "Contact.csv",
                     TINY / "EmailMessage.csv"])
    before = _figures(con, "account", "Contoso")
    snapshot = {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))
                for t in ("activities", "activity_parties", "people", "accounts")}
    (task_import,) = run_import(con, [TINY / "Task.csv"])
    assert _figures(con, "account", "Contoso")["interactions"]["calls"]["by_us"] == 1
    undo.undo_import(con, task_import.import_id)
    after = _figures(con, "account", "Contoso")
    before.pop("computed_at"), after.pop("computed_at")
    assert after == before
    assert {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))
            for t in snapshot} == snapshot
