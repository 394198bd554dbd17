"""Rapport's own layout: import by header, export, round trips, pseudonyms."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import kpi
from ingest import ImportProblem, canonical, detect, run_import
from ingest.base import columns_of
from ingest.canonical import escape_cell, unescape_cell
from ingest.sources import expand
from rapport import settings, store

DATA = Path(__file__).resolve().parent / "data"
EXAMPLE = DATA / "canonical"
DATAVERSE = DATA / "dataverse_small"
AS_OF = dt.datetime(2024, 6, 30, 12, 0)
COMPARED = ("accounts", "people", "leads", "opportunities", "opportunity_members",
            "activities", "activity_parties", "settings")


def rows(con, table):
    return con.execute(f"SELECT {', '.join(columns_of(table))} FROM {table} ORDER BY ALL"
                       ).fetchall()


def test_example_files_are_recognised_by_header():
    found = {s.path.name: detect(s).name for s in expand(EXAMPLE)}
    assert found == {
        "accounts.csv": "rapport accounts", "activities.csv": "rapport activities",
        "activity_parties.csv": "rapport activity_parties", "people.csv": "rapport people",
        "opportunities.csv": "rapport opportunities", "settings.csv": "rapport settings",
    }


def test_recognised_whatever_the_name_but_settings_needs_its_name(tmp_path):
    shutil.copy(EXAMPLE / "activities.csv", tmp_path / "my export.csv")
    assert detect(expand(tmp_path / "my export.csv")[0]).name == "rapport activities"
    shutil.copy(EXAMPLE / "settings.csv", tmp_path / "pairs.csv")
    with pytest.raises(ImportProblem):
        detect(expand(tmp_path / "pairs.csv")[0])  # key,value alone is too common


def test_example_imports_with_hand_checked_values(tmp_path):
    con = store.connect(tmp_path / "c.duckdb")
    run_import(con, [EXAMPLE], timezone="Europe/Paris")
    # meet-1 has no zone: 13:00 in Paris on 2 April (summer time, UTC+2) is 11:00 UTC.
    assert con.execute("SELECT start_at, end_at FROM activities WHERE activity_id = 'meet-1'"
                       ).fetchall() == [(dt.datetime(2024, 4, 2, 11), dt.datetime(2024, 4, 2, 12))]
    assert settings.load(con).internal_domains == ["ourco.example"]
    assert con.execute("SELECT person_id, email, side, account_id FROM people ORDER BY 1"
                       ).fetchall() == [
        ("c-1", "nina@northwind.example", "them", "acc-1"),
        ("mailto:olaf@northwind.example", "olaf@northwind.example", "them", "acc-1"),
        ("u-1", "sam@ourco.example", "us", None),
    ]
    figures = kpi.figures(con, "account", "Northwind Traders",
                          as_of=dt.datetime(2024, 3, 31), days=60)
    # m1 by us, m2 by them, call-1 by us; the review is the next interaction.
    assert figures["interactions"] == {"emails": {"by_us": 1, "by_them": 1},
                                       "meetings": {"by_us": 0, "by_them": 0},
                                       "calls": {"by_us": 1, "by_them": 0}}
    assert figures["next_interaction"] == {"at": "2024-04-02T11:00:00Z", "type": "meeting",
                                           "subject": "Review"}
    counts = {p["email"]: (p["emails"], p["calls"]) for p in figures["most_contacted"]}
    assert counts == {"nina@northwind.example": (2, 0), "olaf@northwind.example": (1, 1)}


def test_export_imports_back_unchanged(tmp_path):
    first = store.connect(tmp_path / "first.duckdb")
    run_import(first, [DATAVERSE])
    written = canonical.export(first, tmp_path / "out")
    assert [p.name for p in written] == [f"{t}.csv" for t in COMPARED]
    second = store.connect(tmp_path / "second.duckdb")
    results = run_import(second, [tmp_path / "out"])
    assert {r.layout for r in results} == {f"rapport {t}" for t in COMPARED}
    for table in COMPARED:
        assert rows(second, table) == rows(first, table), table
    # The derived columns came back too, and so do the figures.
    a = kpi.figures(first, "account", "Contoso Ltd", as_of=AS_OF, days=60)
    b = kpi.figures(second, "account", "Contoso Ltd", as_of=AS_OF, days=60)
    for key in ("interactions", "email_ratio", "last_interaction", "next_interaction",
                "most_contacted", "time_spent_hours", "response", "daily"):
        assert a[key] == b[key], key
    # Exporting the copy writes the very same bytes.
    canonical.export(second, tmp_path / "again")
    for path in written:
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes()


def test_export_file_shape(tmp_path):
    con = store.connect(tmp_path / "c.duckdb")
    run_import(con, [EXAMPLE])
    canonical.export(con, tmp_path / "out")
    raw = (tmp_path / "out" / "people.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfperson_id,name,email,crm_kind,crm_account_id,"
                          b"opted_out,manager_id,region\r\n")
    with open(tmp_path / "out" / "activities.csv", encoding="utf-8-sig", newline="") as f:
        table = list(csv.DictReader(f))
    call = next(r for r in table if r["activity_id"] == "call-1")
    assert call["start_at"] == "2024-03-06T10:00:00Z"
    assert call["duration_minutes"] == "20.0"
    assert call["followed"] == "" and call["subject"] == "Delivery dates"
    m1 = next(r for r in table if r["activity_id"] == "msg:m1@ourco.example")
    assert (m1["followed"], m1["opens"]) == ("true", "1")


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-5% offer", "'-5% offer"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("'=already quoted", "''=already quoted"),
        ("''", "'''"),
        ("'plain", "'plain"),
        ("plain = fine", "plain = fine"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised_and_come_back(value, written):
    assert escape_cell(value) == written
    assert unescape_cell(written) == value


def test_formula_injection_round_trip_through_files(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLE, folder)
    text = (folder / "activities.csv").read_text()
    (folder / "activities.csv").write_text(
        text.replace("Delivery dates", '"=cmd|\' /C calc\'!A0"')
            .replace("Spring order,2024", "@Spring order,2024"))
    con = store.connect(tmp_path / "a.duckdb")
    run_import(con, [folder])
    canonical.export(con, tmp_path / "out")
    with open(tmp_path / "out" / "activities.csv", encoding="utf-8-sig", newline="") as f:
        subjects = {r["activity_id"]: r["subject"] for r in csv.DictReader(f)}
    assert subjects["call-1"] == "'=cmd|' /C calc'!A0"
    assert subjects["msg:m1@ourco.example"] == "'@Spring order"
    back = store.connect(tmp_path / "b.duckdb")
    run_import(back, [tmp_path / "out"])
    assert rows(back, "activities") == rows(con, "activities")
    assert store.scalar(back, "SELECT subject FROM activities WHERE activity_id = 'call-1'") \
        == "=cmd|' /C calc'!A0"


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8-sig") for p in sorted(folder.glob("*.csv")))


def test_pseudonymized_export(tmp_path):
    con = store.connect(tmp_path / "c.duckdb")
    run_import(con, [DATAVERSE])
    key = b"test key"
    canonical.export(con, tmp_path / "p", pseudonymize=True, key=key)
    text = _all_text(tmp_path / "p")
    for secret in ("contoso", "Contoso", "Ann", "Archer", "sam@", "ourco", "Dünn", "evil.io",
                   "Proposal", "e2@", "zoe"):
        assert secret not in text, secret
    masks = canonical.Pseudonyms(key, settings.Settings().automated_sender_pattern)
    ann = masks.email("ann@contoso.com")
    assert ann == f"person-{masks.tag('email', 'ann@contoso.com')}@" \
                  f"acct-{masks.tag('domain', 'contoso.com')}.example"
    with open(tmp_path / "p" / "people.csv", encoding="utf-8-sig", newline="") as f:
        people = {r["person_id"]: r for r in csv.DictReader(f)}
    # Every Contoso address keeps one domain, which is the Contoso account's domain.
    contoso_domain = f"acct-{masks.tag('domain', 'contoso.com')}.example"
    assert people["cccccccc-0000-0000-0000-000000000001"]["email"] == ann
    assert people["cccccccc-0000-0000-0000-000000000002"]["email"].endswith("@" + contoso_domain)
    assert f"mailto:{masks.email('zoe@contoso.com')}" in people
    assert people["cccccccc-0000-0000-0000-000000000003"]["email"].endswith(
        "@" + masks.domain("contoso.com.evil.io"))
    assert masks.domain("contoso.com.evil.io") != contoso_domain
    with open(tmp_path / "p" / "accounts.csv", encoding="utf-8-sig", newline="") as f:
        accounts = {r["account_id"]: r for r in csv.DictReader(f)}
    contoso = accounts["bbbbbbbb-0000-0000-0000-000000000001"]
    assert contoso["domain"] == contoso_domain
    assert contoso["name"] == f"Account {masks.tag('domain', 'contoso.com')}"
    # Same input, same pseudonym: a second export is identical.
    canonical.export(con, tmp_path / "q", pseudonymize=True, key=key)
    assert _all_text(tmp_path / "q") == text
    canonical.export(con, tmp_path / "r", pseudonymize=True, key=b"another key")
    assert _all_text(tmp_path / "r") != text

    # Imported into a fresh database, the figures are those of the original.
    copy = store.connect(tmp_path / "copy.duckdb")
    run_import(copy, [tmp_path / "p"])
    a = kpi.figures(con, "account", "bbbbbbbb-0000-0000-0000-000000000001", as_of=AS_OF)
    b = kpi.figures(copy, "account", "bbbbbbbb-0000-0000-0000-000000000001", as_of=AS_OF)
    for key_ in ("interactions", "email_ratio", "time_spent_hours", "daily", "response"):
        assert a[key_] == b[key_], key_
    assert (b["last_interaction"]["at"], b["last_interaction"]["type"]) == (
        a["last_interaction"]["at"], a["last_interaction"]["type"])
    assert [p["interactions"] for p in b["most_contacted"]] == [6, 3, 2]
    sides = "SELECT side, count(*) FROM people GROUP BY side ORDER BY side"
    assert copy.execute(sides).fetchall() == con.execute(sides).fetchall()


def test_pseudonyms_keep_threads_and_automated_senders():
    masks = canonical.Pseudonyms(b"k", settings.Settings().automated_sender_pattern)
    assert masks.activity_id("msg:AbC@x.com") == "msg:" + masks.message_id("<abc@x.com>")
    assert masks.subject("RE: Fwd: Hello  world") == "RE: Fwd: " + masks.subject("hello world")
    assert masks.email("no-reply@contoso.com").startswith("no-reply@acct-")
    assert masks.email("ann@gmail.com").endswith("@gmail.com")  # free mail is no account
    sub = masks.domain("eu.contoso.com")
    assert sub.startswith("sub-") and sub.endswith("." + masks.domain("contoso.com"))


def test_bad_rows_name_row_and_column(tmp_path):
    (tmp_path / "activities.csv").write_text(
        "activity_id,type,subject,start_at,end_at,duration_minutes,state,direction,"
        "initiator_id,regarding_type,regarding_id,message_id,in_reply_to,refs,"
        "conversation_id,followed,opens,clicks,replies,attachment_opens\n"
        "a1,email,Fine,2024-01-01T10:00:00Z,,,completed,,,,,,,,,,,,,\n"
        "a2,fax,Odd,2024-01-01T10:00:00Z,,,completed,,,,,,,,,,,,,\n"
        "a3,email,No time,,,,completed,,,,,,,,,,,,,\n"
        "a4,email,Bad count,2024-01-01T10:00:00Z,,,completed,,,,,,,,,,many,,,\n")
    con = store.connect(tmp_path / "b.duckdb")
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [tmp_path / "activities.csv"])
    found = [(p.row, p.column) for p in caught.value.problems]
    assert found == [(3, "type"), (4, "start_at"), (5, "opens")]
    assert store.table_counts(con)["activities"] == 0
    run_import(con, [tmp_path / "activities.csv"], skip_invalid=True)
    assert rows(con, "activities")[0][:2] == ("a1", "email")
    assert store.table_counts(con)["activities"] == 1


def test_bad_setting_is_a_problem(tmp_path):
    (tmp_path / "settings.csv").write_text('key,value\nwindow_days,"""sixty"""\ncolour,1\n')
    con = store.connect(tmp_path / "s.duckdb")
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [tmp_path / "settings.csv"])
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "value"), (3, "key")]


def test_settings_file_keeps_what_the_database_set(tmp_path):
    con = store.connect(tmp_path / "s.duckdb")
    settings.save(con, internal_domains=["mine.example"], internal_domains_inferred=False)
    run_import(con, [EXAMPLE / "settings.csv"])
    assert settings.load(con).internal_domains == ["mine.example"]


def test_parquet_tables_import(tmp_path):
    table = pa.table({
        "activity_id": ["p1"], "person_id": ["u-1"], "role": ["sender"]})
    pq.write_table(table, tmp_path / "parties.parquet")
    acts = {name: [None] for name in columns_of("activities")}
    acts.update({"activity_id": ["p1"], "type": ["email"], "state": ["completed"],
                 "start_at": [dt.datetime(2024, 1, 2, 3, 4, 5,
                                          tzinfo=dt.timezone(dt.timedelta(hours=1)))],
                 "duration_minutes": [1.5], "followed": [True], "opens": [3]})
    schema = pa.schema([(n, pa.timestamp("us", tz="UTC") if n in ("start_at", "end_at")
                         else pa.float64() if n == "duration_minutes"
                         else pa.bool_() if n == "followed"
                         else pa.int64() if n in ("opens", "clicks", "replies",
                                                  "attachment_opens")
                         else pa.string()) for n in columns_of("activities")])
    pq.write_table(pa.table(acts, schema=schema), tmp_path / "acts.parquet")
    con = store.connect(tmp_path / "p.duckdb")
    results = run_import(con, [tmp_path / "acts.parquet", tmp_path / "parties.parquet"])
    assert [r.layout for r in results] == ["rapport activities", "rapport activity_parties"]
    assert con.execute("SELECT activity_id, start_at, duration_minutes, followed, opens "
                       "FROM activities").fetchall() == [
        ("p1", dt.datetime(2024, 1, 2, 2, 4, 5), 1.5, True, 3)]
    assert rows(con, "activity_parties") == [("p1", "u-1", "sender")]


def test_people_with_derived_columns_are_accepted(tmp_path):
    (tmp_path / "people.csv").write_text(
        "person_id,name,email,crm_kind,crm_account_id,opted_out,manager_id,region,"
        "person_key,side,account_id\n"
        "x1,Xena,xena@far.example,contact,,true,,,wrong,us,nowhere\n")
    con = store.connect(tmp_path / "d.duckdb")
    run_import(con, [tmp_path / "people.csv"])
    # The derived columns are worked out again: opted out means excluded.
    assert con.execute("SELECT person_key, side, account_id FROM people").fetchall() == [
        ("xena@far.example", "excluded", None)]
