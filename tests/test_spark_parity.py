"""The figure tables computed by Spark (local[2]) equal DuckDB's, row for row.

Generated data (bench/generate.py, 20,000 activities) is imported into a
Rapport store, which computes record_activity, record_party and record_day;
the store's canonical tables are then written as Parquet and Spark runs the
same SQL (transpiled by sqlglot) over them. A second run uses a display zone
east of UTC, where days differ from UTC days.
"""

from __future__ import annotations

import os
import shutil

import pytest

pyspark = pytest.importorskip("pyspark")

from bench.generate import generate  # noqa: E402
from bench.load import batch_of  # noqa: E402
from ingest.base import write_batches  # noqa: E402
from kpi import materialize, spark  # noqa: E402
from rapport import settings as settings_mod, store  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::Warning"),
              pytest.mark.skipif(shutil.which("java") is None and not os.path.exists(
                  "/usr/bin/java"), reason="Spark needs a Java runtime")]

KEYS = {
    "record_activity": ["record_type", "record_id", "activity_id"],
    "record_party": ["record_type", "record_id", "activity_id", "person_id", "role"],
    "record_day": ["record_type", "record_id", "day"],
}


@pytest.fixture(scope="module")
def session():
    s = spark.session("local[2]")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    con = store.connect(folder / "rapport.duckdb")
    write_batches(con, [batch_of(generate(20_000, seed=11))])
    parquet = folder / "canonical"
    spark.export_tables(con, parquet)
    yield con, folder, parquet
    con.close()


def _duck(con, table: str):
    frame = con.execute(f"SELECT * FROM {table}").df()
    return _normal(frame, table)


def _normal(frame, table):
    import pandas as pd

    frame = frame.copy()
    for column in frame.columns:
        if column in ("start_at", "end_at", "last_at"):
            values = pd.to_datetime(frame[column])
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            frame[column] = values.astype("datetime64[us]")
        elif column == "day":
            frame[column] = pd.to_datetime(frame[column]).dt.date
        elif frame[column].dtype.kind in "iub" or column in (
                "opens", "clicks", "replies", "attachment_opens", "emails_sent",
                "emails_received", "meetings_sent", "meetings_received", "calls_made",
                "calls_received"):
            frame[column] = frame[column].astype("Float64")
        elif column in ("until_as_of", "followed"):
            frame[column] = frame[column].astype("boolean")
        elif frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.sort_values(KEYS[table]).reset_index(drop=True)


def _spark(frames, table: str):
    return _normal(frames[table].toPandas(), table)


def _assert_same(con, frames):
    import pandas.testing as pdt

    for table in spark.OUTPUT_TABLES:
        duck = _duck(con, table)
        other = _spark(frames, table)
        assert len(duck) > 1000, table
        assert list(other.columns) == list(duck.columns), table
        pdt.assert_frame_equal(other, duck, check_dtype=False, obj=table)


def test_spark_computes_the_same_figure_tables(session, stored, tmp_path):
    con, _, parquet = stored
    assert materialize.is_fresh(con)
    frames = spark.compute(session, str(parquet), str(tmp_path / "out"), zone="UTC")
    _assert_same(con, frames)
    assert (tmp_path / "out" / "record_day.parquet").exists()


def test_spark_days_follow_the_display_zone(session, stored, tmp_path):
    con, _, parquet = stored
    with store.transaction(con):
        current = settings_mod.save(con, display_timezone="Asia/Kolkata")
        materialize.recompute(con, current)
    frames = spark.compute(session, str(parquet), None, zone="Asia/Kolkata")
    _assert_same(con, frames)
    # 05:30 east of UTC: an activity at 20:00 UTC is on the next local day.
    late = con.execute(
        "SELECT count(*) FROM record_activity WHERE hour(start_at) >= 19 "
        "AND state = 'completed'").fetchall()[0][0]
    assert late > 0
