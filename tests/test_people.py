"""The rules of who is who: domains, sides, accounts and settings."""

import datetime as dt

import pytest

from ingest.base import Batch, ImportProblem, Problem, write_batches
from rapport import people, settings, store
from rapport.settings import Settings


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("gen.pge.com", "pge.com"),
        ("pge.com", "pge.com"),
        ("www.contoso.com", "contoso.com"),
        ("contoso.com.evil.io", "evil.io"),
        ("mail.bbc.co.uk", "bbc.co.uk"),
        ("GEN.PGE.COM.", "pge.com"),
    ],
)
def test_registrable_domain(domain, expected):
    assert people.registrable_domain(domain) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jeff Dasovich <Jeff.Dasovich@Enron.com>", "jeff.dasovich@enron.com"),
        ("mailto:a.b@x.org", "a.b@x.org"),
        ("'kim@pge.com'", "kim@pge.com"),
        ("not an address", None),
        ("", None),
    ],
)
def test_normalize_email(text, expected):
    assert people.normalize_email(text) == expected


def test_subdomains_are_ours_and_lookalikes_are_not():
    rules = Settings(internal_domains=["ourco.com"])
    assert people.side_of("seller@ourco.com", "address", False, rules) == "us"
    assert people.side_of("colleague@eu.ourco.com", "address", False, rules) == "us"
    assert people.side_of("x@ourco.com.evil.io", "address", False, rules) == "them"
    assert people.side_of("x@notourco.com", "address", False, rules) == "them"


def test_excluded_and_automated_senders():
    rules = Settings(internal_domains=["ourco.com"], excluded_domains=["press.net"],
                     excluded_addresses=["spy@client.com"])
    assert people.side_of("no-reply@client.com", "address", False, rules) == "excluded"
    assert people.side_of("MAILER-DAEMON@ourco.com", "address", False, rules) == "excluded"
    assert people.side_of("desk@news.press.net", "address", False, rules) == "excluded"
    assert people.side_of("spy@client.com", "address", False, rules) == "excluded"
    assert people.side_of("buyer@client.com", "contact", True, rules) == "excluded"
    assert people.side_of("noreen@client.com", "address", False, rules) == "them"


def _mail(batch, activity_id, sender, *recipients, when=dt.datetime(2024, 5, 2, 9)):
    batch.add("activities", {"activity_id": activity_id, "type": "email", "state": "completed",
                             "start_at": when, "end_at": when,
                             "initiator_id": "email:" + sender})
    for role, address in [("sender", sender)] + [("to", r) for r in recipients]:
        batch.add("people", {"person_id": "email:" + address, "email": address,
                             "crm_kind": "address"})
        batch.add("activity_parties", {"activity_id": activity_id,
                                       "person_id": "email:" + address, "role": role})


def _accounts(con):
    return dict(con.execute("SELECT person_key, account_id FROM people").fetchall())


def test_internal_domain_inferred_and_accounts_by_registrable_domain(tmp_path):
    con = store.connect(tmp_path / "r.duckdb")
    batch = Batch("mail.mbox", "test", checksum="one")
    # ourco.com sends 3 of the 4 messages, so it is inferred as ours.
    _mail(batch, "msg:1", "ann@ourco.com", "kim@gen.pge.com")
    _mail(batch, "msg:2", "ann@ourco.com", "lee@pge.com", "bo@gmail.com")
    _mail(batch, "msg:3", "bob@eu.ourco.com", "x@ourco.com.evil.io")
    _mail(batch, "msg:4", "kim@gen.pge.com", "ann@ourco.com")
    write_batches(con, [batch])
    assert settings.load(con).internal_domains == ["ourco.com"]
    links = _accounts(con)
    assert links["kim@gen.pge.com"] == links["lee@pge.com"] == "domain:pge.com"
    assert links["x@ourco.com.evil.io"] == "domain:evil.io"
    assert links["bo@gmail.com"] is None  # free-mail never becomes an account
    assert links["ann@ourco.com"] is None and links["bob@eu.ourco.com"] is None
    accounts = sorted(r[0] for r in con.execute("SELECT account_id FROM accounts").fetchall())
    assert accounts == ["domain:evil.io", "domain:pge.com"]


def test_changing_a_setting_reclassifies(tmp_path):
    con = store.connect(tmp_path / "r.duckdb")
    batch = Batch("mail.mbox", "test", checksum="one")
    _mail(batch, "msg:1", "ann@ourco.com", "kim@pge.com")
    write_batches(con, [batch])
    rules = settings.save(con, excluded_domains=["pge.com"])
    assert rules.internal_domains_inferred  # excluding a domain keeps the inference
    people.classify(con, rules)
    sides = dict(con.execute("SELECT person_key, side FROM people").fetchall())
    assert sides == {"ann@ourco.com": "us", "kim@pge.com": "excluded"}
    assert store.table_counts(con)["accounts"] == 0


def test_settings_validation_names_the_setting(tmp_path):
    con = store.connect(tmp_path / "r.duckdb")
    with pytest.raises(ValueError, match="weight_call"):
        settings.save(con, weight_call=2.0)
    with pytest.raises(ValueError, match="display_timezone"):
        settings.save(con, display_timezone="Mars/Olympus")
    assert settings.load(con) == Settings()
    assert settings.parse_value("internal_domains", "OurCo.com, ourco.de") == [
        "ourco.com", "ourco.de"]


def test_row_problems_store_nothing_unless_skipped(tmp_path):
    con = store.connect(tmp_path / "r.duckdb")
    before = store.table_counts(con)
    batch = Batch("mail.mbox", "test", checksum="two")
    _mail(batch, "msg:9", "ann@ourco.com", "kim@pge.com")
    batch.problems.append(Problem("mail.mbox", 7, "Date", "the date is 1979-12-31",
                                  "fix the date or skip the message"))
    with pytest.raises(ImportProblem) as caught:
        write_batches(con, [batch])
    assert "mail.mbox, row 7, column Date" in str(caught.value)
    assert "--skip-invalid" in str(caught.value)
    assert store.table_counts(con) == before
    [result] = write_batches(con, [batch], skip_invalid=True)
    assert (result.rows_added, result.rows_skipped) == (1, 1)


def test_failure_inside_the_transaction_rolls_everything_back(tmp_path):
    con = store.connect(tmp_path / "r.duckdb")
    good = Batch("a.csv", "test", checksum="a")
    _mail(good, "msg:1", "ann@ourco.com", "kim@pge.com")
    bad = Batch("b.csv", "test", checksum="b")
    bad.add("activities", {"activity_id": "x", "type": "email", "state": "completed",
                           "start_at": None})  # NOT NULL start_at fails in the database
    before = store.table_counts(con)
    with pytest.raises(Exception):
        write_batches(con, [good, bad])
    assert store.table_counts(con) == before


def test_tenant_domains_keep_the_tenant():
    from rapport.people import registrable_domain

    assert registrable_domain("contoso.onmicrosoft.com") == "contoso.onmicrosoft.com"
    assert registrable_domain("eu.contoso.onmicrosoft.com") == "contoso.onmicrosoft.com"
    assert registrable_domain("onmicrosoft.com") == "onmicrosoft.com"
    assert registrable_domain("gen.pge.com") == "pge.com"


def test_settings_errors_name_the_setting():
    import pytest

    from rapport import settings as settings_mod

    with pytest.raises(ValueError, match="weight_email: expected a number, got 'abc'"):
        settings_mod.parse_value("weight_email", "abc")
    with pytest.raises(ValueError, match="not a regular expression"):
        settings_mod.Settings(automated_sender_pattern="(unclosed").validate()
