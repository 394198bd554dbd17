"""Privacy: bodies are never stored, a person can be erased everywhere, exports
can be pseudonymised, and excluded people appear in no figure and no page.

The small store of most tests is tests/data/mail/ourco.mbox (Anna and Tom of
ourco.com writing to Carla and Dave of pge.com, and to two gmail addresses)
plus tests/data/dataverse_small (Sam and Uma of ourco.com; Ann, Ben, Dee,
Carl of Contoso and Fay of Fabrikam; e-mails, meetings, calls, a task).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import kpi
from ingest import canonical, run_import
from rapport import privacy, store
from tests.conftest import DATA, ROOT
from tests.corpus import state
from tests.corpus.make import mbox, message

MARK = "9c1e"  # in every body below, never in a header


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rapport", "--db", str(db), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _file_bytes(db: Path) -> bytes:
    """The database file and its write-ahead log, as stored on disk."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())


# --- bodies -----------------------------------------------------------------

def _sources_with_bodies(folder: Path) -> list[Path]:
    """One input per importer that sees bodies, each body holding BODY-<kind>-9c1e."""
    multipart = (
        "Message-ID: <multi@buyer.example>\r\nDate: Tue, 15 May 2001 10:00:00 +0000\r\n"
        "From: ann@buyer.example\r\nTo: sam@ourco.example\r\nSubject: SUBJ-multi-9c1e\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nBODY-text-9c1e\r\n"
        "--b1\r\nContent-Type: text/html\r\n\r\n<p>BODY-html-9c1e</p>\r\n--b1--\r\n")
    quoted = ("Message-ID: <qp@buyer.example>\r\nDate: Wed, 16 May 2001 10:00:00 +0000\r\n"
              "From: ann@buyer.example\r\nTo: sam@ourco.example\r\nSubject: SUBJ-qp-9c1e\r\n"
              "Content-Transfer-Encoding: quoted-printable\r\n\r\nBODY-qp-9c1e caf=C3=A9\r\n")
    (folder / "mail.mbox").write_bytes(mbox(
        message(1, subject="SUBJ-plain-9c1e", body="BODY-plain-9c1e\r\nsecond line"),
        multipart.encode(), quoted.encode()))
    (folder / "single.eml").write_bytes(message(4, subject="SUBJ-eml-9c1e",
                                                body="BODY-eml-9c1e"))
    dv = folder / "dataverse"
    dv.mkdir()
    (dv / "email.csv").write_text(
        "activityid,subject,description,directioncode,statuscode,senton,messageid\r\n"
        "eeeeeeee-0000-0000-0000-000000000071,SUBJ-dv-9c1e,\"Hello,\r\nBODY-dataverse-9c1e\""
        ",1,3,2024-04-01T09:00:00Z,<dv71@ourco.example>\r\n")
    sf = folder / "salesforce"
    sf.mkdir()
    (sf / "EmailMessage.csv").write_text(
        "Id,Subject,FromName,FromAddress,ToAddress,MessageDate,Incoming,Status,"
        "MessageIdentifier,TextBody,HtmlBody\r\n"
        "02s000000000071AAA,SUBJ-sf-9c1e,Sam Seller,sam@ourco.com,cara@contoso.com,"
        "2024-02-05T10:00:00.000+0000,0,3,<sf71@ourco.com>,BODY-sftext-9c1e,"
        "<b>BODY-sfhtml-9c1e</b>\r\n")
    hs = folder / "hubspot"
    hs.mkdir()
    (hs / "emails.csv").write_text(
        "hs_object_id,hs_timestamp,hubspot_owner_id,hs_email_direction,hs_email_status,"
        "hs_email_subject,hs_email_from_email,hs_email_to_email,hs_email_text,hs_email_html\r\n"
        "271,2024-02-05T09:00:00Z,12,EMAIL,SENT,SUBJ-hs-9c1e,olga@ourco.com,"
        "elodie@fabrikam.com,BODY-hstext-9c1e,<p>BODY-hshtml-9c1e</p>\r\n")
    (folder / "meeting.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Rapport tests//privacy//EN\r\n"
        "BEGIN:VEVENT\r\nUID:privacy-1@ourco.com\r\nSUMMARY:SUBJ-ics-9c1e\r\n"
        "DESCRIPTION:BODY-ics-9c1e agenda\r\n"
        "ORGANIZER;CN=Sam Seller:mailto:sam@ourco.com\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:cara@contoso.com\r\n"
        "DTSTART:20240108T100000Z\r\nDTEND:20240108T110000Z\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n")
    return [folder / "mail.mbox", folder / "single.eml", dv, sf, hs, folder / "meeting.ics"]


