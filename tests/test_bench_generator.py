"""The benchmark's data generator: deterministic, in Rapport's layout, importable."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
import pytest

from bench.generate import END, TABLE_ORDER, generate, layout_columns, write
from bench.load import bulk_import
from kpi import materialize
from rapport import store


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = generate(3000, seed=4), generate(3000, seed=4), generate(3000, seed=5)
    for name in TABLE_ORDER:
        assert first[name].equals(again[name]), name
    assert not first["activities"].equals(other["activities"])


def test_tables_have_the_layout_columns_and_the_proportions():
    tables = generate(20_000, seed=1)
    for name in TABLE_ORDER:
        assert tables[name].column_names == layout_columns(name), name
    assert "person_key" not in tables["people"].column_names
    acts = tables["activities"]
    assert acts.num_rows == 20_000
    # One account per 100 activities, one opportunity per 20, one lead per 200.
    assert tables["accounts"].num_rows == 200
    assert tables["opportunities"].num_rows == 1000
    assert tables["leads"].num_rows == 100
    # Keys are unique, as the store's primary keys require.
    for name, keys in (("activities", ["activity_id"]), ("people", ["person_id"]),
                       ("activity_parties", ["activity_id", "person_id", "role"])):
        assert tables[name].group_by(keys).aggregate([]).num_rows == tables[name].num_rows
    # Every party is a known person; every activity has at least one party.
    people = set(tables["people"]["person_id"].to_pylist())
    assert set(tables["activity_parties"]["person_id"].to_pylist()) <= people
    assert set(tables["activity_parties"]["activity_id"].to_pylist()) == set(
        acts["activity_id"].to_pylist())
    kinds = dict(zip(*[c.to_pylist() for c in
                       pc.value_counts(acts["type"]).flatten()]))
    assert 0.66 < kinds["email"] / 20_000 < 0.74
    latest = pc.max(acts["start_at"]).as_py()
    assert END < latest <= END + dt.timedelta(days=30)  # a few are scheduled ahead
    scheduled_after = pc.sum(pc.and_(pc.greater(acts["start_at"], END),
                                     pc.equal(acts["state"], "completed"))).as_py()
    assert not scheduled_after


@pytest.mark.slow
def test_written_csv_imports_through_rapport_and_the_bulk_path_alike(tmp_path):
    from ingest import run_import

    tables = generate(2000, seed=9)
    folder = tmp_path / "csv"
    write(tables, folder, ("csv", "parquet"))
    assert (folder / "activities.parquet").exists()
    header = (folder / "people.csv").read_text().splitlines()[0]
    assert header.replace('"', "").split(",") == layout_columns("people")
    rapport = store.connect(tmp_path / "rapport.duckdb")
    run_import(rapport, [str(folder / f"{t}.csv") for t in TABLE_ORDER])
    bulk = store.connect(tmp_path / "bulk.duckdb")
    bulk_import(bulk, folder)
    for name in TABLE_ORDER:
        order = ", ".join(layout_columns(name)[:3])
        assert (rapport.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()
                == bulk.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()), name
    assert materialize.is_fresh(rapport) and materialize.is_fresh(bulk)
    for table in materialize.FIGURE_TABLES:
        query = f"SELECT * FROM {table} ORDER BY ALL"
        assert rapport.execute(query).fetchall() == bulk.execute(query).fetchall(), table
    assert store.scalar(bulk, "SELECT count(*) FROM activities") == 2000
