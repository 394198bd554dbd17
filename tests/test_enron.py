"""The bundled Enron sample, imported whole and checked against the raw messages.

The expected counts are worked out here from the message files themselves,
with Python's e-mail parser and none of Rapport's import code, so that the
importer and the figures are checked against an independent reading.
"""

import datetime as dt
import re
import zipfile
from collections import Counter
from email import message_from_bytes, policy
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import pytest
from publicsuffixlist import PublicSuffixList

import kpi
from ingest.base import ImportProblem
from ingest.layouts import run_import
from rapport import settings, store
from rapport.people import FREEMAIL
from rapport.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "enron" / "enron_with_categories.zip"
OURS = "enron.com"
PLACEHOLDER_DATE = "Mon, 31 Dec 1979 16:00:00 -0800 (PST)"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def enron(tmp_path_factory):
    """The sample imported with --skip-invalid into a fresh database file."""
    con = store.connect(tmp_path_factory.mktemp("enron") / "enron.duckdb")
    calls = []
    results = run_import(con, [SAMPLE], skip_invalid=True,
                         progress=lambda fraction, text: calls.append((fraction, text)))
    yield con, results, calls
    con.close()


def _raw_messages():
    """(member, parsed headers) of every message file of the sample."""
    with zipfile.ZipFile(SAMPLE) as archive:
        for name in sorted(archive.namelist()):
            if name.endswith(".txt") and not name.endswith("categories.txt"):
                yield name, message_from_bytes(archive.read(name), policy=policy.compat32)


@pytest.fixture(scope="module")
def expected():
    """Per external account: messages by Enron senders and by others."""
    psl = PublicSuffixList()
    automated = re.compile(Settings().automated_sender_pattern, re.IGNORECASE)
    seen, counts, early = set(), {}, []
    for name, message in _raw_messages():
        sent = parsedate_to_datetime(message["Date"]).astimezone(dt.timezone.utc)
        if sent.year < 1990:
            early.append(name)
            continue
        message_id = message["Message-ID"].strip().strip("<>").lower()
        if message_id in seen:
            continue
        seen.add(message_id)
        ((_, sender),) = getaddresses([message["From"]])
        sender = sender.lower()
        if automated.match(sender.split("@")[0]):
            continue
        recipients = sum((message.get_all(h, []) for h in ("To", "Cc", "Bcc")), [])
        everyone = [sender] + [addr.lower() for _, addr in getaddresses(recipients)]
        accounts = set()
        for address in everyone:
            if "@" not in address or automated.match(address.split("@")[0]):
                continue
            domain = psl.privatesuffix(address.split("@")[1]) or address.split("@")[1]
            if domain != OURS and domain not in FREEMAIL:
                accounts.add(domain)
        ours = sender.endswith("@" + OURS) or sender.endswith("." + OURS)
        side = "by_us" if ours else "by_them"
        for account in accounts:
            counts.setdefault(account, Counter())[side] += 1
    return counts, early


def sent_times(leave_out):
    """UTC send times (naive) of the messages not in *leave_out*."""
    for name, message in _raw_messages():
        if name not in leave_out:
            sent = parsedate_to_datetime(message["Date"]).astimezone(dt.timezone.utc)
            yield sent.replace(tzinfo=None)


def test_placeholder_dates_refuse_the_import(tmp_path):
    con = store.connect(tmp_path / "refused.duckdb")
    before = store.table_counts(con)
    with pytest.raises(ImportProblem) as caught:
        run_import(con, [SAMPLE])
    placeholders = sorted(name for name, m in _raw_messages() if m["Date"] == PLACEHOLDER_DATE)
    assert len(placeholders) == 13
    assert [(p.file, p.row, p.column) for p in caught.value.problems] == [
        (str(SAMPLE), name, "Date") for name in placeholders]
    assert store.table_counts(con) == before
    con.close()


def test_skip_invalid_stores_every_other_message(enron, expected):
    con, (result,), _ = enron
    _, early = expected
    assert (result.layout, result.rows_read, result.rows_added, result.rows_skipped) == (
        "message folder", 1702, 1689, 13)
    assert sorted(p.row for p in result.problems) == sorted(early)
    assert con.execute("SELECT type, state, count(*) FROM activities GROUP BY ALL"
                       ).fetchall() == [("email", "completed", 1689)]
    first, last = min(sent_times(early)), max(sent_times(early))
    assert (first, last) == (dt.datetime(1997, 3, 3, 11), dt.datetime(2002, 2, 13, 15, 20, 44))
    assert con.execute("SELECT min(start_at), max(start_at) FROM activities").fetchall() == [
        (first, last)]


def test_enron_is_inferred_as_ours(enron):
    con, _, _ = enron
    assert settings.load(con).internal_domains == [OURS]
    sides = con.execute("""
        SELECT email LIKE '%@enron.com' OR email LIKE '%.enron.com', side, count(*) > 0
        FROM people GROUP BY ALL ORDER BY ALL""").fetchall()
    assert sides == [(False, "them", True), (True, "us", True)]


def test_progress_is_reported_while_reading(enron):
    _, _, calls = enron
    reading = [f for f, text in calls if text.endswith("00 messages")]
    assert len(reading) == 1702 // 200
    assert reading == sorted(reading) and all(0 < f < 1 for f in reading)


def test_top_five_accounts_match_the_raw_messages(enron, expected):
    con, _, _ = enron
    counts, _ = expected
    top = sorted(counts, key=lambda a: (-sum(counts[a].values()), a))[:5]
    assert top == ["bracepatt.com", "brobeck.com", "cisco.com", "onlinemailbox.net",
                   "stanford.edu"]
    listed = kpi.list_accounts(con, days=None, sort="interactions")
    assert list(listed["account_id"][:5]) == ["domain:" + a for a in top]
    for account in top:
        figures = kpi.figures(con, "account", "domain:" + account, days=None)
        emails = figures["interactions"]["emails"]
        want = counts[account]
        assert (emails["by_us"], emails["by_them"]) == (want["by_us"], want["by_them"]), account


def test_top_five_counts_worked_out_by_hand(expected):
    counts, _ = expected
    # Written down once from the independent reading above, so that a change in
    # either the parser or the sample shows up as a plain difference here.
    assert {a: (counts[a]["by_us"], counts[a]["by_them"]) for a in (
        "bracepatt.com", "brobeck.com", "cisco.com", "onlinemailbox.net", "stanford.edu")} == {
        "bracepatt.com": (27, 8),
        "brobeck.com": (21, 10),
        "cisco.com": (30, 0),
        "onlinemailbox.net": (7, 19),
        "stanford.edu": (14, 10),
    }