def test_message_bodies_are_never_stored(tmp_path):
    db = tmp_path / "rapport.duckdb"
    con = store.connect(db)
    sources = _sources_with_bodies(tmp_path)
    results = run_import(con, sources)
    subjects = {row[0] for row in con.execute(
        "SELECT subject FROM activities WHERE subject LIKE 'SUBJ-%'").fetchall()}
    # Every source was read: the subject of each of its messages is stored.
    assert subjects == {"SUBJ-plain-9c1e", "SUBJ-multi-9c1e", "SUBJ-qp-9c1e",
                        "SUBJ-eml-9c1e", "SUBJ-dv-9c1e", "SUBJ-sf-9c1e", "SUBJ-hs-9c1e",
                        "SUBJ-ics-9c1e"}, [r.layout for r in results]
    con.execute("CHECKPOINT")
    con.close()
    stored = _file_bytes(db)
    assert b"SUBJ-plain-9c1e" in stored  # the search finds what is there
    assert b"BODY-" not in stored
    assert b"9c1e agenda" not in stored and b"second line" not in stored


# --- erase ------------------------------------------------------------------

@pytest.fixture
def small_db(tmp_path) -> Path:
    """ourco.mbox and the small Dataverse export, plus a mailbox named after Carla
    holding one good message from her and one with a placeholder date, so that
    an import's record (file name and skipped rows) mentions her address, and
    two mails with Ann of Contoso (one shared with Ben), so that she is both a
    CRM contact and a bare address."""
    extra = tmp_path / "from-carla@pge.com.mbox"
    extra.write_bytes(mbox(
        message(31, sender="Carla Ruiz <carla@pge.com>", to="anna@ourco.com",
                subject="Contract for carla@pge.com", date="Thu, 24 May 2001 10:00:00 +0000"),
        message(32, sender="carla@pge.com", to="anna@ourco.com",
                date="Mon, 31 Dec 1979 16:00:00 -0800")))
    contoso = tmp_path / "contoso.mbox"
    contoso.write_bytes(mbox(
        message(41, sender="anna@ourco.com", to="Ann Archer <ann@contoso.com>",
                extra="Cc: ben.baker@contoso.com\r\n", date="Tue, 2 Apr 2024 10:00:00 +0000"),
        message(42, sender="ann@contoso.com", to="anna@ourco.com",
                date="Wed, 3 Apr 2024 10:00:00 +0000")))
    db = tmp_path / "rapport.duckdb"
    con = store.connect(db)
    run_import(con, [DATA / "mail" / "ourco.mbox", DATA / "dataverse_small"],
               skip_invalid=True)
    run_import(con, [extra, contoso], skip_invalid=True)
    con.close()
    return db


def _everywhere(con, needle: str) -> dict[str, int]:
    """{table.column: rows} holding *needle* in any text column of any table."""
    found = {}
    for table in state.tables(con):
        columns = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND "
            "database_name = current_database() AND data_type = 'VARCHAR'",
            [table]).fetchall()]
        for column in columns:
            n = con.execute(f'SELECT count(*) FROM "{table}" WHERE contains(lower("{column}"), ?)',
                            [needle.lower()]).fetchall()[0][0]
            if n:
                found[f"{table}.{column}"] = n
    return found


def _rows(con, sql: str, params=()):
    return con.execute(sql, list(params)).fetchall()


