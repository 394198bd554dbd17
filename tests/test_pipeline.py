"""The sales-pipeline workspace: deterministic, believable, written as one import."""

import csv
import datetime as dt
import time

import pytest

from rapport import store
from rapport.workspaces import pipeline

LIMIT = 300
TABLES = {
    "accounts": "account_id", "people": "person_id", "opportunities": "opportunity_id",
    "opportunity_members": "opportunity_id, person_id, role",
    "activities": "activity_id", "activity_parties": "activity_id, person_id, role",
}


def _hashes(path) -> dict[str, tuple[int, str]]:
    con = store.connect(path, read_only=True)
    try:
        return {
            table: tuple(con.execute(
                f"SELECT count(*), md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY {keys})) "
                f"FROM {table} t").fetchall()[0])
            for table, keys in TABLES.items()
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The first 300 opportunities, built once for the module."""
    path = tmp_path_factory.mktemp("pipeline") / "small.duckdb"
    seen = []
    summary = pipeline.build(path, limit=LIMIT, progress=lambda f, text: seen.append(f))
    con = store.connect(path, read_only=True)
    yield path, con, summary, seen
    con.close()


def _rows(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def test_the_same_seed_builds_the_same_database(small, tmp_path):
    path, _, _, _ = small
    again = tmp_path / "again.duckdb"
    pipeline.build(again, limit=LIMIT)
    assert _hashes(again) == _hashes(path)
    other = tmp_path / "other-seed.duckdb"
    pipeline.build(other, seed=8, limit=LIMIT)
    assert _hashes(other)["activities"] != _hashes(path)["activities"]
    # What the data set says of each deal does not depend on the seed.
    facts = ("SELECT opportunity_id, state, amount, product, owner_id, account_id, "
             "closed_at FROM opportunities ORDER BY 1")
    cons = [store.connect(p, read_only=True) for p in (path, other)]
    try:
        assert _rows(cons[0], facts) == _rows(cons[1], facts)
    finally:
        for con in cons:
            con.close()


def test_building_twice_into_one_file_adds_nothing(tmp_path):
    path = tmp_path / "twice.duckdb"
    first = pipeline.build(path, limit=20)
    second = pipeline.build(path, limit=20)
    assert first["outcome"] == "imported"
    assert second["outcome"] == "already imported"
    assert second["activities"] == first["activities"]


def test_records_follow_the_data_set(small):
    _, con, summary, seen = small
    with open(pipeline.SAMPLE_DIR / "sales_pipeline.csv", encoding="utf-8", newline="") as f:
        source = list(csv.DictReader(f))[:LIMIT]
    assert summary["opportunities"] == LIMIT and summary["as_of"] == "2017-12-31T23:59:59Z"
    stored = {r[0]: r[1:] for r in _rows(
        con, "SELECT opportunity_id, state, product, amount, created_at, closed_at "
             "FROM opportunities")}
    states = {"Won": "won", "Lost": "lost", "Engaging": "open", "Prospecting": "open"}
    for row in source:
        state, product, amount, created, closed = stored[row["opportunity_id"]]
        assert state == states[row["deal_stage"]]
        assert product == pipeline.PRODUCT_ALIASES.get(row["product"], row["product"])
        if row["engage_date"]:
            assert created == dt.datetime.fromisoformat(row["engage_date"])
        if state == "won":
            assert amount == float(row["close_value"])
            assert closed == dt.datetime.fromisoformat(row["close_date"])
    # Sellers are ours, with a manager and a region; contacts are theirs.
    sides = dict(_rows(con, "SELECT crm_kind || ':' || side, count(*) FROM people GROUP BY 1"))
    assert sides["user:us"] == 35 + 6 and "user:them" not in sides
    assert _rows(con, "SELECT manager_id, region FROM people WHERE name = 'Anna Snelling'") \
        == [("user-dustin-brinkmann", "Central")]
    assert _rows(con, "SELECT industry, country FROM accounts WHERE name = 'Bioholding'") \
        == [("medical", "Philippines")]
    # Progress went from 0 to 1 without going back.
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_every_reference_points_at_a_stored_row(small):
    _, con, _, _ = small
    assert _rows(con, "SELECT count(*) FROM activity_parties WHERE person_id NOT IN "
                      "(SELECT person_id FROM people)") == [(0,)]
    assert _rows(con, "SELECT count(*) FROM activities WHERE regarding_id IS NOT NULL AND "
                      "regarding_id NOT IN (SELECT opportunity_id FROM opportunities)"
                 ) == [(0,)]
    assert _rows(con, "SELECT count(*) FROM opportunity_members WHERE person_id NOT IN "
                      "(SELECT person_id FROM people)") == [(0,)]
    # Most activities are set regarding their deal, not all.
    share = _rows(con, "SELECT avg(CASE WHEN regarding_id IS NULL THEN 0 ELSE 1 END) "
                       "FROM activities")[0][0]
    assert 0.75 < share < 0.95


def test_replies_come_after_the_mail_they_answer(small):
    _, con, _, _ = small
    rows = _rows(con, """
        SELECT count(*), count(parent.activity_id),
               count(*) FILTER (WHERE reply.start_at <= parent.start_at),
               count(*) FILTER (WHERE reply.direction = parent.direction)
        FROM activities reply
        LEFT JOIN activities parent ON parent.message_id = reply.in_reply_to
        WHERE reply.in_reply_to IS NOT NULL""")
    replies, with_parent, too_early, same_side = rows[0]
    assert replies > 500
    assert with_parent == replies and too_early == 0 and same_side == 0
    # Message ids are stored bare and lower-case; the activity id is msg: + that.
    assert _rows(con, "SELECT count(*) FROM activities WHERE type = 'email' AND "
                      "(activity_id <> 'msg:' || message_id OR message_id <> lower(message_id)"
                      " OR message_id LIKE '<%')") == [(0,)]


def test_activity_stays_inside_each_deal(small):
    _, con, _, _ = small
    # Completed activity lies in the data set's span; only next steps are later.
    first, last = _rows(con, "SELECT min(start_at), max(start_at) FROM activities "
                             "WHERE state <> 'scheduled'")[0]
    assert first >= dt.datetime(2016, 10, 1) and last <= pipeline.AS_OF
    scheduled = _rows(con, """
        SELECT count(*), count(*) FILTER (WHERE a.start_at <= $as_of OR o.state <> 'open')
        FROM activities a JOIN opportunities o ON o.opportunity_id = a.regarding_id
        WHERE a.state = 'scheduled'""", {"as_of": pipeline.AS_OF})[0]
    assert scheduled[0] > 0 and scheduled[1] == 0
    # Nothing before a deal's creation; nothing more than 4 days after a loss.
    outside = _rows(con, """
        SELECT count(*) FILTER (WHERE a.start_at < o.created_at),
               count(*) FILTER (WHERE o.state = 'lost'
                                  AND a.start_at > o.closed_at + INTERVAL 4 DAY),
               count(*) FILTER (WHERE o.state = 'won'
                                  AND a.start_at > o.closed_at + INTERVAL 4 DAY)
        FROM activities a JOIN opportunities o ON o.opportunity_id = a.regarding_id""")[0]
    assert outside == (0, 0, 0)


def test_the_outcome_is_not_a_function_of_activity(small):
    _, con, _, _ = small
    rows = _rows(con, """
        SELECT o.state, count(a.activity_id) / greatest(date_diff('day', o.created_at,
                                                                  o.closed_at), 1)
        FROM opportunities o LEFT JOIN activities a ON a.regarding_id = o.opportunity_id
        WHERE o.state IN ('won', 'lost') GROUP BY o.opportunity_id, o.state, o.created_at,
                                                    o.closed_at""")
    won = [rate for state, rate in rows if state == "won"]
    lost = [rate for state, rate in rows if state == "lost"]
    # The share of (won, lost) pairs where the loss had the busier life: overlapping
    # distributions, with wins a little busier on the whole.
    pairs = [(w, l) for w in won for l in lost]
    busier_loss = sum(l > w for w, l in pairs) / len(pairs)
    assert 0.15 < busier_loss < 0.5


def test_lost_deals_go_quiet_before_they_close(small):
    _, con, _, _ = small
    # Customer e-mails in the last fifth of each closed deal's life, per deal.
    rows = _rows(con, """
        SELECT o.state,
               avg((SELECT count(*) FROM activities a
                    WHERE a.regarding_id = o.opportunity_id AND a.type = 'email'
                      AND a.direction = 'incoming'
                      AND a.start_at >= o.closed_at - (o.closed_at - o.created_at) / 5
                      AND a.start_at < o.closed_at))
        FROM opportunities o
        WHERE o.state IN ('won', 'lost') AND o.closed_at - o.created_at >= INTERVAL 20 DAY
        GROUP BY o.state""")
    quiet = dict(rows)
    assert quiet["lost"] < quiet["won"]


def test_the_internal_domain_is_inferred_from_the_sellers(small):
    _, con, _, _ = small
    assert _rows(con, "SELECT value FROM settings WHERE key = 'internal_domains'") == \
        [(f'["{pipeline.OUR_DOMAIN}"]',)]


def test_a_bad_limit_names_the_argument():
    with pytest.raises(ValueError, match="limit must be 1 or more"):
        pipeline.generate(limit=0)


@pytest.mark.slow
def test_the_whole_workspace_generates_quickly():
    started = time.perf_counter()
    batch = pipeline.generate()
    seconds = time.perf_counter() - started
    assert batch.count("opportunities") == 8800
    assert 100_000 <= batch.count("activities") <= 250_000
    assert seconds < 30
