"""The app's pages, run by Streamlit's AppTest on real database files.

The small store (all times UTC; internal domain ourco.com):

  id  type     when              initiator  parties
  o1  email    2000-01-03 09:00  sam        sam -> alice           (long before the window)
  a1  email    2001-05-10 10:00  sam        sam -> alice
  a2  email    2001-05-11 09:00  alice      alice -> sam
  a3  email    2001-05-20 12:00  bob        bob -> sam, cc ria
  m1  meeting  2001-05-25 14:00  sam        sam (organizer), alice
  c1  call     2001-05-28 16:00  bob        bob (caller) -> sam, incoming
  g1  email    2001-05-29 11:00  sam        sam -> carl@globex.com
  a4  email    2001-05-30 08:00  alice      alice -> sam

The data end on 2001-05-30, so the app opens as of 2001-05-30 23:59:59 over
60 days: the window holds everything but o1.
  acme.com: e-mails by us 1 (a1), by them 3 (a2, a3, a4); meetings by us 1;
            calls by them 1; 6 interactions. Ratio by them 3/1 = 3.00,
            by us 1/3 = 0.33. Contacts alice (a1, a2, m1, a4 = 4), bob (a3, c1 = 2).
  globex.com: e-mails by us 1; 1 interaction.
  alice: e-mails by us 1, by them 2; meetings by us 1; ratio 2.00 and 0.50.
As of 2001-05-15 over 30 days, acme has a1 and a2 only: 1 e-mail each way.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ingest.base import Batch, write_batches
from rapport import bootstrap, settings as settings_mod, store

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
D = dt.datetime

PEOPLE = {
    "sam": ("user:sam", "Sam Seller", "sam@ourco.com", "user"),
    "ria": ("mailto:ria@ourco.com", "Ria Rep", "ria@ourco.com", "address"),
    "alice": ("mailto:alice@acme.com", "Alice Acme", "alice@acme.com", "address"),
    "bob": ("mailto:bob@acme.com", "Bob Acme", "bob@acme.com", "address"),
    "carl": ("mailto:carl@globex.com", "Carl Globex", "carl@globex.com", "address"),
}


def _activity(batch, aid, kind, when, initiator, parties, **extra):
    batch.add("activities", {
        "activity_id": aid, "type": kind, "subject": f"About {aid}", "start_at": when,
        "state": "completed", "initiator_id": PEOPLE[initiator][0], **extra})
    for who, role in parties:
        batch.add("activity_parties", {"activity_id": aid, "person_id": PEOPLE[who][0],
                                       "role": role})


def build_small(path: Path) -> None:
    con = store.connect(path)
    settings_mod.save(con, internal_domains=["ourco.com"], internal_domains_inferred=False)
    b = Batch(file="hand.csv", layout="test", checksum="sha256:small", rows_read=8)
    for pid, name, email, kind in PEOPLE.values():
        b.add("people", {"person_id": pid, "name": name, "email": email, "crm_kind": kind})
    _activity(b, "o1", "email", D(2000, 1, 3, 9), "sam", [("sam", "sender"), ("alice", "to")])
    _activity(b, "a1", "email", D(2001, 5, 10, 10), "sam", [("sam", "sender"), ("alice", "to")])
    _activity(b, "a2", "email", D(2001, 5, 11, 9), "alice", [("alice", "sender"), ("sam", "to")])
    _activity(b, "a3", "email", D(2001, 5, 20, 12), "bob",
              [("bob", "sender"), ("sam", "to"), ("ria", "cc")])
    _activity(b, "m1", "meeting", D(2001, 5, 25, 14), "sam",
              [("sam", "organizer"), ("alice", "required")],
              end_at=D(2001, 5, 25, 15), duration_minutes=60.0)
    _activity(b, "c1", "call", D(2001, 5, 28, 16), "bob", [("bob", "caller"), ("sam", "callee")],
              direction="incoming", duration_minutes=10.0)
    _activity(b, "g1", "email", D(2001, 5, 29, 11), "sam", [("sam", "sender"), ("carl", "to")])
    _activity(b, "a4", "email", D(2001, 5, 30, 8), "alice", [("alice", "sender"), ("sam", "to")])
    write_batches(con, [b])
    con.close()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("app") / "small.duckdb"
    build_small(path)
    return path


@pytest.fixture
def empty_db(tmp_path):
    path = tmp_path / "empty.duckdb"
    store.connect(path).close()
    return path


def run_page(db: Path, monkeypatch, page: str | None = None, **params) -> AppTest:
    monkeypatch.setenv(store.ENV_DB, str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts_of(at: AppTest) -> list[dict]:
    """The Vega-Lite specs the page sent, their data (sent as Arrow) put back inline."""
    import json

    import pyarrow as pa

    specs = []
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        if el.proto.HasField("data"):
            frame = pa.ipc.open_stream(el.proto.data.data).read_all().to_pandas()
            spec["data"] = {"values": frame.to_dict("records")}
        specs.append(spec)
    return specs


def texts(elements) -> list[str]:
    return [el.value for el in elements]


# --- an empty database -------------------------------------------------------

def test_accounts_page_on_an_empty_database_says_there_are_no_accounts(empty_db, monkeypatch):
    at = run_page(empty_db, monkeypatch)
    assert texts(at.title) == ["Accounts"]
    assert "no activities yet" in at.caption[0].value
    assert any("There are no customer accounts yet" in t for t in texts(at.info))
    assert not at.dataframe


@pytest.mark.parametrize("page, record_type", [("pages/account.py", "account"),
                                               ("pages/contact.py", "contact")])
def test_record_pages_without_a_record_say_how_to_choose_one(empty_db, monkeypatch, page,
                                                            record_type):
    at = run_page(empty_db, monkeypatch, page)
    assert texts(at.info) == [f"No {record_type} chosen. Open one from the list; each "
                              f"{record_type} has a link of its own."]
    assert not charts_of(at)


def test_an_unknown_record_is_named_in_an_error(empty_db, monkeypatch):
    at = run_page(empty_db, monkeypatch, "pages/account.py", id="nowhere.com")
    assert texts(at.error) == [
        "no account matches 'nowhere.com'; try its id, name or e-mail address."]


def test_data_page_on_an_empty_database_says_nothing_was_imported(empty_db, monkeypatch):
    at = run_page(empty_db, monkeypatch, "pages/data.py")
    assert at.table[0].value["Rows"].tolist() == [0, 0, 0, 0, 0, 0, 0]
    assert texts(at.info)[0].startswith("Nothing has been imported into this database yet.")


# --- the small database -----------------------------------------------------

def test_every_page_states_its_data_as_of_date_and_window(small_db, monkeypatch):
    for page in (None, "pages/data.py"):
        at = run_page(small_db, monkeypatch, page)
        assert at.caption[0].value == (
            f"Data: `{small_db}`, 8 completed activities from 2000-01-03 to 2001-05-30 (1 import). "
            "Figures as of 2001-05-30 23:59:59 UTC over the last 60 days.")
        assert "The data end on 2001-05-30, so figures are shown as of that day." in \
            texts(at.info)


def test_accounts_page_lists_accounts_with_links_to_their_pages(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch)
    frame = at.dataframe[0].value
    assert frame["link"].tolist() == [
        "account?id=domain%3Aacme.com&as_of=2001-05-30&days=60#acme.com",
        "account?id=domain%3Aglobex.com&as_of=2001-05-30&days=60#globex.com",
    ]
    assert frame[["interactions", "emails", "meetings", "calls", "contacts"]].values.tolist() \
        == [[6, 4, 1, 1, 2], [1, 1, 0, 0, 1]]
    assert "2 accounts, 2 of them with interactions in the last 60 days to 2001-05-30." in \
        [m.value for m in at.markdown]


def test_accounts_page_searches_and_sorts(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch)
    at.radio[0].set_value("name").run()
    assert at.dataframe[0].value["domain"].tolist() == ["acme.com", "globex.com"]
    at.text_input[0].input("glob").run()
    assert at.dataframe[0].value["domain"].tolist() == ["globex.com"]
    at.text_input[0].input("initech").run()
    assert texts(at.info)[-1] == "No account's name or domain contains \"initech\"."


def test_account_page_shows_the_hand_counted_figures(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, "pages/account.py", id="domain:acme.com")
    assert texts(at.title) == ["acme.com"]
    expected = pd.DataFrame({"Initiated by us": [1, 1, 0], "Initiated by them": [3, 0, 1]},
                            index=pd.Index(["E-mails", "Meetings", "Calls"], name="Type"))
    pd.testing.assert_frame_equal(at.table[0].value, expected, check_dtype=False)
    assert [(m.label, m.value) for m in list(at.metric)[:2]] == [
        ("E-mails by them per e-mail of ours", "3.00"),
        ("E-mails by us per e-mail of theirs", "0.33"),
    ]
    specs = charts_of(at)
    assert [s["title"] for s in specs] == [
        "Interactions by type and side", "E-mails sent by each side", "Relationship activity",
        "Health factors"]
    assert {(r["type"], r["side"]): r["interactions"] for r in specs[0]["data"]["values"]} \
        == {("Emails", "Us"): 1, ("Emails", "Them"): 3, ("Meetings", "Us"): 1,
            ("Meetings", "Them"): 0, ("Calls", "Us"): 0, ("Calls", "Them"): 1}
    daily = specs[2]["data"]["values"]
    assert sum(r["count"] for r in daily) == 6
    assert {"date": "2001-05-28", "series": "Calls received", "count": 1} in daily


def test_account_page_links_its_people_and_contacts(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, "pages/account.py", id="domain:acme.com")
    links = at.get("page_link")
    labels = [link.proto.label for link in links]
    assert labels == [
        "Alice Acme: 4 interactions (3 e-mails, 1 meetings, 0 calls)",
        "Bob Acme: 2 interactions (1 e-mails, 0 meetings, 1 calls)",
    ]
    assert "id=alice%40acme.com" in links[0].proto.query_string
    assert "as_of=2001-05-30" in links[0].proto.query_string
    assert "Sam Seller: 6 interactions (4 e-mails, 1 meetings, 1 calls)" in texts(at.markdown)
    contacts = at.dataframe[-1].value
    assert contacts["email"].tolist() == ["alice@acme.com", "bob@acme.com"]
    assert contacts["interactions"].tolist() == [4, 2]
    assert contacts["link"][0].startswith("contact?id=alice%40acme.com&")


def test_contact_page_shows_the_contacts_figures_and_account(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, "pages/contact.py", id="alice@acme.com")
    assert texts(at.title) == ["Alice Acme"]
    assert at.table[0].value["Initiated by them"].tolist() == [2, 0, 0]
    assert at.table[0].value["Initiated by us"].tolist() == [1, 1, 0]
    assert [m.value for m in list(at.metric)[:2]] == ["2.00", "0.50"]
    assert len(charts_of(at)) == 4  # the three charts and the health factors
    links = at.get("page_link")
    assert [link.proto.label for link in links] == ["acme.com"]
    assert links[0].proto.query_string.startswith("id=domain%3Aacme.com&")
    assert "Sam Seller: 4 interactions (3 e-mails, 1 meetings, 0 calls)" in texts(at.markdown)


def test_as_of_and_window_come_from_the_link(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, "pages/account.py", id="domain:acme.com",
                  as_of="2001-05-15", days="30")
    assert at.sidebar.selectbox(key="window").value == "30"
    assert at.sidebar.date_input(key="as_of_day").value == dt.date(2001, 5, 15)
    assert "Figures as of 2001-05-15 23:59:59 UTC over the last 30 days." in \
        at.caption[1].value
    assert at.table[0].value.values.tolist() == [[1, 1], [0, 0], [0, 0]]
    assert [m.value for m in list(at.metric)[:2]] == ["1.00", "1.00"]
    assert "The data end on" not in " ".join(texts(at.info))


def test_a_link_with_a_bad_window_or_date_says_so_and_uses_the_defaults(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, as_of="31/05/2001", days="7")
    assert texts(at.sidebar.warning) == [
        "The link's days='7' is not one of 30, 60, 90, 180, 365, all; the window below is "
        "used instead.",
        "The link's as_of='31/05/2001' is not a date like 2001-05-31; the date below is "
        "used instead."]
    assert "Figures as of 2001-05-30 23:59:59 UTC over the last 60 days." in \
        at.caption[0].value
    assert at.query_params["days"] == "60" and at.query_params["as_of"] == "2001-05-30"


def test_changing_the_window_updates_figures_and_link(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, "pages/account.py", id="domain:acme.com",
                  as_of="2001-05-15")
    at.sidebar.selectbox(key="window").set_value("all").run()
    assert at.query_params["days"] == "all"
    assert at.query_params["id"] == "domain:acme.com"
    # o1 (2000) now counts too: 2 e-mails by us, 1 by them.
    assert at.table[0].value["Initiated by us"].tolist() == [2, 0, 0]


def test_a_window_without_interactions_says_so_instead_of_empty_charts(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, "pages/account.py", id="domain:acme.com",
                  as_of="2000-12-31", days="30")
    assert not charts_of(at)
    assert any(t.startswith("There were no completed e-mails, meetings or calls with "
                            "acme.com in the last 30 days to 2000-12-31")
               for t in texts(at.info))


def test_data_page_lists_tables_and_imports(small_db, monkeypatch):
    at = run_page(small_db, monkeypatch, "pages/data.py")
    counts = at.table[0].value["Rows"]
    assert counts["Activities (e-mails, meetings, calls, tasks)"] == 8
    assert counts["People (ours and theirs)"] == 5
    imports = at.dataframe[0].value
    assert imports[["file", "layout", "rows_read", "rows_added"]].values.tolist() == [
        ["hand.csv", "test", 8, 8]]


# --- the database file --------------------------------------------------------

def test_a_locked_database_is_reported_and_retried(small_db, tmp_path, monkeypatch):
    from views import common

    locked = tmp_path / "locked.duckdb"
    locked.write_bytes(small_db.read_bytes())
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", str(locked)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        monkeypatch.setattr(common, "LOCK_RETRIES", 2)
        monkeypatch.setattr(common, "LOCK_WAIT_SECONDS", 0.1)
        monkeypatch.setenv(store.ENV_DB, str(locked))
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception
        assert texts(at.error) == [f"{locked} is still locked by another program. Wait for "
                                   "the import to finish, then try again."]
        assert texts(at.button) == [] or at.button[0].label == "Try again"
    finally:
        holder.kill()
        holder.wait()
    at.run()
    assert texts(at.title) == ["Accounts"] and not at.error


def test_an_idle_app_lets_the_command_line_import(small_db, tmp_path, monkeypatch):
    from views import common

    db = tmp_path / "shared.duckdb"
    db.write_bytes(small_db.read_bytes())
    monkeypatch.setattr(common, "IDLE_SECONDS", 0.5)
    at = run_page(db, monkeypatch, "pages/data.py")
    assert at.table[0].value["Rows"].iloc[0] == 8
    time.sleep(3)  # the app closes the file after IDLE_SECONDS without a page run
    mail = ROOT / "tests" / "data" / "mail" / "folded.eml"
    done = subprocess.run([sys.executable, "-m", "rapport", "--db", str(db), "import", str(mail)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    at.run()
    assert at.table[0].value["Rows"].iloc[0] == 9
    assert "(2 imports)" in at.caption[0].value


def _tiny_sample(path: Path) -> Path:
    message = (
        "Message-ID: <{n}@ourco.com>\nDate: Mon, 14 May 2001 10:0{n}:00 -0700\n"
        "From: sam@ourco.com\nTo: alice@acme.com\nSubject: Offer {n}\n\nBody\n"
    )
    with zipfile.ZipFile(path, "w") as zf:
        for n in range(3):
            zf.writestr(f"sample/1/{n}.txt", message.format(n=n))
    return path


def test_first_start_builds_the_database_from_the_sample(tmp_path):
    sample = _tiny_sample(tmp_path / "sample.zip")
    target = tmp_path / "data" / "rapport.duckdb"
    seen = []
    assert bootstrap.ensure_sample_database(target, lambda f, t: seen.append(f),
                                            sample=sample) is True
    assert sorted(p.name for p in target.parent.iterdir()) == ["rapport.duckdb"]
    assert seen == sorted(seen) and 0 <= seen[0] and seen[-1] == 1.0
    con = store.connect(target, read_only=True)
    assert store.scalar(con, "SELECT count(*) FROM activities") == 3
    con.close()
    # A second start finds it and builds nothing.
    assert bootstrap.ensure_sample_database(target, sample=sample) is False


def test_first_start_waits_while_another_process_builds(tmp_path):
    sample = _tiny_sample(tmp_path / "sample.zip")
    target = tmp_path / "rapport.duckdb"
    work = tmp_path / "rapport.duckdb.tmp"
    work.mkdir()
    (work / "lock").write_text(f"{os.getpid()} {time.time():.0f}\n")
    with pytest.raises(TimeoutError, match="another process has been building"):
        bootstrap.ensure_sample_database(target, sample=sample, wait_seconds=0.6)
    assert not target.exists()


def test_first_start_takes_over_the_lock_of_a_builder_that_died(tmp_path):
    sample = _tiny_sample(tmp_path / "sample.zip")
    target = tmp_path / "rapport.duckdb"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    work = tmp_path / "rapport.duckdb.tmp"
    work.mkdir()
    (work / "lock").write_text(f"{dead} 0\n")
    assert bootstrap.ensure_sample_database(target, sample=sample, wait_seconds=5) is True
    assert not work.exists()


def test_first_start_without_the_sample_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m rapport import PATH"):
        bootstrap.ensure_sample_database(tmp_path / "x.duckdb", sample=tmp_path / "none.zip")


def test_the_app_shows_the_build_and_then_the_accounts(tmp_path, monkeypatch):
    sample = _tiny_sample(tmp_path / "sample.zip")
    monkeypatch.setattr(bootstrap, "SAMPLE", sample)
    monkeypatch.setattr(bootstrap.ensure_sample_database, "__kwdefaults__",
                        {"sample": sample, "wait_seconds": 900})
    target = tmp_path / "new" / "rapport.duckdb"
    at = run_page(target, monkeypatch)
    assert target.exists()
    assert at.dataframe[0].value["domain"].tolist() == ["acme.com"]


def test_core_packages_never_import_streamlit():
    for folder in ("rapport", "ingest", "kpi", "similarity"):
        for source in (ROOT / folder).glob("*.py"):
            assert "import streamlit" not in source.read_text(), source


# --- workspaces -------------------------------------------------------------

def test_the_pipeline_workspace_is_built_on_first_choice_and_says_it_is_generated(
        tmp_path, monkeypatch):
    import functools

    from rapport.workspaces import pipeline

    monkeypatch.setattr(pipeline, "build", functools.partial(pipeline.build, limit=120))
    at = run_page(tmp_path / "rapport.duckdb", monkeypatch, ws="pipeline", days="all")
    built = tmp_path / "pipeline.duckdb"
    assert built.exists() and not (tmp_path / "rapport.duckdb").exists()
    assert at.caption[0].value.startswith(f"Data: `{built}`")
    assert any("generated" in t for t in texts(at.sidebar.info))
    frame = at.dataframe[0].value
    assert len(frame) > 0
    # Links to records keep the workspace.
    assert all("ws=pipeline" in link for link in frame["link"])


def test_an_own_database_file_that_does_not_exist_is_named(small_db, tmp_path, monkeypatch):
    monkeypatch.setenv(store.ENV_DB, str(small_db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["ws"] = "file"
    at.run()
    assert any("Type the path" in t for t in texts(at.info))
    at.sidebar.text_input[0].input(str(tmp_path / "missing.duckdb")).run()
    assert texts(at.error) == [
        f"{tmp_path / 'missing.duckdb'} does not exist. Type the path of an existing Rapport "
        "database file, or create one with: python -m rapport --db PATH import FILES"]
    at.sidebar.text_input[0].input(str(small_db)).run()
    assert at.caption[0].value.startswith(f"Data: `{small_db}`, 8 completed activities")


def test_switching_workspace_opens_it_on_its_own_as_of_date(small_db, monkeypatch):
    import functools

    from rapport.workspaces import pipeline

    monkeypatch.setattr(pipeline, "build", functools.partial(pipeline.build, limit=120))
    at = run_page(small_db, monkeypatch)
    assert "Figures as of 2001-05-30" in at.caption[0].value
    at.sidebar.radio[0].set_value("pipeline").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Data:"))
    assert "Figures as of 2001-05-30" not in caption
    assert "Figures as of 2017-" in caption


def test_an_own_file_that_is_not_a_database_is_named(small_db, tmp_path, monkeypatch):
    monkeypatch.setenv(store.ENV_DB, str(small_db))
    junk = tmp_path / "notes.duckdb"
    junk.write_text("not a database")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["ws"] = "file"
    at.run()
    for bad in (junk, tmp_path):
        at.sidebar.text_input[0].input(str(bad)).run()
        assert not at.exception
        assert texts(at.error) == [
            f"{bad} is not a Rapport database file. Type the path of a .duckdb file that "
            "Rapport wrote, or create one with: python -m rapport --db PATH import FILES"]
