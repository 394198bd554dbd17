"""Mailbox imports: mbox, .eml, and folders or .zip archives of messages."""

import datetime as dt
import hashlib
import json
import shutil
import zipfile

import pytest

from ingest.base import ImportProblem
from ingest.layouts import run_import
from rapport import cli, settings, store

ROOT_ID = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFg=="  # base64 of bytes 1..22


def rows(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def parties(con, activity_id):
    return set(rows(con, "SELECT role, person_id FROM activity_parties WHERE activity_id = ?",
                    [activity_id]))


def problem_keys(exc):
    return [(p.file, p.row, p.column) for p in exc.problems]


def test_folded_headers_and_encoded_names(con, mail_data):
    (result,) = run_import(con, [mail_data / "folded.eml"])
    assert (result.layout, result.rows_read, result.rows_added) == ("eml", 1, 1)
    assert rows(con, """
        SELECT activity_id, type, state, start_at, subject, message_id, in_reply_to, refs,
               conversation_id, initiator_id
        FROM activities""") == [(
        "msg:folded.1@mail.pge.com", "email", "completed",
        dt.datetime(2001, 5, 15, 16, 30),  # 09:30 at -0700
        "Présentation Q2 pricing", "Folded.1@Mail.PGE.com", None, None,
        ROOT_ID,  # the conversation part of a reply's Thread-Index
        "mailto:juergen.mueller@gen.pge.com",
    )]
    assert parties(con, "msg:folded.1@mail.pge.com") == {
        ("sender", "mailto:juergen.mueller@gen.pge.com"),
        ("to", "mailto:anna@ourco.com"),
        ("to", "mailto:tom.berg@ourco.com"),
        ("to", "mailto:carla@pge.com"),
        ("cc", "mailto:renee.dupont@gmail.com"),
    }
    assert dict(rows(con, "SELECT email, name FROM people")) == {
        "juergen.mueller@gen.pge.com": "Jürgen Müller",
        "anna@ourco.com": "Anna Seller",
        "tom.berg@ourco.com": "Berg, Tom",
        "carla@pge.com": None,
        "renee.dupont@gmail.com": "Renée Dupont",
    }
    assert set(rows(con, "SELECT crm_kind FROM people")) == {("address",)}


def test_message_without_id_gets_the_same_id_every_time(tmp_path, mail_data):
    key = "anna@ourco.com|2001-05-16T10:00:00|Follow-up on pricing"
    expected = "msg:" + hashlib.sha1(key.encode()).hexdigest()[:24]
    found = []
    for name in ("first.duckdb", "second.duckdb"):
        con = store.connect(tmp_path / name)
        run_import(con, [mail_data / "no_message_id.eml"])
        found.append(rows(con, "SELECT activity_id, message_id FROM activities"))
        con.close()
    assert found == [[(expected, None)], [(expected, None)]]


def test_message_id_with_and_without_brackets_is_one_activity(con, mail_data):
    results = run_import(con, [mail_data / "id_in_brackets.eml", mail_data / "id_bare.eml"])
    assert [r.rows_added for r in results] == [1, 0]
    assert rows(con, "SELECT activity_id, message_id, start_at FROM activities") == [
        ("msg:same.7@ourco.com", "Same.7@ourco.com", dt.datetime(2001, 5, 17, 13, 15))]
    # Both files are remembered as sources of the one activity.
    assert rows(con, "SELECT count(*) FROM activity_sources") == [(2,)]


def test_placeholder_date_is_listed_and_the_import_refused(con, mail_data):
    path = mail_data / "ourco.mbox"
    before = store.table_counts(con)
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [path])
    assert caught.value.skippable
    assert problem_keys(caught.value) == [(str(path), 4, "Date")]
    assert "before 1990" in caught.value.problems[0].reason
    assert "1979" in caught.value.problems[0].reason
    assert store.table_counts(con) == before