def test_erase_removes_a_person_everywhere_in_one_go(small_db):
    con = store.connect(small_db)
    assert len(_everywhere(con, "carla@pge.com")) >= 5  # people, parties, imports, journal
    activities = _rows(con, "SELECT count(*) FROM activities")[0][0]
    others = _rows(con, "SELECT * FROM people WHERE email <> 'carla@pge.com' ORDER BY ALL")
    con.close()

    run = _cli(small_db, "erase", "Carla@PGE.com")
    assert run.returncode == 0, run.stderr
    # Her four e-mails had no other customer on them: m1 (Anna to her), m2 (hers),
    # corpus-31 (hers); corpus-32 was never stored (placeholder date).
    assert run.stdout.startswith(f"Erased Carla@PGE.com from {small_db}: ")
    assert "3 activities" in run.stdout

    con = store.connect(small_db)
    try:
        assert _everywhere(con, "carla@pge.com") == {}
        assert _everywhere(con, "Carla Ruiz") == {}
        assert _rows(con, "SELECT count(*) FROM activities")[0][0] == activities - 3
        # Everyone else is as before; Dave keeps pge.com's account alive.
        assert _rows(con, "SELECT * FROM people ORDER BY ALL") == others
        assert _rows(con, "SELECT account_id FROM accounts WHERE account_id = "
                          "'domain:pge.com'") == [("domain:pge.com",)]
        # The imports' records are kept, with her address blanked out.
        (problems,), = _rows(con, "SELECT problems FROM imports "
                                  "WHERE file LIKE '%from-[erased].mbox'")
        problems = json.loads(problems)
        assert [p["row"] for p in problems] == [2]
        assert all("[erased]" in p["file"] for p in problems)
        from kpi import materialize
        assert materialize.is_fresh(con)
    finally:
        con.close()
    # The file was rewritten: her address is not in its free blocks either.
    assert b"carla@pge.com" not in _file_bytes(small_db)


def test_erasing_a_crm_contact_by_id_removes_the_contact_and_the_bare_address(small_db):
    con = store.connect(small_db)
    ann = "cccccccc-0000-0000-0000-000000000001"
    assert _rows(con, "SELECT person_id FROM people WHERE person_key = 'ann@contoso.com' "
                      "ORDER BY 1") == [(ann,), ("mailto:ann@contoso.com",)]
    shared = _rows(con, """
        SELECT DISTINCT activity_id FROM activity_parties
        WHERE activity_id IN (SELECT activity_id FROM activity_parties
                              WHERE person_id IN (?, 'mailto:ann@contoso.com'))
          AND person_id IN (SELECT person_id FROM people WHERE side = 'them'
                            AND person_key <> 'ann@contoso.com')""", [ann])
    con.close()
    assert shared, "the fixture should hold an activity Ann shares with another customer"

    counts = privacy.erase_file(small_db, ann)
    assert counts["people"] == 2

    con = store.connect(small_db)
    try:
        assert _everywhere(con, "ann@contoso.com") == {}
        assert _everywhere(con, ann) == {}
        # Activities she shared with another customer stay, without her.
        kept = _rows(con, "SELECT activity_id FROM activities WHERE list_contains(?, "
                          "activity_id)", [[a for (a,) in shared]])
        assert sorted(kept) == sorted(shared)
        assert _rows(con, "SELECT count(*) FROM opportunity_members WHERE person_id = ?",
                     [ann]) == [(0,)]
    finally:
        con.close()


def test_an_erasure_that_cannot_finish_changes_nothing(small_db):
    con = store.connect(small_db)
    # A table Rapport does not know of, holding her address in its key.
    con.execute("CREATE TABLE notes (note VARCHAR PRIMARY KEY)")
    con.execute("INSERT INTO notes VALUES ('call carla@pge.com back')")
    before = state.hashes(con)
    with pytest.raises(privacy.ErasureError, match=r"notes\.note \(1 rows\)"):
        privacy.erase(con, "carla@pge.com")
    assert state.changed(before, state.hashes(con)) == []
    with pytest.raises(LookupError, match="no person in the store"):
        privacy.erase(con, "nobody@nowhere.example")
    assert state.changed(before, state.hashes(con)) == []
    con.close()
    run = _cli(small_db, "erase", "nobody@nowhere.example")
    assert run.returncode == 3
    assert "no person in the store has the address or id 'nobody@nowhere.example'" in \
        run.stderr


# --- pseudonymised export -----------------------------------------------------

