"""Figure tables: what they hold, that pages read the same from them as from the
canonical tables, and that an import keeps them in step inside its transaction.

The hand-built store of tests/test_kpi.py (see its docstring) gives, for the
account contoso (bob and cy are its people; t1 is regarding it):

  members: e1 e2 e3 e5 e7 e8 m1 m2 m3 c1 t1 = 11 activities, all states
  (e4 is internal, e6 has only an excluded sender and ann, x1 is fabrikam's)
  record_day rows (UTC days with completed, initiated activities):
  03-01 e7, 03-05 e1, 03-06 e2, 03-07 e3, 03-12 m1, 03-20 c1, 03-31 e8 = 7 days
  parties of its 11 activities, excluded bot aside: e1 2, e2 3, e3 2, e5 2, e7 2,
  e8 2, m1 3, m2 2, m3 2, c1 2, t1 0 = 22 rows
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import kpi
from bench.generate import generate
from bench.load import batch_of
from ingest.base import Batch, write_batches
from kpi import materialize, scope
from rapport import cli, settings as settings_mod, store
from tests.test_kpi import AS_OF, _build

D = dt.datetime


def _rows(con, table, record_type, record_id, column="activity_id"):
    return sorted(str(v) for (v,) in con.execute(
        f"SELECT {column} FROM {table} WHERE record_type = ? AND record_id = ?",
        [record_type, record_id]).fetchall())


def _all_figures(con, keys, as_of, windows=(30, None)):
    out = {}
    for record_type, key in keys:
        for days in windows:
            f = kpi.figures(con, record_type, key, as_of=as_of, days=days)
            f.pop("computed_at")
            out[(record_type, key, days)] = f
    return out


def _live(monkeypatch):
    monkeypatch.setattr(materialize, "is_fresh", lambda con, current=None: False)


def test_tables_hold_the_hand_counted_rows(tmp_path):
    con = _build(tmp_path / "hand.duckdb")
    assert materialize.is_fresh(con)
    assert _rows(con, "record_activity", "account", "domain:contoso.com") == sorted(
        ["e1", "e2", "e3", "e5", "e7", "e8", "m1", "m2", "m3", "c1", "t1"])
    days = _rows(con, "record_day", "account", "domain:contoso.com", "day")
    assert days == ["2024-03-01", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-12",
                    "2024-03-20", "2024-03-31"]
    assert len(_rows(con, "record_party", "account", "domain:contoso.com")) == 22
    # The excluded sender is no party; cy is a contact of her own.
    assert "mailto:noreply@contoso.com" not in _rows(
        con, "record_party", "account", "domain:contoso.com", "person_id")
    assert _rows(con, "record_activity", "contact", "cy@gen.contoso.com") == ["e2", "e3"]
    day = con.execute("SELECT emails_sent, emails_received, calls_received FROM record_day "
                      "WHERE record_id = 'domain:contoso.com' AND day = '2024-03-20'"
                      ).fetchall()
    assert day == [(0, 0, 1)]


def test_pages_read_the_same_from_tables_and_from_the_store(tmp_path, monkeypatch):
    con = _build(tmp_path / "same.duckdb")
    keys = [("account", "contoso.com"), ("account", "fabrikam.com"),
            ("contact", "bob@contoso.com"), ("contact", "Cy Finance")]
    # As-of times on a day boundary and inside a day, windows of 30 days and all.
    seen = {}
    for as_of in (AS_OF, D(2024, 3, 20, 23, 15), D(2024, 3, 20, 23, 45), D(2024, 4, 5, 12)):
        seen[as_of] = tables = _all_figures(con, keys, as_of)
        frames = scope.record_frames(con, "account", "domain:contoso.com", None, as_of)
        with monkeypatch.context() as m:
            _live(m)
            assert _all_figures(con, keys, as_of) == tables
            live_frames = scope.record_frames(con, "account", "domain:contoso.com", None,
                                              as_of)
        for mine, theirs in zip(frames, live_frames):
            assert mine.equals(theirs)
    # c1 at 03-20 23:30 is after an as-of of 23:15 and before one of 23:45; the
    # last day of the window is partial and read from the activities.
    early = seen[D(2024, 3, 20, 23, 15)][("account", "contoso.com", 30)]
    late = seen[D(2024, 3, 20, 23, 45)][("account", "contoso.com", 30)]
    assert early["interactions"]["calls"] == {"by_us": 0, "by_them": 0}
    assert late["interactions"]["calls"] == {"by_us": 0, "by_them": 1}
    assert late["daily"][-1] == {"date": "2024-03-20", "emails_sent": 0,
                                 "emails_received": 0, "meetings_sent": 0,
                                 "meetings_received": 0, "calls_made": 0,
                                 "calls_received": 1}
    assert late["interactions"]["emails"] == {"by_us": 2, "by_them": 2}  # e1, e7; e2, e3


def _generated_store(path, n=3000, seed=7, parts=1, changes=False):
    """A store of generated data, imported in *parts* imports of activities."""
    tables = generate(n, seed)
    con = store.connect(path)
    if parts == 1:
        write_batches(con, [batch_of(tables)])
        return con, tables
    acts = tables["activities"]
    cut = acts.num_rows * 9 // 10
    first_ids = set(acts["activity_id"][:cut].to_pylist())
    head = dict(tables, activities=acts.slice(0, cut))
    head["activity_parties"] = tables["activity_parties"].filter(
        [a in first_ids for a in tables["activity_parties"]["activity_id"].to_pylist()])
    write_batches(con, [batch_of(head, "first")])
    tail = {name: tables[name].slice(0, 0) for name in tables}
    tail["activities"] = acts.slice(cut)
    tail["activity_parties"] = tables["activity_parties"].filter(
        [a not in first_ids for a in tables["activity_parties"]["activity_id"].to_pylist()])
    if changes:
        # The second import also closes an opportunity and moves a lead's owner.
        opp = tables["opportunities"].slice(0, 1).to_pylist()[0]
        opp.update(state="won", closed_at=D(2025, 6, 30))
        tail["opportunities"] = pa.Table.from_pylist([opp], tables["opportunities"].schema)
        lead = tables["leads"].slice(0, 1).to_pylist()[0]
        lead.update(owner_id="user:1" if lead["owner_id"] != "user:1" else "user:2")
        tail["leads"] = pa.Table.from_pylist([lead], tables["leads"].schema)
    write_batches(con, [batch_of(tail, "second")])
    return con, tables


def _table(con, name):
    order = "record_type, record_id, day" if name == "record_day" else \
        "record_type, record_id, activity_id" + (", person_id, role"
                                                  if name == "record_party" else "")
    return con.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()


@pytest.mark.slow
def test_an_import_refreshes_only_what_it_touched_and_agrees_with_a_recompute(tmp_path):
    # One import of everything, and the same data in two imports.
    whole, _ = _generated_store(tmp_path / "one.duckdb", parts=1)
    con, _ = _generated_store(tmp_path / "two.duckdb", parts=2)
    assert materialize.meta(con)["how"] == "incremental" and materialize.is_fresh(con)
    for name in materialize.FIGURE_TABLES:
        assert _table(whole, name) == _table(con, name), name
    # A second import that also closes an opportunity and moves a lead.
    con, _ = _generated_store(tmp_path / "changed.duckdb", parts=2, changes=True)
    assert materialize.meta(con)["how"] == "incremental"
    incremental = {t: _table(con, t) for t in materialize.FIGURE_TABLES}
    assert incremental["record_activity"] != _table(whole, "record_activity")
    with store.transaction(con):
        materialize.recompute(con)
    for name in materialize.FIGURE_TABLES:
        assert _table(con, name) == incremental[name], name


@pytest.mark.slow
def test_generated_figures_are_the_same_from_tables_and_store(tmp_path, monkeypatch):
    con, tables = _generated_store(tmp_path / "gen.duckdb", n=2000, seed=3)
    keys = [("account", f"acc:{i}") for i in (0, 3, 11)]
    keys += [("opportunity", f"opp:{i}") for i in (0, 5, 40, 77)]
    keys += [("lead", f"lead:{i}") for i in (0, 2, 9)]
    keys += [("contact", k) for (k,) in con.execute(
        "SELECT DISTINCT person_key FROM people WHERE side = 'them' "
        "ORDER BY person_key LIMIT 4").fetchall()]
    as_of = D(2025, 10, 3, 14, 30)
    tables_view = _all_figures(con, keys, as_of, windows=(60, None))
    _live(monkeypatch)
    assert _all_figures(con, keys, as_of, windows=(60, None)) == tables_view
    busy = max(tables_view.values(),
               key=lambda f: sum(v["by_us"] + v["by_them"] for v in f["interactions"].values()))
    assert sum(v["by_us"] + v["by_them"] for v in busy["interactions"].values()) > 0


def test_a_later_party_on_an_old_activity_reaches_the_tables(tmp_path):
    con = _build(tmp_path / "party.duckdb")
    assert _rows(con, "record_activity", "account", "domain:fabrikam.com") == ["x1"]
    # A second source names eve as cc of e1 (contoso's) as well.
    b = Batch(file="cc.csv", layout="test", checksum="sha256:cc")
    b.add("activity_parties", {"activity_id": "e1", "person_id": "mailto:eve@fabrikam.com",
                               "role": "cc"})
    write_batches(con, [b])
    assert materialize.meta(con)["how"] == "incremental"
    assert _rows(con, "record_activity", "account", "domain:fabrikam.com") == ["e1", "x1"]
    # A party row written by a step the hook is not told about is found as well.
    with store.transaction(con):
        con.execute("INSERT INTO activity_parties VALUES ('e3', 'mailto:eve@fabrikam.com', "
                    "'cc')")
        materialize.after_write(con, [])
    assert _rows(con, "record_activity", "account", "domain:fabrikam.com") == [
        "e1", "e3", "x1"]
    assert materialize.is_fresh(con)


def test_stale_tables_are_not_read(tmp_path):
    con = _build(tmp_path / "stale.duckdb")
    before = kpi.figures(con, "account", "contoso.com", as_of=AS_OF, days=30)
    # Written behind the import's back: the tables no longer match the store.
    con.execute("DELETE FROM activity_parties WHERE activity_id = 'e2'")
    con.execute("DELETE FROM activities WHERE activity_id = 'e2'")
    assert not materialize.is_fresh(con)
    after = kpi.figures(con, "account", "contoso.com", as_of=AS_OF, days=30)
    assert before["interactions"]["emails"]["by_them"] == 3
    assert after["interactions"]["emails"]["by_them"] == 2


def test_settings_set_recomputes_and_computed_at_is_the_materialisation(tmp_path, capsys):
    path = tmp_path / "cli.duckdb"
    _build(path).close()
    con = store.connect(path)
    first = materialize.computed_at(con)
    assert first is not None
    con.close()
    # Excluding contoso's domain empties its people: the tables follow at once.
    assert cli.main(["settings", "set", "excluded_domains", "gen.contoso.com",
                     "--db", str(path)]) == 0
    con = store.connect(path)
    assert materialize.is_fresh(con)
    assert _rows(con, "record_activity", "contact", "cy@gen.contoso.com") == []
    assert "e3" not in _rows(con, "record_activity", "account", "domain:contoso.com")
    con.close()
    assert cli.main(["recompute", "--db", str(path)]) == 0
    assert '"record_activity"' in capsys.readouterr().out


def test_a_failed_import_leaves_the_tables_as_they_were(tmp_path, monkeypatch):
    con = _build(tmp_path / "fail.duckdb")
    before = {t: _table(con, t) for t in materialize.FIGURE_TABLES}
    b = Batch(file="late.csv", layout="test", checksum="sha256:late")
    b.add("activities", {"activity_id": "e9", "type": "email", "subject": "late",
                         "start_at": D(2024, 3, 29), "state": "completed",
                         "initiator_id": "user:ann"})
    b.add("activity_parties", {"activity_id": "e9", "person_id": "mailto:bob@contoso.com",
                               "role": "to"})

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(materialize, "recompute", boom)
    monkeypatch.setattr(materialize, "_changed_inputs", boom)
    with pytest.raises(RuntimeError):
        write_batches(con, [b])
    assert {t: _table(con, t) for t in materialize.FIGURE_TABLES} == before
    assert store.scalar(con, "SELECT count(*) FROM activities WHERE activity_id = 'e9'") == 0
    assert materialize.is_fresh(con)


def test_settings_change_without_recompute_reads_the_store(tmp_path):
    con = _build(tmp_path / "zone.duckdb")
    settings_mod.save(con, display_timezone="Europe/Berlin")
    assert not materialize.is_fresh(con)
    f = kpi.figures(con, "account", "contoso.com", as_of=AS_OF, days=30)
    assert {d["date"]: d for d in f["daily"]}["2024-03-21"]["calls_received"] == 1


def _same_frame(mine, theirs):
    import pandas.testing as pdt

    assert mine is not None
    pdt.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True),
                           check_dtype=False)


@pytest.mark.slow
def test_lists_from_the_tables_equal_the_lists_from_the_store(tmp_path, monkeypatch):
    from kpi import core

    fresh = materialize.is_fresh

    def live(function, con, **kwargs):
        """The list computed from the canonical tables, not the figure tables."""
        with monkeypatch.context() as m:
            m.setattr(materialize, "is_fresh", lambda con, current=None: False)
            return function(con, **kwargs)

    hand = _build(tmp_path / "hand.duckdb")
    generated, _ = _generated_store(tmp_path / "lists.duckdb", n=2000, seed=5)
    cases = [(hand, AS_OF, "domain:contoso.com"), (hand, D(2024, 3, 20, 23, 45), None),
             (generated, D(2025, 10, 3, 14, 30), "acc:3"),
             (generated, D(2025, 12, 31, 23, 59, 59), "acc:0")]
    for con, as_of, account in cases:
        assert fresh(con)
        for days in (30, 60, None):
            for sort in ("interactions", "last_interaction", "name"):
                _same_frame(kpi.list_accounts(con, as_of=as_of, days=days, sort=sort),
                            live(core.list_accounts, con, as_of=as_of, days=days, sort=sort))
            _same_frame(kpi.list_accounts(con, as_of=as_of, days=days, search="1"),
                        live(core.list_accounts, con, as_of=as_of, days=days, search="1"))
            if account:
                _same_frame(kpi.list_contacts(con, account_id=account, as_of=as_of, days=days),
                            live(core.list_contacts, con, account_id=account, as_of=as_of,
                                 days=days))
            _same_frame(kpi.list_contacts(con, search="c1", as_of=as_of, days=days),
                        live(core.list_contacts, con, search="c1", as_of=as_of, days=days))
    accounts = core.list_accounts(hand, as_of=AS_OF, days=30)
    assert list(accounts["interactions"]) == [6, 1]
    assert core.computed_at(hand) == materialize.computed_at(hand).isoformat() + "Z"


def test_sidebar_reads_the_recorded_extent(tmp_path, monkeypatch):
    con = _build(tmp_path / "extent.duckdb")
    assert materialize.meta(con)["extent"] == {
        "first_at": "2024-03-01T00:00:00", "last_at": "2024-03-31T00:00:00", "completed": 10}
    recorded = (kpi.data_extent(con), kpi.default_as_of(con, now=D(2026, 1, 1)),
                kpi.default_as_of(con, now=D(2024, 3, 20)))
    _live(monkeypatch)
    assert recorded == (kpi.data_extent(con), kpi.default_as_of(con, now=D(2026, 1, 1)),
                        kpi.default_as_of(con, now=D(2024, 3, 20)))
    assert recorded[0]["activities"] == 10 and recorded[2] == (D(2024, 3, 20), None)


def test_a_reading_block_asks_once_and_sees_its_own_recompute(tmp_path):
    con = _build(tmp_path / "reading.duckdb")
    with materialize.reading(con):
        assert materialize.is_fresh(con)
        # Written behind the figure tables' back: within the block the first
        # answer stands (a page's reads agree with each other) ...
        con.execute("DELETE FROM activity_parties WHERE activity_id = 'e2'")
        con.execute("DELETE FROM activities WHERE activity_id = 'e2'")
        assert materialize.is_fresh(con)
        with materialize.reading(con):
            assert materialize.is_fresh(con)
        # ... until the tables are computed again in it.
        materialize.recompute(con)
        assert materialize.is_fresh(con)
        assert "e2" not in _rows(con, "record_activity", "account", "domain:contoso.com")
    # Outside a block every call looks again.
    con.execute("DELETE FROM activities WHERE activity_id = 'e3'")
    assert not materialize.is_fresh(con)
    f = kpi.figures(con, "account", "contoso.com", as_of=AS_OF, days=30)
    assert f["computed_at"] is not None
    assert not materialize.is_fresh(con)
