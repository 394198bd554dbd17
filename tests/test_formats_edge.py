"""The awkward inputs real exports bring, each read the way a person would expect."""

import datetime as dt

import pytest

from ingest import ImportProblem, run_import
from ingest.layouts import ReadOptions
from ingest.mapping import Mapping, guess_mapping, read_mapped, read_times
from ingest.sources import Source
from rapport import settings as settings_mod
from rapport import store
from tests.conftest import DATA

EDGE = DATA / "edge"


def test_an_excel_csv_utf8_byte_order_mark_before_the_first_header(con, tmp_path):
    path = tmp_path / "calls.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (DATA / "hubspot" / "calls.csv").read_bytes())
    (result,) = run_import(con, [path])
    assert (result.layout, result.rows_added) == ("hubspot calls", 3)


def test_a_european_crm_export_through_the_column_mapping():
    source = Source(EDGE / "european_crm.csv")
    header = ["typ", "datum", "von", "an", "dauer (std.)", "betreff"]
    mapping = guess_mapping(header, "Kundenexport")
    assert mapping.columns == {"type": "typ", "time": "datum", "from": "von", "to": "an",
                               "duration": "dauer (std.)", "subject": "betreff"}
    assert mapping.duration_unit == "hours"
    batch = read_mapped(source, mapping, ReadOptions(timezone="Europe/Berlin"))
    assert batch.problems == []
    assert batch.rows_read == 3  # the two summary lines after the blank line are not rows
    rows = [(a["type"], a["start_at"], a["duration_minutes"], a["subject"])
            for a in batch.tables["activities"]]
    assert rows == [
        ("call", dt.datetime(2024, 1, 31, 13, 5), 90.0, "Angebot besprechen"),
        ("email", dt.datetime(2024, 2, 1, 8, 30), None, "Angebot für Müller & Söhne"),
        ("meeting", dt.datetime(2024, 2, 2, 9, 0), 45.0, "Vorführung"),
    ]
    names = {p["person_id"]: p["name"] for p in batch.tables["people"]}
    assert names["mailto:juergen@ourco.com"] == "Jürgen Müller"
    assert names["mailto:zoe@kunde.de"] == "Zoë Bäcker"


def test_day_first_dates_are_read_day_first_for_the_whole_column():
    column = read_times([(2, "03/05/2024"), (3, "20/05/2024"), (4, "11/02/2024")],
                        file="f.csv", column="date")
    assert column.order == "day-first"
    assert column.values == {2: dt.datetime(2024, 5, 3), 3: dt.datetime(2024, 5, 20),
                             4: dt.datetime(2024, 2, 11)}


def test_an_undecidable_date_column_asks_for_the_order_never_guesses():
    cells = [(2, "03/05/2024"), (3, "04/06/2024")]
    with pytest.raises(ImportProblem, match=r"f.csv, row 2, column date: every date in the "
                       r"column .* reads both as day/month and as month/day.*--date-order"):
        read_times(cells, file="f.csv", column="date")
    chosen = read_times(cells, file="f.csv", column="date", order="month-first")
    assert chosen.values == {2: dt.datetime(2024, 3, 5), 3: dt.datetime(2024, 4, 6)}


def test_a_column_of_both_orders_is_refused_not_mixed():
    with pytest.raises(ImportProblem, match=r"mixes day-first dates \(row 2: 20/05/2024\) and "
                       r"month-first dates \(row 3: 05/21/2024\)"):
        read_times([(2, "20/05/2024"), (3, "05/21/2024")], file="f.csv", column="date")


