"""Leads and opportunities: which activities are theirs (spec section 3), by hand.

People: our users Uma (owner), Tim (sales team of O1) and Ola (not on the
team); Pat and Lee of account Acme (acme.com); Sam, a lead at startup.io.

  id  type     when        parties / regarding                        O1?  Acme?
  a1  email    02-05 09:00 Uma -> Pat                                  yes  yes
  a2  email    02-06 09:00 Ola -> Lee                                  no   yes  (Ola not on the team, Lee no stakeholder)
  a3  email    01-15 09:00 Tim -> Pat                                  no   yes  (before O1 was created on 02-01)
  a4  meeting  02-10 15:00 Ola with Lee, regarding O1                  yes  yes
  a5  call     02-12 10:00 Tim calls Pat (outgoing), 15 min            yes  yes
  a6  meeting  02-14 11:00 Uma, Tim, Ola with Pat, Lee, regarding O1,  yes  yes
                           30 minutes: three of ours, two of theirs
  l1  call     02-20 10:00 Uma calls Sam (lead L1), 12 minutes         (lead L1 only)

As of 2024-03-01 with a 60-day window:
  O1:   emails by us 1 (a1); meetings by us 2 (a4, a6); calls by us 1 (a5)
        time spent: us a1 5 + a5 15 + a6 30 x 3 = 110 min = 1.8 h
                    them a1 2.5 + a5 15 + a6 30 = 47.5 min = 0.8 h (a4 has no length)
  Acme: emails by us 3 (a1, a2, a3); meetings by us 2; calls by us 1
  L1:   calls by us 1, nothing else; time spent 0.2 h each side
  O2, won and closed 2023-07-01 with no activity in its life: zero counts and
        health not_enough_data.
"""

from __future__ import annotations

import datetime as dt

import pytest

import kpi
from ingest.base import Batch, write_batches
from rapport import settings as settings_mod, store

D = dt.datetime
AS_OF = D(2024, 3, 1)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    con = store.connect(tmp_path_factory.mktemp("records") / "rapport.duckdb")
    settings_mod.save(con, internal_domains=["ourco.com"])
    b = Batch(file="crm", layout="test", checksum="sha256:records")
    b.add("accounts", {"account_id": "A1", "name": "Acme", "domain": "acme.com",
                       "source": "test"})
    for pid, name, email, kind, acct in [
        ("U1", "Uma Owner", "uma@ourco.com", "user", None),
        ("U2", "Tim Team", "tim@ourco.com", "user", None),
        ("U3", "Ola Other", "ola@ourco.com", "user", None),
        ("C1", "Pat Buyer", "pat@acme.com", "contact", "A1"),
        ("C2", "Lee User", "lee@acme.com", "contact", "A1"),
        ("mailto:sam@startup.io", "Sam Founder", "sam@startup.io", "address", None),
    ]:
        b.add("people", {"person_id": pid, "name": name, "email": email, "crm_kind": kind,
                         "crm_account_id": acct})
    b.add("leads", {"lead_id": "L1", "name": "Sam Founder", "email": "Sam@Startup.io",
                    "company": "Startup", "owner_id": "U1", "state": "open",
                    "created_at": D(2024, 2, 1)})
    b.add("opportunities", {"opportunity_id": "O1", "name": "Acme renewal", "account_id": "A1",
                            "contact_id": "C1", "owner_id": "U1", "state": "open",
                            "amount": 50000.0, "created_at": D(2024, 2, 1)})
    b.add("opportunities", {"opportunity_id": "O2", "name": "Acme pilot", "account_id": "A1",
                            "contact_id": "C1", "owner_id": "U1", "state": "won",
                            "amount": 8000.0, "created_at": D(2023, 6, 1),
                            "closed_at": D(2023, 7, 1)})
    b.add("opportunity_members", {"opportunity_id": "O1", "person_id": "U2", "role": "team"})

    def act(aid, kind, when, initiator, parties, **extra):
        b.add("activities", {"activity_id": aid, "type": kind, "subject": aid,
                             "start_at": when, "state": "completed",
                             "initiator_id": initiator, **extra})
        for pid, role in parties:
            b.add("activity_parties", {"activity_id": aid, "person_id": pid, "role": role})

    act("a1", "email", D(2024, 2, 5, 9), "U1", [("U1", "sender"), ("C1", "to")])
    act("a2", "email", D(2024, 2, 6, 9), "U3", [("U3", "sender"), ("C2", "to")])
    act("a3", "email", D(2024, 1, 15, 9), "U2", [("U2", "sender"), ("C1", "to")])
    act("a4", "meeting", D(2024, 2, 10, 15), "U3", [("U3", "organizer"), ("C2", "required")],
        regarding_type="opportunity", regarding_id="O1")
    act("a5", "call", D(2024, 2, 12, 10), None, [("U2", "caller"), ("C1", "callee")],
        direction="outgoing", duration_minutes=15)
    act("a6", "meeting", D(2024, 2, 14, 11), "U1",
        [("U1", "organizer"), ("U2", "required"), ("U3", "optional"),
         ("C1", "required"), ("C2", "required")],
        regarding_type="opportunity", regarding_id="O1", duration_minutes=30)
    act("l1", "call", D(2024, 2, 20, 10), None,
        [("U1", "caller"), ("mailto:sam@startup.io", "callee")],
        direction="outgoing", duration_minutes=12)
    write_batches(con, [b])
    yield con
    con.close()


def counts(figures):
    return {kind: (c["by_us"], c["by_them"]) for kind, c in figures["interactions"].items()}


def test_opportunity_has_its_own_activities(con):
    f = kpi.figures(con, "opportunity", "Acme renewal", as_of=AS_OF, days=60)
    assert f["entity"] == {"type": "opportunity", "id": "O1", "name": "Acme renewal"}
    assert counts(f) == {"emails": (1, 0), "meetings": (2, 0), "calls": (1, 0)}
    assert f["time_spent_hours"] == {"by_us": 1.8, "by_them": 0.8}
    assert f["last_interaction"]["at"] == "2024-02-14T11:00:00Z"


def test_account_holds_more_than_its_opportunity(con):
    f = kpi.figures(con, "account", "A1", as_of=AS_OF, days=60)
    assert counts(f) == {"emails": (3, 0), "meetings": (2, 0), "calls": (1, 0)}
    assert [p["name"] for p in f["most_contacted"]] == ["Pat Buyer", "Lee User"]


def test_lead_reached_only_by_phone(con):
    f = kpi.figures(con, "lead", "sam@startup.io", as_of=AS_OF, days=60)
    assert f["entity"]["id"] == "L1"
    assert counts(f) == {"emails": (0, 0), "meetings": (0, 0), "calls": (1, 0)}
    assert f["email_ratio"] == {"by_them": None, "by_us": None}
    assert f["time_spent_hours"] == {"by_us": 0.2, "by_them": 0.2}
    assert f["last_interaction"]["type"] == "call"


def test_won_opportunity_without_activity_in_its_life(con):
    f = kpi.figures(con, "opportunity", "O2", as_of=AS_OF, days=None)
    assert counts(f) == {"emails": (0, 0), "meetings": (0, 0), "calls": (0, 0)}
    assert f["health"]["grade"] == "not_enough_data"
    assert f["last_interaction"] is None
    assert "not enough recent activity" in " ".join(f["summary"])


def test_list_records(con):
    opportunities = kpi.list_records(con, "opportunity")
    assert list(opportunities["id"]) == ["O2", "O1"]  # ordered by name
    assert list(kpi.list_records(con, "lead", search="sam")["id"]) == ["L1"]
