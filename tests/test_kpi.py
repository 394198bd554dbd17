"""The core figures on a small store built by hand, with values worked out below.

The store (all times UTC, as-of 2024-03-31 00:00, window 30 days, so the
window is (2024-03-01 00:00, 2024-03-31 00:00]):

  id   type     when              state      initiator  parties                   counts?
  e1   email    03-05 09:00       completed  ann (us)   ann -> bob                by us
  e2   email    03-06 10:00       completed  bob        bob -> ann, cc cy         by them
  e3   email    03-07 11:00       completed  cy         cy -> ann                 by them
  e4   email    03-08 12:00       completed  ann        ann -> dan (ourco)        no: internal only
  e5   email    03-09 12:00       draft      ann        ann -> bob                no: draft
  e6   email    03-10 12:00       completed  noreply@contoso (excluded) -> ann    no: excluded
  e7   email    03-01 00:00       completed  ann        ann -> bob                no: open lower
                                                                                  bound
  e8   email    03-31 00:00       completed  bob        bob -> ann                by them (upper
                                                                                  bound is closed)
  m1   meeting  03-12 15:00       completed  ann (org)  ann, dan, bob             by us
  m2   meeting  03-14 15:00       canceled   ann        ann, bob                  no: canceled
  m3   meeting  04-02 09:00       scheduled  ann        ann, bob                  next interaction
  c1   call     03-20 23:30       completed  - (incoming direction) bob, ann    by them
  t1   task     04-01 08:00       scheduled  -          ann, regarding contoso    next, before m3
  x1   email    03-21 09:00       completed  eve@fabrikam -> ann                 other account

Account contoso (domain contoso.com; cy is at gen.contoso.com, the same account):
  emails by us 1 (e1), by them 3 (e2, e3, e8); meetings by us 1 (m1); calls by them 1 (c1)
  email ratio by them 3/1 = 3.0, by us 1/3 = 0.33
  last interaction e8 (2024-03-31 00:00), next t1 (2024-04-01 08:00)
  most contacted: bob (e1, e2, e8, m1, c1 = 5), cy (e2, e3 = 2)
  most contacted by: ann (e1, e2, e3, e8, m1, c1 = 6), dan (m1 = 1)
  time spent (m1 lasts 60 minutes, c1 10 minutes):
    us:   e1 5 + e2, e3, e8 3 x 2.5 + m1 60 x 2 of ours + c1 10 = 142.5 min = 2.4 h
    them: e1 2.5 + e2, e3, e8 3 x 5 + m1 60 once + c1 10      =  87.5 min = 1.5 h
  response: e2 answers e1 (In-Reply-To), 25 hours later; e3 and e8 start
    conversations of their own. Our one turn (e1) answered by them: rate 1.0,
    25.0 h. Their three turns (e2, e3, e8) unanswered: rate 0.0, no time.
  who knows whom: ann and dan both have two-way contact (ann wrote to and heard
    from bob; dan met bob), ann with more of it.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

import kpi
from ingest.base import Batch, write_batches
from rapport import cli, settings as settings_mod, store

D = dt.datetime
AS_OF = D(2024, 3, 31)


def _build(path):
    con = store.connect(path)
    settings_mod.save(con, internal_domains=["ourco.com"])
    b = Batch(file="hand.csv", layout="test", checksum="sha256:hand")
    people = {
        "ann": ("user:ann", "Ann Seller", "ann@ourco.com", "user"),
        "dan": ("mailto:dan@ourco.com", "Dan Engineer", "dan@ourco.com", "address"),
        "bob": ("mailto:bob@contoso.com", "Bob Buyer", "bob@contoso.com", "address"),
        "cy": ("mailto:cy@gen.contoso.com", "Cy Finance", "cy@gen.contoso.com", "address"),
        "bot": ("mailto:noreply@contoso.com", "Contoso", "noreply@contoso.com", "address"),
        "eve": ("mailto:eve@fabrikam.com", "Eve", "eve@fabrikam.com", "address"),
    }
    for pid, name, email, kind in people.values():
        b.add("people", {"person_id": pid, "name": name, "email": email, "crm_kind": kind})

    def act(aid, kind, when, state, initiator, parties, direction=None, regarding=None,
            **extra):
        b.add("activities", {
            **extra,
            "activity_id": aid, "type": kind, "subject": f"subject {aid}", "start_at": when,
            "state": state, "initiator_id": people[initiator][0] if initiator else None,
            "direction": direction, "regarding_id": regarding,
            "regarding_type": "account" if regarding else None,
        })
        for who, role in parties:
            b.add("activity_parties", {"activity_id": aid, "person_id": people[who][0],
                                       "role": role})

    act("e1", "email", D(2024, 3, 5, 9), "completed", "ann", [("ann", "sender"), ("bob", "to")],
        message_id="e1@ourco.com")
    act("e2", "email", D(2024, 3, 6, 10), "completed", "bob",
        [("bob", "sender"), ("ann", "to"), ("cy", "cc")], in_reply_to="e1@ourco.com")
    act("e3", "email", D(2024, 3, 7, 11), "completed", "cy", [("cy", "sender"), ("ann", "to")])
    act("e4", "email", D(2024, 3, 8, 12), "completed", "ann", [("ann", "sender"), ("dan", "to")])
    act("e5", "email", D(2024, 3, 9, 12), "draft", "ann", [("ann", "sender"), ("bob", "to")])
    act("e6", "email", D(2024, 3, 10, 12), "completed", "bot", [("bot", "sender"), ("ann", "to")])
    act("e7", "email", D(2024, 3, 1), "completed", "ann", [("ann", "sender"), ("bob", "to")])
    act("e8", "email", D(2024, 3, 31), "completed", "bob", [("bob", "sender"), ("ann", "to")])
    act("m1", "meeting", D(2024, 3, 12, 15), "completed", "ann",
        [("ann", "organizer"), ("dan", "required"), ("bob", "required")],
        duration_minutes=60)
    act("m2", "meeting", D(2024, 3, 14, 15), "canceled", "ann",
        [("ann", "organizer"), ("bob", "required")])
    act("m3", "meeting", D(2024, 4, 2, 9), "scheduled", "ann",
        [("ann", "organizer"), ("bob", "required")])
    act("c1", "call", D(2024, 3, 20, 23, 30), "completed", None,
        [("bob", "caller"), ("ann", "callee")], direction="incoming", duration_minutes=10)
    act("x1", "email", D(2024, 3, 21, 9), "completed", "eve", [("eve", "sender"), ("ann", "to")])
    write_batches(con, [b])
    # The task is regarding the account itself (its id is only known now).
    b2 = Batch(file="task.csv", layout="test", checksum="sha256:task")
    b2.add("activities", {"activity_id": "t1", "type": "task", "subject": "Send the quote",
                          "start_at": D(2024, 4, 1, 8), "state": "scheduled",
                          "regarding_type": "account", "regarding_id": "domain:contoso.com"})
    write_batches(con, [b2])
    return con


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("kpi") / "rapport.duckdb"
    con = _build(path)
    yield con, path
    con.close()


def test_account_figures_match_the_hand_count(db):
    con, _ = db
    f = kpi.figures(con, "account", "contoso.com", as_of=AS_OF, days=30)
    assert f["entity"] == {"type": "account", "id": "domain:contoso.com", "name": "contoso.com"}
    assert f["interactions"] == {
        "emails": {"by_us": 1, "by_them": 3},
        "meetings": {"by_us": 1, "by_them": 0},
        "calls": {"by_us": 0, "by_them": 1},
    }
    assert f["email_ratio"] == {"by_them": 3.0, "by_us": 0.33}
    assert f["last_interaction"] == {"at": "2024-03-31T00:00:00Z", "type": "email",
                                     "subject": "subject e8", "initiated_by": "them"}
    assert f["next_interaction"] == {"at": "2024-04-01T08:00:00Z", "type": "task",
                                     "subject": "Send the quote"}
    assert [(p["email"], p["interactions"]) for p in f["most_contacted"]] == [
        ("bob@contoso.com", 5), ("cy@gen.contoso.com", 2)]
    assert [(p["email"], p["interactions"], p["meetings"]) for p in f["most_contacted_by"]] == [
        ("ann@ourco.com", 6, 1), ("dan@ourco.com", 1, 1)]
    assert f["as_of"] == "2024-03-31T00:00:00Z" and f["window_days"] == 30
    assert f["time_spent_hours"] == {"by_us": 2.4, "by_them": 1.5}
    r = f["response"]
    assert (r["avg_first_response_hours_by_them"], r["response_rate_by_them"]) == (25.0, 1.0)
    assert (r["avg_first_response_hours_by_us"], r["response_rate_by_us"]) == (None, 0.0)
    assert (r["turns_by_us"], r["turns_by_them"]) == (1, 3)
    assert f["email_engagement"]["tracked"] is False
    assert [p["email"] for p in f["who_knows_whom"]] == ["ann@ourco.com", "dan@ourco.com"]
    health = f["health"]
    assert health["grade"] in ("good", "fair", "poor")
    assert health["grade"] == ("good" if health["score"] >= 60 else
                               "fair" if health["score"] >= 40 else "poor")


def test_daily_series_covers_every_day_of_the_window(db):
    con, _ = db
    f = kpi.figures(con, "account", "domain:contoso.com", as_of=AS_OF, days=30)
    days = f["daily"]
    assert len(days) == 30
    assert days[0]["date"] == "2024-03-02" and days[-1]["date"] == "2024-03-31"
    by_date = {d["date"]: d for d in days}
    assert by_date["2024-03-05"]["emails_sent"] == 1
    assert by_date["2024-03-06"]["emails_received"] == 1
    assert by_date["2024-03-12"]["meetings_sent"] == 1
    assert by_date["2024-03-20"]["calls_received"] == 1
    assert sum(d["emails_received"] for d in days) == 3
    assert sum(sum(v for k, v in d.items() if k != "date") for d in days) == 6


def test_daily_days_follow_the_display_zone(tmp_path):
    con = _build(tmp_path / "zone.duckdb")
    settings_mod.save(con, display_timezone="Europe/Berlin")
    f = kpi.figures(con, "account", "contoso.com", as_of=AS_OF, days=30)
    by_date = {d["date"]: d for d in f["daily"]}
    # The call at 23:30 UTC on 03-20 is 00:30 on 03-21 in Berlin.
    assert by_date["2024-03-21"]["calls_received"] == 1
    assert by_date["2024-03-20"]["calls_received"] == 0


def test_contact_figures(db):
    con, _ = db
    f = kpi.figures(con, "contact", "Cy Finance", as_of=AS_OF, days=30)
    assert f["entity"]["id"] == "cy@gen.contoso.com"
    assert f["interactions"]["emails"] == {"by_us": 0, "by_them": 2}
    assert f["email_ratio"] == {"by_them": None, "by_us": 0.0}
    assert f["next_interaction"] is None
    assert "Nothing is scheduled." in f["summary"]


def test_window_all_and_summary(db):
    con, _ = db
    f = kpi.figures(con, "account", "contoso.com", as_of=AS_OF, days=None)
    # e7 on the old lower bound now counts as well.
    assert f["interactions"]["emails"] == {"by_us": 2, "by_them": 3}
    assert f["window_days"] == "all"
    assert f["summary"][0] == "In all the data there were 5 emails, 1 meeting and 1 call."
    assert "The customer initiated 1 more email than you." in f["summary"]
    assert "You initiated 1 more meeting than the customer." in f["summary"]


def test_lists(db):
    con, _ = db
    accounts = kpi.list_accounts(con, as_of=AS_OF, days=30)
    assert list(accounts["account_id"]) == ["domain:contoso.com", "domain:fabrikam.com"]
    assert list(accounts["interactions"]) == [6, 1]
    assert list(accounts["contacts"]) == [2, 1]
    found = kpi.list_accounts(con, search="FABRI", as_of=AS_OF, days=30)
    assert list(found["account_id"]) == ["domain:fabrikam.com"]
    contacts = kpi.list_contacts(con, account_id="domain:contoso.com", as_of=AS_OF, days=30)
    assert list(contacts["contact_id"]) == ["bob@contoso.com", "cy@gen.contoso.com"]
    assert list(contacts["interactions"]) == [5, 2]


def test_unknown_and_ambiguous_keys(db):
    con, _ = db
    with pytest.raises(LookupError, match="no account matches 'nobody.example'"):
        kpi.figures(con, "account", "nobody.example", as_of=AS_OF)


def test_default_as_of_is_the_last_day_for_old_data(db):
    con, _ = db
    as_of, note = kpi.default_as_of(con, now=D(2026, 1, 1))
    assert as_of == D(2024, 3, 31, 23, 59, 59)
    assert note == "The data end on 2024-03-31, so figures are shown as of that day."
    as_of, note = kpi.default_as_of(con, now=D(2024, 4, 10))
    assert as_of == D(2024, 4, 10) and note is None


def test_cli_show_prints_the_same_json(tmp_path, capsys):
    path = tmp_path / "cli.duckdb"
    _build(path).close()
    code = cli.main(["show", "account", "contoso.com", "--json", "--db", str(path),
                     "--as-of", "2024-03-31T00:00:00Z", "--days", "30"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["interactions"]["emails"] == {"by_us": 1, "by_them": 3}
    assert printed["email_ratio"] == {"by_them": 3.0, "by_us": 0.33}
    code = cli.main(["show", "account", "nope.example", "--db", str(path)])
    assert code == cli.EXIT_LOOKUP
    assert "no account matches" in capsys.readouterr().err


def test_an_internal_person_is_not_a_contact(db):
    con, _ = db
    with pytest.raises(LookupError, match="one of our own people"):
        kpi.figures(con, "contact", "ann@ourco.com", as_of=AS_OF)
    with pytest.raises(LookupError, match="excluded from every figure"):
        kpi.figures(con, "contact", "noreply@contoso.com", as_of=AS_OF)


def test_text_longer_than_the_limit_is_cut(tmp_path):
    from ingest import base

    con = store.connect(tmp_path / "long.duckdb")
    b = Batch(file="long.csv", layout="test", checksum="sha256:long")
    b.add("activities", {"activity_id": "x", "type": "call", "start_at": D(2024, 1, 1),
                         "state": "completed", "subject": "y" * 3_000_000})
    write_batches(con, [b])
    subject = con.execute("SELECT subject FROM activities").fetchall()[0][0]
    assert len(subject) == base.MAX_TEXT and subject.endswith("…")