def test_25000_rows_whose_ids_and_durations_change_kind_late(con, tmp_path):
    path = tmp_path / "activities.csv"
    lines = ["Type,Date,Contact ID,Duration (min),Subject"]
    for i in range(25_000):
        contact = str(1000 + i) if i < 21_000 else f"C-{i - 19_000}"
        duration = "30" if i < 21_000 else "12.5"
        day = dt.date(2023, 1, 1) + dt.timedelta(days=i % 365)
        lines.append(f"call,{day.isoformat()} 10:{i % 60:02d},{contact},{duration},Call {i}")
    path.write_text("\n".join(lines) + "\n")
    mapping = Mapping("Call report", {"type": "type", "time": "date",
                                      "regarding": "contact id", "duration": "duration (min)",
                                      "subject": "subject"}, regarding_type="contact")
    batch = read_mapped(Source(path), mapping, ReadOptions())
    assert batch.problems == [] and batch.count("activities") == 25_000
    acts = batch.tables["activities"]
    assert acts[0]["regarding_id"] == "1000" and acts[20_999]["regarding_id"] == "21999"
    assert acts[21_000]["regarding_id"] == "C-2000" and acts[-1]["regarding_id"] == "C-5999"
    assert {a["duration_minutes"] for a in acts} == {30.0, 12.5}


def _eml(path, message_id, sender, to, cc="", subject="Hello"):
    path.write_text(f"Message-ID: <{message_id}>\nFrom: {sender}\nTo: {to}\n"
                    + (f"Cc: {cc}\n" if cc else "")
                    + f"Date: Mon, 05 Feb 2024 10:00:00 +0000\nSubject: {subject}\n\nbody\n")
    return path


def test_mail_among_our_own_domains_is_internal_and_lookalikes_are_not(con, tmp_path):
    settings_mod.save(con, internal_domains=["ourco.com"])
    run_import(con, [
        _eml(tmp_path / "a.eml", "a@ourco.com", "seller@ourco.com", "manager@ourco.com",
             cc="colleague@eu.ourco.com"),
        _eml(tmp_path / "b.eml", "b@ourco.com", "seller@ourco.com",
             "buyer@ourco.com.evil.io"),
    ])
    sides = dict(con.execute("SELECT email, side FROM people").fetchall())
    assert sides == {"seller@ourco.com": "us", "manager@ourco.com": "us",
                     "colleague@eu.ourco.com": "us", "buyer@ourco.com.evil.io": "them"}
    accounts = con.execute("SELECT account_id FROM accounts").fetchall()
    assert accounts == [("domain:evil.io",)]


def test_one_message_in_a_sent_folder_and_a_shared_mailbox_is_one_email(con, tmp_path):
    message = ("From seller@ourco.com Mon Feb  5 10:00:00 2024\n"
               "Message-ID: <Proposal-7@OurCo.com>\nFrom: seller@ourco.com\n"
               "To: buyer@client.com\nDate: Mon, 05 Feb 2024 10:00:00 +0000\n"
               "Subject: Proposal\n\nbody\n\n")
    other = message.replace("Proposal-7", "Other-8").replace("Subject: Proposal",
                                                             "Subject: Other")
    sent = tmp_path / "sent.mbox"
    sent.write_text(message)
    shared = tmp_path / "shared.mbox"
    shared.write_text(other + message)
    run_import(con, [sent, shared])
    assert store.table_counts(con)["activities"] == 2
    rows = con.execute("SELECT count(*) FROM activity_sources WHERE activity_id = "
                       "'msg:proposal-7@ourco.com'").fetchall()
    assert rows == [(2,)]


def test_a_workbook_sheet_reads_like_a_csv_file(con, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Caller", "Callee", "Start", "Duration (min)"])
    sheet.append(["0301234567", "cara@contoso.com", dt.datetime(2024, 1, 5, 10, 0), 12.5])
    path = tmp_path / "calls.xlsx"
    book.save(path)
    (result,) = run_import(con, [path])
    assert (result.layout, result.rows_added) == ("call log", 1)
    rows = con.execute("SELECT start_at, duration_minutes, initiator_id FROM activities"
                       ).fetchall()
    assert rows == [(dt.datetime(2024, 1, 5, 10), 12.5, "tel:0301234567")]  # zero kept


def test_a_workbook_declaring_xml_entities_is_refused_unread(con, tmp_path):
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["Caller", "Callee", "Start", "Duration"])
    plain = tmp_path / "plain.xlsx"
    book.save(plain)
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(bomb, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name == "xl/worksheets/sheet1.xml":
                data = (b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>' + data)
            out.writestr(name, data)
    before = store.table_counts(con)
    with pytest.raises(ImportProblem, match="declares XML entities"):
        run_import(con, [bomb])
    assert store.table_counts(con) == before
