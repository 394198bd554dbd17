"""HubSpot exports with property names: calls, e-mails, meetings and their records."""

import datetime as dt

import pytest

import kpi
from ingest import ImportProblem, run_import
from ingest.hubspot import association_columns
from rapport import store
from tests.conftest import DATA

HUBSPOT = DATA / "hubspot"
AS_OF = dt.datetime(2024, 3, 1, 23, 59, 59)


def test_association_columns_are_found_by_their_many_spellings():
    found = association_columns(["associated contact ids", "associations.companies",
                                 "deal_ids", "hubspot_owner_id", "hs_call_title"])
    assert found == {"contact": ["associated contact ids"],
                     "company": ["associations.companies"], "deal": ["deal_ids"]}


def test_every_export_is_recognised_by_its_properties(con):
    results = run_import(con, [HUBSPOT])
    assert {r.file.rsplit("/", 1)[1]: (r.layout, r.rows_read) for r in results} == {
        "calls.csv": ("hubspot calls", 3), "companies.csv": ("hubspot companies", 1),
        "contacts.csv": ("hubspot contacts", 2), "deals.csv": ("hubspot deals", 1),
        "emails.csv": ("hubspot emails", 3), "meetings.csv": ("hubspot meetings", 3),
    }


def test_calls_emails_and_meetings_are_stored_as_hubspot_states_them(con):
    run_import(con, [HUBSPOT])
    rows = con.execute(
        "SELECT activity_id, type, state, direction, duration_minutes, start_at "
        "FROM activities WHERE activity_id LIKE 'hubspot:%' ORDER BY activity_id").fetchall()
    assert rows == [
        ("hubspot:call:101", "call", "completed", "outgoing", 15.0, dt.datetime(2024, 2, 1, 10)),
        # hs_timestamp in Unix milliseconds.
        ("hubspot:call:102", "call", "completed", "incoming", 2.0, dt.datetime(2024, 2, 2, 10)),
        ("hubspot:call:103", "call", "failed", "outgoing", 0.0, dt.datetime(2024, 2, 3, 10)),
        ("hubspot:meeting:301", "meeting", "completed", None, 90.0,
         dt.datetime(2024, 2, 10, 13)),
        ("hubspot:meeting:302", "meeting", "canceled", None, 60.0,
         dt.datetime(2024, 2, 20, 13)),
        ("hubspot:meeting:303", "meeting", "scheduled", None, 60.0,
         dt.datetime(2024, 3, 20, 13)),
    ]
    emails = con.execute("SELECT state, direction, subject FROM activities "
                         "WHERE type = 'email' ORDER BY start_at").fetchall()
    assert emails == [("completed", "outgoing", "Pilot proposal"),
                      ("completed", "incoming", "RE: Pilot proposal"),
                      ("failed", "outgoing", "Old address")]
    attendees = con.execute("SELECT person_id, role FROM activity_parties WHERE activity_id "
                            "= 'hubspot:meeting:301' ORDER BY 1").fetchall()
    assert attendees == [("hubspot:contact:51", "required"), ("hubspot:owner:12", "organizer"),
                         ("hubspot:owner:13", "required")]


def test_the_account_figures_are_the_hand_worked_ones(con):
    run_import(con, [HUBSPOT])
    figures = kpi.figures(con, "account", "Fabrikam", as_of=AS_OF, days=None)
    # Failed calls, the bounced e-mail and the no-show count nowhere.
    assert figures["interactions"] == {
        "emails": {"by_us": 1, "by_them": 1},
        "meetings": {"by_us": 1, "by_them": 0},
        "calls": {"by_us": 1, "by_them": 1},
    }
    assert figures["next_interaction"] == {"at": "2024-03-20T13:00:00Z", "type": "meeting",
                                           "subject": "Renewal talk"}
    contacted = {p["name"]: p["interactions"] for p in figures["most_contacted"]}
    assert contacted == {"Élodie Durand": 4, "Marc Petit": 2}


def test_owners_are_ours_and_contacts_get_their_company(con):
    run_import(con, [HUBSPOT])
    rows = con.execute("SELECT person_id, crm_kind, side, account_id FROM people "
                       "WHERE person_id LIKE 'hubspot:%' ORDER BY 1").fetchall()
    assert rows == [
        ("hubspot:contact:51", "contact", "them", "hubspot:company:7"),
        ("hubspot:contact:52", "contact", "them", "hubspot:company:7"),
        ("hubspot:owner:12", "user", "us", None),
        ("hubspot:owner:13", "user", "us", None),
    ]
    deal = con.execute("SELECT state, amount, account_id, closed_at FROM opportunities").fetchall()
    assert deal == [("won", 12000.0, "hubspot:company:7", dt.datetime(2024, 3, 15))]


def test_an_unknown_call_status_names_row_and_column(con, tmp_path):
    bad = tmp_path / "calls.csv"
    bad.write_text((HUBSPOT / "calls.csv").read_text().replace("NO_ANSWER", "MAYBE"))
    before = store.table_counts(con)
    with pytest.raises(ImportProblem, match=r"calls.csv, row 4, column hs_call_status: "
                       r"'MAYBE' is not a hs_call_status value"):
        run_import(con, [bad])
    assert store.table_counts(con) == before