def test_skip_invalid_stores_the_other_messages(con, mail_data):
    (result,) = run_import(con, [mail_data / "ourco.mbox"], skip_invalid=True)
    assert (result.layout, result.rows_read, result.rows_added, result.rows_skipped) == (
        "mbox", 6, 4, 1)
    assert rows(con, """
        SELECT activity_id, start_at, subject, message_id, in_reply_to, refs, conversation_id
        FROM activities ORDER BY start_at""") == [
        ("msg:m1@ourco.com", dt.datetime(2001, 5, 14, 9), "Pricing for Q2", "m1@ourco.com",
         None, None, ROOT_ID),
        ("msg:m2@pge.com", dt.datetime(2001, 5, 15, 14, 30), "RE: Pricing for Q2",
         "m2@pge.com", "m1@ourco.com", "m0@ourco.com m1@ourco.com", ROOT_ID),
        ("msg:m3@ourco.com", dt.datetime(2001, 5, 20, 18), "Site visit", "m3@ourco.com",
         None, None, None),
        ("msg:m5@ourco.com", dt.datetime(2001, 5, 22, 7, 45), "Personal note",
         "m5@ourco.com", None, None, None),
    ]
    # The sixth message repeats the first (Message-ID differs only in case): once.
    assert parties(con, "msg:m1@ourco.com") == {
        ("sender", "mailto:anna@ourco.com"), ("to", "mailto:carla@pge.com")}
    stored = json.loads(rows(con, "SELECT problems FROM imports")[0][0])
    assert [(p["row"], p["column"]) for p in stored] == [(4, "Date")]


def test_second_import_of_the_same_file_adds_nothing(con, mail_data):
    run_import(con, [mail_data / "ourco.mbox"], skip_invalid=True)
    before = store.table_counts(con)
    (again,) = run_import(con, [mail_data / "ourco.mbox"], skip_invalid=True)
    assert again.outcome == "already imported"
    assert store.table_counts(con) == before


def test_subdomains_share_one_account_and_freemail_makes_none(con, mail_data):
    run_import(con, [mail_data / "ourco.mbox", mail_data / "folded.eml"], skip_invalid=True)
    # ourco.com sent 3 of the 5 stored messages: it is inferred as ours.
    assert settings.load(con).internal_domains == ["ourco.com"]
    assert rows(con, "SELECT account_id, domain FROM accounts") == [
        ("domain:pge.com", "pge.com")]
    assert dict(rows(con, "SELECT email, (side, account_id) FROM people")) == {
        "anna@ourco.com": ("us", None),
        "tom.berg@ourco.com": ("us", None),
        "carla@pge.com": ("them", "domain:pge.com"),
        "dave@gen.pge.com": ("them", "domain:pge.com"),
        "juergen.mueller@gen.pge.com": ("them", "domain:pge.com"),
        "friend@gmail.com": ("them", None),
        "eve@gmail.com": ("them", None),
        "renee.dupont@gmail.com": ("them", None),
    }


def test_dates_without_a_zone_are_read_in_the_import_zone(con, mail_data):
    run_import(con, [mail_data / "no_zone.eml"], timezone="Europe/Berlin")
    assert rows(con, "SELECT start_at FROM activities") == [(dt.datetime(2001, 5, 18, 8),)]


def test_future_date_and_missing_sender_are_invalid(con, mail_data):
    future, nobody = mail_data / "future.eml", mail_data / "no_sender.eml"
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [future, nobody])
    assert problem_keys(caught.value) == [(str(future), 1, "Date"), (str(nobody), 1, "From")]
    assert "after the import" in caught.value.problems[0].reason
    assert "undisclosed sender" in caught.value.problems[1].reason
    assert store.table_counts(con)["activities"] == 0


def _truncated_zip(tmp_path, mail_data):
    path = tmp_path / "mail.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("ourco.mbox", "no_zone.eml", "id_bare.eml"):
            archive.write(mail_data / name, f"export/{name}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty_file(tmp_path, mail_data):
    path = tmp_path / "inbox.mbox"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("make", [_truncated_zip, _empty_file])
def test_unreadable_file_is_named_and_nothing_changes(con, tmp_path, mail_data, make):
    run_import(con, [mail_data / "folded.eml"])
    before = store.table_counts(con)
    path = make(tmp_path, mail_data)
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [path], skip_invalid=True)
    assert [p.file for p in caught.value.problems] == [str(path)]
    assert str(path) in str(caught.value)
    assert store.table_counts(con) == before