def test_a_pseudonymised_export_hides_every_name_and_keeps_the_shape(small_db, tmp_path):
    con = store.connect(small_db)
    try:
        real = {v.lower() for (v,) in _rows(con, "SELECT email FROM people "
                                                 "WHERE email IS NOT NULL")}
        real |= {v.lower() for (v,) in _rows(con, "SELECT name FROM people "
                                                 "WHERE name IS NOT NULL")}
        plain = canonical.export(con, tmp_path / "plain")
        masked = canonical.export(con, tmp_path / "masked", pseudonymize=True)
        again = canonical.export(con, tmp_path / "again", pseudonymize=True)
        accounts = kpi.list_accounts(con, days=None)
    finally:
        con.close()
    assert [p.name for p in plain] == [p.name for p in masked]
    text = "\n".join(p.read_text(encoding="utf-8-sig") for p in masked).lower()
    leaked = sorted(v for v in real if v in text and "@" in v or
                    (v in text and len(v) > 4 and " " in v))
    assert leaked == []
    assert "person-" in text and "@acct-" in text
    # Stable: the same database gives the same pseudonyms.
    for a, b in zip(masked, again):
        assert a.read_bytes() == b.read_bytes()
    # Consistent: every party names a person of the people file.
    with open(tmp_path / "masked" / "people.csv", encoding="utf-8-sig") as handle:
        ids = {row["person_id"] for row in csv.DictReader(handle)}
    with open(tmp_path / "masked" / "activity_parties.csv", encoding="utf-8-sig") as handle:
        assert {row["person_id"] for row in csv.DictReader(handle)} <= ids
    # The shape survives: imported back, the accounts have the same figures.
    back = store.connect(tmp_path / "back.duckdb")
    try:
        run_import(back, [tmp_path / "masked"])
        masked_accounts = kpi.list_accounts(back, days=None)
    finally:
        back.close()
    columns = ["contacts", "interactions", "emails", "meetings", "calls"]
    assert sorted(map(tuple, masked_accounts[columns].values.tolist())) == \
        sorted(map(tuple, accounts[columns].values.tolist()))


# --- excluded people ------------------------------------------------------------

def _page_text(db: Path, monkeypatch, page: str, **params) -> str:
    """Everything a page of the app sends to the browser, as text."""
    monkeypatch.setenv(store.ENV_DB, str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params.update(params)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]

    def walk(node, out):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        children = getattr(node, "children", None) or {}
        for child in (children.values() if isinstance(children, dict) else children):
            walk(child, out)
        return out
    return "\n".join(walk(at._tree, []))


def test_excluded_people_are_in_no_figure_and_no_page(small_db, monkeypatch):
    run = _cli(small_db, "settings", "set", "excluded_addresses", "carla@pge.com")
    assert run.returncode == 0, run.stderr
    con = store.connect(small_db, read_only=True)
    try:
        assert _rows(con, "SELECT side FROM people WHERE email = 'carla@pge.com'") == \
            [("excluded",)]
        accounts = kpi.list_accounts(con, days=None)
        contacts = kpi.list_contacts(con, days=None)
        assert "carla@pge.com" not in contacts["email"].tolist()
        for account_id in accounts["account_id"]:
            figures = json.dumps(kpi.figures(con, "account", account_id, days=None))
            assert "carla" not in figures.lower(), account_id
        for contact_id in contacts["contact_id"]:
            figures = json.dumps(kpi.figures(con, "contact", contact_id, days=None))
            assert "carla" not in figures.lower(), contact_id
        with pytest.raises(LookupError):
            kpi.figures(con, "contact", "carla@pge.com")
        # pge.com now counts Dave's e-mail only.
        pge = accounts[accounts["account_id"] == "domain:pge.com"].iloc[0]
        assert (pge["contacts"], pge["emails"]) == (1, 1)
    finally:
        con.close()
    # The pages that show figures. (The Settings page lists the excluded
    # addresses, and the Data page the files imported: neither shows a figure.)
    for page, params, shown in (
            ("pages/accounts.py", {"days": "all"}, "pge.com"),
            ("pages/overview.py", {"days": "all"}, "pge.com"),
            ("pages/account.py", {"id": "domain:pge.com", "days": "all"}, "dave"),
            ("pages/contact.py", {"id": "dave@gen.pge.com", "days": "all"}, "dave")):
        text = _page_text(small_db, monkeypatch, page, **params).lower()
        assert "carla" not in text, page
        assert shown in text, page  # the page did show pge.com and its people
