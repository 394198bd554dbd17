"""The Dataverse importer, checked through the figures of a hand-written export.

tests/data/dataverse_small holds one CSV per Dataverse table: systemuser
(plain UTF-8), account (UTF-8 with a byte-order mark), contact (semicolons,
Windows-1252), lead, opportunity, email, appointment, phonecall, task and
activityparty.

Our users: Sam Seller (sam@ourco.com) and Uma Usher (uma@ourco.com).
Contoso Ltd (account bbbbbbbb-...-01, www.contoso.com): Ann and Ben by
parentcustomerid, Dee and the unresolved address zoe@contoso.com by domain.
Carl writes from contoso.com.evil.io, a look-alike that is not Contoso.

Every activity of the export, as of 2024-06-30 12:00 UTC with days=60, so the
window is (2024-05-01 12:00, 2024-06-30 12:00]:

| id  | when (UTC)        | what                        | state     | Contoso figures          |
|-----|-------------------|-----------------------------|-----------|--------------------------|
| E9  | 2024-04-01 09:00  | Sam -> Ann                  | sent      | before the window        |
| E1  | 2024-05-10 09:00  | Sam -> Ann                  | sent      | email by us              |
| E2  | 2024-05-11 10:00  | Ann -> Sam (exported twice) | received  | email by them, once      |
| M1  | 2024-05-20 15:00  | Sam organizes; Ann, Ben     | completed | meeting by us            |
| E3  | 2024-06-01 14:00  | Uma -> Ben, cc Ann          | sent      | email by us              |
| P1  | 2024-06-03 11:00  | Sam calls Dee (outgoing)    | completed | call by us               |
| E10 | 2024-06-05 10:00  | Sam -> lena@tailspin (lead) | sent      | not Contoso              |
| E7  | 2024-06-15 13:00  | zoe@contoso.com -> Sam      | received  | email by them            |
| M4  | 2024-06-20 09:00  | Ann organizes; Sam          | completed | meeting by them          |
| E8  | 2024-06-22 09:00  | Sam -> zoe, cc Ann (+02:00) | sent      | email by us              |
| P2  | 2024-06-25 16:00  | Ben calls Sam (incoming)    | completed | call by them: the last   |
| E4  | 2024-06-26 08:00  | Sam -> Ann                  | draft     | nowhere                  |
| M2  | 2024-06-27 10:00  | Sam organizes; Ann          | canceled  | nowhere                  |
| E6  | 2024-06-28 09:00  | Carl (evil.io) -> Sam       | received  | nowhere (not Contoso)    |
| E5  | 2024-06-29 08:00  | Sam -> Uma, no regarding    | sent      | nowhere (internal)       |
| M3  | 2024-07-03 10:00  | Uma organizes; Ben          | scheduled | next interaction         |
| T1  | 2024-07-05 17:00  | task regarding Contoso      | open      | later than M3            |
| P3  | 2024-07-10 09:00  | Sam calls Ben               | scheduled | later than M3            |

So for Contoso: emails by us 3 (E1, E3, E8), by them 2 (E2, E7); meetings 1
(M1) and 1 (M4); calls 1 (P1) and 1 (P2). email_ratio by_us = 3 / 2 = 1.5,
by_them = 2 / 3 = 0.67. last_interaction is P2, next_interaction M3.

most_contacted, counting the window's completed activities each person took
part in:

| person          | E1 | E2 | E3 | E7 | E8 | M1 | M4 | P1 | P2 | total | e / m / c |
|-----------------|----|----|----|----|----|----|----|----|----|-------|-----------|
| Ann Archer      | x  | x  | x  |    | x  | x  | x  |    |    | 6     | 4 / 2 / 0 |
| Ben Baker       |    |    | x  |    |    | x  |    |    | x  | 3     | 1 / 1 / 1 |
| zoe@contoso.com |    |    |    | x  | x  |    |    |    |    | 2     | 2 / 0 / 0 |
| Dee Dünn        |    |    |    |    |    |    |    | x  |    | 1     | 0 / 0 / 1 |
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import shutil
from pathlib import Path

import pytest

import kpi
from ingest import ImportProblem, detect, run_import
from ingest.sources import expand
from kpi import scope
from rapport import cli, store

DATA = Path(__file__).resolve().parent / "data" / "dataverse_small"
SAMPLE = Path("/work/shared/datasets/dataverse_edu_accelerator_sample")
AS_OF = dt.datetime(2024, 6, 30, 12, 0)
CONTOSO = "bbbbbbbb-0000-0000-0000-000000000001"
E = "eeeeeeee-0000-0000-0000-0000000000{:02d}".format


def content_hash(con) -> str:
    """A digest of every row of every canonical table."""
    digest = hashlib.sha256()
    for table in store.TABLES:
        for row in con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall():
            digest.update(repr((table, row)).encode())
    return digest.hexdigest()


def stable_hash(con) -> str:
    """content_hash without the import bookkeeping (times of each import)."""
    digest = hashlib.sha256()
    for table in store.TABLES:
        if table in ("imports", "activity_sources"):
            continue
        for row in con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall():
            digest.update(repr((table, row)).encode())
    return digest.hexdigest()


@pytest.fixture
def con(tmp_path):
    connection = store.connect(tmp_path / "dv.duckdb")
    run_import(connection, [DATA])
    yield connection
    connection.close()


def contoso(con, **kwargs):
    return kpi.figures(con, "account", "Contoso Ltd", as_of=AS_OF, days=60, **kwargs)


# ---------------------------------------------------------------------------
# Recognising the files


def test_each_file_is_recognised_by_its_header():
    found = {source.path.name: detect(source).name for source in expand(DATA)}
    assert found == {
        "account.csv": "dataverse account",
        "activityparty.csv": "dataverse activityparty",
        "appointment.csv": "dataverse appointment",
        "contact.csv": "dataverse contact",
        "email.csv": "dataverse email",
        "lead.csv": "dataverse lead",
        "opportunity.csv": "dataverse opportunity",
        "phonecall.csv": "dataverse phonecall",
        "systemuser.csv": "dataverse systemuser",
        "task.csv": "dataverse task",
    }


def test_recognised_whatever_the_file_is_called(tmp_path):
    renamed = tmp_path / "export (3).csv"
    shutil.copy(DATA / "phonecall.csv", renamed)
    assert detect(expand(renamed)[0]).name == "dataverse phonecall"


# ---------------------------------------------------------------------------
# Figures (the hand-worked table in the module docstring)


def test_contoso_figures_match_the_hand_computation(con):
    figures = contoso(con)
    assert figures["entity"] == {"type": "account", "id": CONTOSO, "name": "Contoso Ltd"}
    assert figures["interactions"] == {
        "emails": {"by_us": 3, "by_them": 2},
        "meetings": {"by_us": 1, "by_them": 1},
        "calls": {"by_us": 1, "by_them": 1},
    }
    assert figures["email_ratio"] == {"by_us": 1.5, "by_them": 0.67}
    assert figures["last_interaction"] == {
        "at": "2024-06-25T16:00:00Z", "type": "call", "subject": "Support question",
        "initiated_by": "them"}
    top = [(p["name"], p["email"], p["interactions"], p["emails"], p["meetings"], p["calls"],
            p["last_at"]) for p in figures["most_contacted"]]
    assert top == [
        ("Ann Archer", "ann@contoso.com", 6, 4, 2, 0, "2024-06-22T09:00:00Z"),
        ("Ben Baker", "ben.baker@contoso.com", 3, 1, 1, 1, "2024-06-25T16:00:00Z"),
        ("zoe@contoso.com", "zoe@contoso.com", 2, 2, 0, 0, "2024-06-22T09:00:00Z"),
    ]


def test_scheduled_meeting_after_as_of_is_the_next_interaction(con):
    assert contoso(con)["next_interaction"] == {
        "at": "2024-07-03T10:00:00Z", "type": "meeting", "subject": "Quarterly review"}


def test_all_time_window_adds_the_old_email(con):
    figures = kpi.figures(con, "account", CONTOSO, as_of=AS_OF, days=None)
    assert figures["interactions"]["emails"] == {"by_us": 4, "by_them": 2}  # + E9


def test_internal_only_email_counts_nowhere(con):
    counted = {row[0] for row in con.execute(
        f"WITH {scope.PARTY}, {scope.COUNTED} SELECT activity_id FROM counted").fetchall()}
    assert "msg:e5@ourco.com" not in counted
    # It is stored, sent by us, to our own colleague only.
    assert con.execute(
        "SELECT a.state, list(p.side ORDER BY p.side) FROM activities a "
        "JOIN activity_parties ap USING (activity_id) JOIN people p USING (person_id) "
        "WHERE a.activity_id = 'msg:e5@ourco.com' GROUP BY a.state").fetchall() == [
        ("completed", ["us", "us"])]
    # The other completed e-mails of the export do count.
    assert {"msg:e1@ourco.com", "msg:e2@contoso.com", E(3), "msg:e7@contoso.com",
            "msg:e8@ourco.com", "msg:e6@evil.io"} <= counted


def test_lookalike_domain_is_not_contoso(con):
    assert con.execute(
        "SELECT account_id FROM people WHERE email = 'carl@contoso.com.evil.io'"
    ).fetchall() == [("domain:evil.io",)]
    evil = kpi.figures(con, "account", "evil.io", as_of=AS_OF, days=60)
    assert evil["interactions"]["emails"] == {"by_us": 0, "by_them": 1}
    names = [p["email"] for p in contoso(con)["most_contacted"]]
    assert "carl@contoso.com.evil.io" not in names


def test_draft_email_and_canceled_meeting_count_nowhere(con):
    states = dict(con.execute(
        "SELECT activity_id, state FROM activities WHERE activity_id IN (?, ?)",
        [E(4), "ad000000-0000-0000-0000-000000000002"]).fetchall())
    assert states == {E(4): "draft", "ad000000-0000-0000-0000-000000000002": "canceled"}
    ann = kpi.figures(con, "contact", "ann@contoso.com", as_of=AS_OF, days=60)
    # Ann: E1, E3 (cc), E8 (cc) by us, E2 by them; M1 by us, M4 by them. The
    # draft (06-26) and the canceled meeting (06-27) would be her latest.
    assert ann["interactions"] == {
        "emails": {"by_us": 3, "by_them": 1},
        "meetings": {"by_us": 1, "by_them": 1},
        "calls": {"by_us": 0, "by_them": 0},
    }
    assert ann["last_interaction"]["at"] == "2024-06-22T09:00:00Z"


def test_email_exported_twice_is_one_activity(con):
    rows = con.execute(
        "SELECT activity_id, message_id, in_reply_to, initiator_id FROM activities "
        "WHERE subject = 'RE: Proposal'").fetchall()
    assert rows == [("msg:e2@contoso.com", "e2@contoso.com", "e1@ourco.com",
                     "cccccccc-0000-0000-0000-000000000001")]
    parties = con.execute(
        "SELECT person_id, role FROM activity_parties WHERE activity_id = 'msg:e2@contoso.com' "
        "ORDER BY role").fetchall()
    assert parties == [("cccccccc-0000-0000-0000-000000000001", "sender"),
                       ("aaaaaaaa-0000-0000-0000-000000000001", "to")]
    # No party row is left under either export's GUID.
    assert store.scalar(con, "SELECT count(*) FROM activity_parties WHERE activity_id IN (?, ?)",
                        [E(21), E(22)]) == 0


def test_opportunities_and_leads(con):
    opportunities = con.execute(
        "SELECT opportunity_id[-1:], name, account_id[-1:], contact_id[-1:], owner_id[-1:], "
        "state, amount, created_at, closed_at FROM opportunities ORDER BY 1").fetchall()
    assert opportunities == [
        # open: the estimated value; won ("Won" as a label): the actual value;
        # lost: the estimated value. Only closed deals have a close date.
        ("1", "Contoso expansion", "1", "1", "1", "open", 50000.0,
         dt.datetime(2024, 5, 15), None),
        ("2", "Contoso pilot", "1", "2", "2", "won", 11500.5,
         dt.datetime(2024, 1, 10), dt.datetime(2024, 3, 1)),
        ("3", "Fabrikam bid", "2", "4", "1", "lost", 80000.0,
         dt.datetime(2024, 2, 1), dt.datetime(2024, 4, 15)),
    ]
    assert con.execute("SELECT opportunity_id[-1:], person_id[-1:], role "
                       "FROM opportunity_members ORDER BY 1").fetchall() == [
        ("1", "1", "customer"), ("2", "2", "customer"), ("3", "4", "customer")]
    assert con.execute("SELECT name, email, company, owner_id[-1:], state FROM leads "
                       "ORDER BY 1").fetchall() == [
        ("Lena Lead", "lena@tailspin.example", "Tailspin Toys", "1", "open"),
        ("Quinn Quill", "quinn@northwind.example", "Northwind", "2", "qualified")]
    # Lena: Sam (her owner) wrote to her address once (E10).
    lena = kpi.figures(con, "lead", "Lena Lead", as_of=AS_OF, days=60)
    assert lena["interactions"]["emails"] == {"by_us": 1, "by_them": 0}
    # Contoso expansion (owner Sam, contact Ann, created 05-15): M1, E8 by us and
    # M4 by them; E1 and E2 predate it and Uma's E3 is not the owner's.
    deal = kpi.figures(con, "opportunity", "Contoso expansion", as_of=AS_OF, days=60)
    assert deal["interactions"] == {"emails": {"by_us": 1, "by_them": 0},
                                    "meetings": {"by_us": 1, "by_them": 1},
                                    "calls": {"by_us": 0, "by_them": 0}}


def test_what_the_rows_become(con):
    row = con.execute(
        "SELECT type, start_at, end_at, duration_minutes, state, direction, initiator_id, "
        "regarding_type, regarding_id FROM activities "
        "WHERE activity_id = 'ad000000-0000-0000-0000-000000000004'").fetchall()
    # Ann organized the site visit: she is its initiator though Sam owns it.
    assert row == [("meeting", dt.datetime(2024, 6, 20, 9), dt.datetime(2024, 6, 20, 9, 30),
                    30.0, "completed", None, "cccccccc-0000-0000-0000-000000000001",
                    None, None)]
    e8 = con.execute("SELECT start_at, followed, opens, clicks FROM activities "
                     "WHERE activity_id = 'msg:e8@ourco.com'").fetchall()
    assert e8 == [(dt.datetime(2024, 6, 22, 9), True, 1, 0)]  # 11:00+02:00
    call = con.execute("SELECT direction, initiator_id, duration_minutes FROM activities "
                       "WHERE activity_id = 'ca110000-0000-0000-0000-000000000002'").fetchall()
    assert call == [("incoming", None, 10.0)]
    # The room booked for the workshop is no one; the regarding row (mask 8) no party.
    assert store.scalar(con, "SELECT count(*) FROM activity_parties "
                        "WHERE person_id LIKE 'e9000000%' OR person_id LIKE 'bbbbbbbb%'") == 0
    people = {row[0]: row[1:] for row in con.execute(
        "SELECT person_id, name, email, side, manager_id FROM people").fetchall()}
    # Uma's manager was written as an upper-case GUID in braces.
    assert people["aaaaaaaa-0000-0000-0000-000000000002"] == (
        "Uma Usher", "uma@ourco.com", "us", "aaaaaaaa-0000-0000-0000-000000000001")
    assert people["cccccccc-0000-0000-0000-000000000005"] == (
        "Dee Dünn", "dee@contoso.com", "them", None)
    assert people["mailto:zoe@contoso.com"] == (None, "zoe@contoso.com", "them", None)
    accounts = con.execute("SELECT account_id, name, domain, industry, employees, revenue, "
                           "country FROM accounts WHERE source = 'dataverse' ORDER BY 1"
                           ).fetchall()
    assert accounts == [
        (CONTOSO, "Contoso Ltd", "contoso.com", "Consulting", 250, 1500000.5, "United Kingdom"),
        ("bbbbbbbb-0000-0000-0000-000000000002", "Fabrikam, Inc.", "fabrikam.com",
         "Manufacturing", 1200, None, "Germany"),
    ]


# ---------------------------------------------------------------------------
# Import behaviour


def test_same_files_twice_add_nothing(con):
    before, digest = store.table_counts(con), stable_hash(con)
    results = run_import(con, [DATA])
    assert {r.outcome for r in results} == {"already imported"}
    after = store.table_counts(con)
    assert after == before
    assert stable_hash(con) == digest


def _copy(tmp_path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(DATA, folder)
    return folder


def test_missing_required_column_names_file_and_column(tmp_path):
    folder = _copy(tmp_path)
    # Drop the first column (activityid) of every row, quoted cells included.
    rows = list(csv.reader(io.StringIO((DATA / "email.csv").read_text(), newline="")))
    assert rows[0][0] == "activityid"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(row[1:] for row in rows)
    (folder / "email.csv").write_text(out.getvalue())
    con = store.connect(tmp_path / "t.duckdb")
    run_import(con, [folder / "systemuser.csv", folder / "account.csv"])
    counts, digest = store.table_counts(con), content_hash(con)
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [folder])
    problem = caught.value.problems[0]
    assert problem.file.endswith("email.csv")
    assert problem.column == "activityid"
    assert "activityid" in str(caught.value)
    assert store.table_counts(con) == counts
    assert content_hash(con) == digest


def test_bad_date_is_a_problem_of_its_row_and_skip_invalid_stores_the_rest(tmp_path):
    folder = _copy(tmp_path)
    text = (folder / "email.csv").read_text()
    # Row 4 is the first export of E2 (row 3, E1, spans two lines of the file).
    bad = text.replace(f"{E(21)},RE: Proposal,,0,1,4,2024-05-11T10:00:00Z",
                       f"{E(21)},RE: Proposal,,0,1,4,2024-05-11T25:00:00Z")
    assert bad != text
    (folder / "email.csv").write_text(bad)
    con = store.connect(tmp_path / "t.duckdb")
    counts, digest = store.table_counts(con), content_hash(con)
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [folder])
    assert caught.value.skippable
    [problem] = caught.value.problems
    assert (Path(problem.file).name, problem.row, problem.column) == ("email.csv", 4, "senton")
    assert "2024-05-11T25:00:00Z" in problem.reason
    assert store.table_counts(con) == counts and content_hash(con) == digest

    results = run_import(con, [folder], skip_invalid=True)
    email = next(r for r in results if r.file.endswith("email.csv"))
    assert (email.rows_read, email.rows_skipped, email.rows_added) == (11, 1, 10)
    # E2's second export still brings the message; the figures are unchanged.
    assert contoso(con)["interactions"]["emails"] == {"by_us": 3, "by_them": 2}
    stored = store.scalar(con, "SELECT problems FROM imports WHERE file LIKE '%email.csv'")
    assert '"row": 4' in stored and '"column": "senton"' in stored


def test_skip_invalid_on_the_command_line(tmp_path, capsys):
    folder = _copy(tmp_path)
    text = (folder / "phonecall.csv").read_text()
    (folder / "phonecall.csv").write_text(text.replace("2024-06-03T11:00:00Z", "soon"))
    db = str(tmp_path / "cli.duckdb")
    assert cli.main(["--db", db, "import", str(folder)]) != 0
    assert "phonecall.csv, row 2, column actualstart" in capsys.readouterr().err
    assert cli.main(["--db", db, "import", str(folder), "--skip-invalid"]) == 0
    con = store.connect(db, read_only=True)
    assert store.scalar(con, "SELECT count(*) FROM activities WHERE type = 'call'") == 2


@pytest.mark.parametrize("order", ["parties later", "parties first"])
def test_parties_in_another_import_are_attached(tmp_path, order, con):
    other = store.connect(tmp_path / "split.duckdb")
    files = sorted(DATA.glob("*.csv"))
    parties = [f for f in files if f.name == "activityparty.csv"]
    rest = [f for f in files if f.name != "activityparty.csv"]
    for batch in ([rest, parties] if order == "parties later" else [parties, rest]):
        run_import(other, batch)
    assert contoso(other)["interactions"] == contoso(con)["interactions"]
    assert contoso(other)["most_contacted"] == contoso(con)["most_contacted"]
    query = "SELECT * FROM activity_parties ORDER BY ALL"
    assert other.execute(query).fetchall() == con.execute(query).fetchall()
    query = "SELECT activity_id, initiator_id FROM activities ORDER BY ALL"
    assert other.execute(query).fetchall() == con.execute(query).fetchall()


def test_web_api_headers_and_labels(tmp_path):
    (tmp_path / "emails.csv").write_text(
        "activityid,subject,directioncode,statuscode,senton,_regardingobjectid_value,"
        "_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname,messageid\n"
        "{0A0A0A0A-0000-0000-0000-00000000000A},Hi,Outgoing,Sent,2024-01-02T10:00:00Z,"
        "{BBBBBBBB-0000-0000-0000-000000000001},account,\n"
        "0b0b0b0b-0000-0000-0000-00000000000b,Draft,true,Draft,,"
        ",,\n")
    con = store.connect(tmp_path / "w.duckdb")
    with pytest.raises(ImportProblem) as caught:  # the draft has no time at all
        run_import(con, [tmp_path / "emails.csv"])
    assert caught.value.problems[0].row == 3
    run_import(con, [tmp_path / "emails.csv"], skip_invalid=True)
    assert con.execute("SELECT activity_id, state, direction, regarding_type, regarding_id "
                       "FROM activities").fetchall() == [
        ("0a0a0a0a-0000-0000-0000-00000000000a", "completed", "outgoing", "account",
         "bbbbbbbb-0000-0000-0000-000000000001")]


def test_activities_of_several_types_in_one_file(tmp_path):
    (tmp_path / "activities.csv").write_text(
        "activityid,activitytypecode,subject,directioncode,statecode,senton,scheduledstart,"
        "scheduledend,messageid\n"
        "0a000000-0000-0000-0000-000000000001,email,Mail,1,1,2024-01-02T10:00:00Z,,,<x@y.z>\n"
        "0a000000-0000-0000-0000-000000000002,appointment,Meet,,1,,2024-01-03T10:00:00Z,"
        "2024-01-03T10:45:00Z,\n"
        "0a000000-0000-0000-0000-000000000003,fax,Ignored,,1,,,,\n")
    assert detect(expand(tmp_path / "activities.csv")[0]).name == "dataverse activitypointer"
    con = store.connect(tmp_path / "p.duckdb")
    run_import(con, [tmp_path / "activities.csv"])
    assert con.execute("SELECT activity_id, type, state, duration_minutes FROM activities "
                       "ORDER BY 1").fetchall() == [
        ("0a000000-0000-0000-0000-000000000002", "meeting", "completed", 45.0),
        ("msg:x@y.z", "email", "completed", None)]


def test_unknown_state_code_is_a_row_problem(tmp_path):
    (tmp_path / "appointment.csv").write_text(
        "activityid,subject,scheduledstart,scheduledend,statecode\n"
        "ad000000-0000-0000-0000-00000000000a,A,2024-01-02T10:00:00Z,2024-01-02T11:00:00Z,7\n")
    con = store.connect(tmp_path / "s.duckdb")
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [tmp_path / "appointment.csv"])
    problem = caught.value.problems[0]
    assert (problem.row, problem.column) == (2, "statecode")
    assert problem.reason.startswith("7 is not an appointment statecode")


# ---------------------------------------------------------------------------
# Configuration Migration Tool data.xml


@pytest.mark.skipif(not SAMPLE.exists(), reason="the shared Dataverse sample is not here")
def test_cmt_sample_imports(tmp_path):
    con = store.connect(tmp_path / "cmt.duckdb")
    [result] = run_import(con, [SAMPLE / "hied"])
    assert result.layout == "dataverse data.xml"
    assert not result.problems
    # SOURCE.md: 21 accounts, 25 contacts, 7 appointments, 4 tasks; one task
    # ("Register for Spring term") has no date at all and is left out.
    assert store.scalar(con, "SELECT count(*) FROM accounts WHERE source = 'dataverse'") == 21
    assert store.scalar(con, "SELECT count(*) FROM people WHERE crm_kind = 'contact'") == 25
    assert con.execute("SELECT type, state, count(*) FROM activities GROUP BY ALL ORDER BY ALL"
                       ).fetchall() == [("meeting", "scheduled", 7), ("task", "completed", 1),
                                        ("task", "scheduled", 2)]
    # The organizer is a systemuser named only in the parties: it becomes one of ours.
    assert con.execute("SELECT name, email, side FROM people WHERE crm_kind = 'user'"
                       ).fetchall() == [("EY Devs", "eydevs@msdynaccelerators.onmicrosoft.com",
                                         "us")]
    meeting = con.execute(
        "SELECT start_at, end_at, duration_minutes, initiator_id, regarding_type "
        "FROM activities WHERE activity_id = 'b29c6bb1-b827-eb11-a813-000d3a37fc99'").fetchall()
    assert meeting == [(dt.datetime(2022, 12, 2, 21), dt.datetime(2022, 12, 2, 22), 60.0,
                        "005878db-cb20-eb11-a813-000d3a33a9cc", "contact")]
    roles = dict(con.execute("SELECT role, count(*) FROM activity_parties GROUP BY role"
                             ).fetchall())
    assert roles == {"organizer": 4, "required": 7}


@pytest.mark.skipif(not SAMPLE.exists(), reason="the shared Dataverse sample is not here")
def test_folder_of_several_cmt_exports_is_one_source(tmp_path):
    con = store.connect(tmp_path / "both.duckdb")
    [result] = run_import(con, [SAMPLE])
    # hied: 7 meetings and 3 dated tasks; k12: 3 meetings and 6 of its 8 tasks.
    assert (result.layout, result.rows_added) == ("dataverse data.xml", 19)
    assert con.execute("SELECT type, count(*) FROM activities GROUP BY ALL ORDER BY ALL"
                       ).fetchall() == [("meeting", 10), ("task", 9)]


def test_xml_with_entities_is_refused(tmp_path):
    bomb = tmp_path / "data.xml"
    bomb.write_text('<?xml version="1.0"?>\n<!DOCTYPE entities [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
                    '<entities><entity name="account"><records><record id="x">'
                    '<field name="name" value="&b;" /></record></records></entity></entities>')
    con = store.connect(tmp_path / "x.duckdb")
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [bomb])
    assert "entit" in caught.value.problems[0].reason
    assert store.table_counts(con)["accounts"] == 0


def test_small_xml_export_with_nested_parties(tmp_path):
    folder = tmp_path / "cmt"
    folder.mkdir()
    (folder / "data.xml").write_text("""<?xml version="1.0" encoding="utf-8"?>