@pytest.mark.parametrize("member", ["../evil.eml", "/tmp/evil.eml", "mail/../../evil.eml"])
def test_zip_members_outside_the_archive_are_refused(con, tmp_path, mail_data, member):
    path = tmp_path / "mail.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mail/ok.eml", (mail_data / "folded.eml").read_bytes())
        archive.writestr(member, (mail_data / "id_bare.eml").read_bytes())
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [path], skip_invalid=True)
    assert problem_keys(caught.value) == [(str(path), member, None)]
    assert store.table_counts(con)["activities"] == 0


def _message_tree(tmp_path, mail_data, as_zip):
    files = {
        "mail/1/a.eml": (mail_data / "folded.eml").read_bytes(),
        "mail/1/a.cats": b"1,1,1\n",
        "mail/categories.txt": b"Format of each line in .cats file:\nn1,n2,n3\n",
        "mail/readme.md": b"# Notes\nNot a message.\n",
        "mail/2/b.txt": (mail_data / "id_in_brackets.eml").read_bytes(),
        "mail/2/inbox.mbox": (mail_data / "ourco.mbox").read_bytes(),
    }
    if as_zip:
        path = tmp_path / "mail.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return path
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path / "mail"


@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "folder"])
def test_message_folder_reads_messages_and_skips_other_files(con, tmp_path, mail_data,
                                                              as_zip):
    path = _message_tree(tmp_path, mail_data, as_zip)
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [path])
    # Inside a folder a message is named by its path; an mbox message by path and number.
    assert problem_keys(caught.value) == [(str(path), "mail/2/inbox.mbox, message 4"
                                           if as_zip else "2/inbox.mbox, message 4", "Date")]
    (result,) = run_import(con, [path], skip_invalid=True)
    assert (result.layout, result.rows_read, result.rows_added) == ("message folder", 8, 6)
    assert {a for (a,) in rows(con, "SELECT activity_id FROM activities")} == {
        "msg:folded.1@mail.pge.com", "msg:same.7@ourco.com", "msg:m1@ourco.com",
        "msg:m2@pge.com", "msg:m3@ourco.com", "msg:m5@ourco.com"}


def test_large_mbox_reports_progress(con, tmp_path):
    path = tmp_path / "big.mbox"
    with open(path, "w") as out:
        for i in range(1000):
            out.write(f"From a@ourco.com  Mon May 14 09:00:00 2001\n"
                      f"Message-ID: <n{i}@ourco.com>\n"
                      f"Date: Mon, 14 May 2001 09:{i % 60:02d}:00 +0000\n"
                      f"From: a@ourco.com\nTo: b{i}@client.org\nSubject: note {i}\n\n"
                      f"Body {i}\n\n")
    calls = []
    (result,) = run_import(con, [path], progress=lambda f, text: calls.append((f, text)))
    assert result.rows_added == 1000
    reading = [(f, text) for f, text in calls if "messages" in text]
    assert [text.rsplit(": ", 1)[1] for _, text in reading] == [
        "200 messages", "400 messages", "600 messages", "800 messages", "1000 messages"]
    fractions = [f for f, _ in reading]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] < 1