<entities timestamp="2024-01-01T00:00:00Z">
  <entity name="contact" displayname="Contact"><records>
    <record id="c0000000-0000-0000-0000-000000000001">
      <field name="fullname" value="Ann Archer" />
      <field name="emailaddress1" value="ann@contoso.com" />
      <field name="parentcustomerid" value="b0000000-0000-0000-0000-000000000001"
             lookupentity="account" lookupentityname="Contoso" />
    </record></records></entity>
  <entity name="email" displayname="Email"><records>
    <record id="e0000000-0000-0000-0000-000000000001">
      <field name="subject" value="Hello" />
      <field name="directioncode" value="True" />
      <field name="statuscode" value="3" />
      <field name="senton" value="2024-01-02T10:00:00.0000000Z" />
      <field name="messageid" value="&lt;m1@ourco.com&gt;" />
      <field name="from" value="" lookupentity="" lookupentityname="">
        <activitypointerrecords id="p1">
          <field name="partyid" value="a0000000-0000-0000-0000-000000000001"
                 lookupentity="systemuser" lookupentityname="Sam Seller" />
          <field name="participationtypemask" value="1" />
          <field name="addressused" value="sam@ourco.com" />
        </activitypointerrecords>
      </field>
      <field name="to" value="" lookupentity="" lookupentityname="">
        <activitypointerrecords id="p2">
          <field name="partyid" value="c0000000-0000-0000-0000-000000000001"
                 lookupentity="contact" lookupentityname="Ann Archer" />
          <field name="participationtypemask" value="2" />
          <field name="addressused" value="ann@contoso.com" />
        </activitypointerrecords>
      </field>
    </record></records></entity>
</entities>
""")
    con = store.connect(tmp_path / "x.duckdb")
    [result] = run_import(con, [folder])
    assert result.layout == "dataverse data.xml"
    assert con.execute("SELECT activity_id, direction, state, initiator_id FROM activities"
                       ).fetchall() == [("msg:m1@ourco.com", "outgoing", "completed",
                                         "a0000000-0000-0000-0000-000000000001")]
    assert con.execute("SELECT person_id, role FROM activity_parties ORDER BY role").fetchall() \
        == [("a0000000-0000-0000-0000-000000000001", "sender"),
            ("c0000000-0000-0000-0000-000000000001", "to")]
    assert con.execute("SELECT name, side FROM people ORDER BY name").fetchall() == [
        ("Ann Archer", "them"), ("Sam Seller", "us")]


def test_meeting_that_ends_before_it_starts_is_invalid(tmp_path):
    (tmp_path / "appointment.csv").write_text(
        "activityid,subject,scheduledstart,scheduledend,statecode\n"
        "ad000000-0000-0000-0000-00000000000a,A,2024-01-02T10:00:00Z,2024-01-02T09:00:00Z,1\n")
    con = store.connect(tmp_path / "o.duckdb")
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [tmp_path / "appointment.csv"])
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "scheduledend")]