# The edge cases of a mailbox parser's own test suite: each file imports, and a
# message that cannot be read is a problem naming the message and the header.
EDGE_CASES = {
    "mbox_complex.mbox": (2, []),
    "mbox_iso8859_encoding.mbox": (1, []),
    "mbox_multipart.mbox": (2, []),
    "mbox_no_fields.mbox": (3, [(3, "Date"), (5, "Date")]),
    "mbox_single.mbox": (1, []),
    "mbox_unixfrom_encoding.mbox": (1, []),
    "mbox_unknown_encoding.mbox": (1, []),
    "pipermail_2015_november.mbox": (4, []),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_mailboxes(con, mail_data, name):
    added, problems = EDGE_CASES[name]
    (result,) = run_import(con, [mail_data / "edge" / name], skip_invalid=True)
    assert result.layout == "mbox"
    assert result.rows_added == added
    assert [(p.row, p.column) for p in result.problems] == problems
    assert all("Date header" in p.reason for p in result.problems)


def test_edge_case_senders_and_names(tmp_path, mail_data):
    expected = {
        # pipermail writes "andy at example.com (Andy Grunwald)"
        "pipermail_2015_november.mbox": {("andy@example.com", "Andy Grunwald"),
                                         ("jgb@gsyc.es", "Jesus M. Gonzalez-Barahona")},
        # an RFC 2047 name in UTF-8 and a raw Latin-1 byte in the address
        "mbox_iso8859_encoding.mbox": {("lucíacharlie@wellsfargo.com", "Lucía Charlie")},
        "mbox_no_fields.mbox": {("goran@domain.com", "Göran Lastname")},
        "mbox_complex.mbox": {("eloli@hotmail.com", "Eugenia Loli-Queru"),
                              ("danilo@gnome.org", "Danilo Šegan")},
    }
    for name, senders in expected.items():
        con = store.connect(tmp_path / f"{name}.duckdb")
        run_import(con, [mail_data / "edge" / name], skip_invalid=True)
        assert set(rows(con, """
            SELECT DISTINCT p.email, p.name FROM activity_parties ap
            JOIN people p USING (person_id) WHERE ap.role = 'sender'""")) == senders, name
        con.close()


def test_thread_headers_of_a_mailing_list_reply(con, mail_data):
    run_import(con, [mail_data / "edge" / "mbox_unixfrom_encoding.mbox"])
    ((replied, refs),) = rows(con, "SELECT in_reply_to, refs FROM activities")
    assert replied == "CAKP=3WwxhP=nNqT5kJ+6ohUU-pgvRu+PkW=7ASLpiQguf7CKxg@example.org"
    assert refs.split() == [
        "4ADDAFD4-A226-4F68-B02D-EDA5DE355104@wikimedia.org",
        "CAE4f==fqAcbM+hg3ZrHM1Jv+d7W3hdU5HXvPNq2Q5ZdxvdgJ+Q@example.org",
        "CAKP=3WyH=YfNyq5uspTo-n5txswQ6xfBd1WpfdYyxf+JK3YyRA@example.org",
        "20150113220428.GA26586@example.org",
        "CAKP=3WyQZFSu3W04s1QEJY2kkUa6aWXcfghpQMS0hRdp-Pz5Tg@example.org",
        "CAHXK4BwCqapFeS6d3-7S665Fm8kGWxQBBM1w9VHm=vxiRpVRYA@example.org",
        "CAKP=3WwxhP=nNqT5kJ+6ohUU-pgvRu+PkW=7ASLpiQguf7CKxg@example.org",
    ]


def test_command_line_lists_the_problem_then_skips_it(db_file, mail_data, capsys):
    path = mail_data / "ourco.mbox"
    assert cli.main(["--db", str(db_file), "import", str(path)]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert f"{path}, row 4, column Date: the date" in err
    assert "--skip-invalid" in err
    assert cli.main(["--db", str(db_file), "import", str(path), "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: mbox, 6 rows read, 4 activities added, 1 skipped" in out


def test_copied_mailbox_is_recognised_by_content_not_name(con, tmp_path, mail_data):
    renamed = tmp_path / "export.dat"
    shutil.copy(mail_data / "ourco.mbox", renamed)
    single = tmp_path / "message.bin"
    shutil.copy(mail_data / "folded.eml", single)
    results = run_import(con, [renamed, single], skip_invalid=True)
    assert [(r.layout, r.rows_added) for r in results] == [("mbox", 4), ("eml", 1)]


def test_unknown_import_zone_is_refused_plainly(con, mail_data):
    with pytest.raises(ImportProblem, match="'Mars/Olympus' is not known"):
        run_import(con, [mail_data / "no_zone.eml"], timezone="Mars/Olympus")
    assert store.table_counts(con)["activities"] == 0
