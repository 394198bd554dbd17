"""The figure tables on Apache Spark, from the same SQL as on DuckDB.

The definitions are the SQL strings of :mod:`kpi.scope` (membership of every
record, the record_activity / record_party / record_day tables). Here they
are transpiled from DuckDB's dialect to Spark SQL with sqlglot and run by a
SparkSession over the canonical tables stored as Parquet; the figure tables
are written back as Parquet. docs/spark.md tells how to run it on a cluster.

    python -m kpi.spark --input DIR --output DIR [--master URL] [--zone ZONE]

``--input`` holds ``<table>.parquet`` (file or folder) for accounts, people
(with the derived person_key, side and account_id, as :func:`export_tables`
writes them from a Rapport store), leads, opportunities, opportunity_members,
activities and activity_parties.

pyspark is needed only here (requirements-dev.txt installs it for the tests);
the app never imports this module.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import sqlglot
from sqlglot import exp

from kpi import scope

INPUT_TABLES = ("accounts", "people", "leads", "opportunities", "opportunity_members",
                "activities", "activity_parties")
OUTPUT_TABLES = ("record_activity", "record_party", "record_day")


# --- DuckDB SQL to Spark SQL ------------------------------------------------

def _local_time(node: exp.Expression) -> exp.Expression:
    """timezone(Z, timezone('UTC', t)) -> from_utc_timestamp(t, Z).

    DuckDB reads a naive time as UTC and then gives the wall time in Z; Spark
    says the same with one function.
    """
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        zone, inner = node.expressions
        if (isinstance(inner, exp.Anonymous) and inner.name.lower() == "timezone"
                and inner.expressions[0].name.upper() == "UTC"):
            return exp.Anonymous(this="from_utc_timestamp",
                                 expressions=[inner.expressions[1], zone])
    return node


def to_spark(sql: str) -> str:
    """One DuckDB statement of kpi.scope as Spark SQL."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = tree.transform(_local_time)
    return tree.sql(dialect="spark")


def statements(zone: str = "UTC") -> dict[str, str]:
    """The Spark SQL of each table, in the order they must run.

    record_members (which record each activity belongs to) is computed once
    and cached; the figure tables read it, as kpi.materialize does on DuckDB.
    """
    base = f"WITH {scope.base_ctes()}\n"
    return {
        "record_members": to_spark(f"WITH {scope.membership_ctes()}\n"
                                   f"{scope.RECORD_MEMBERS}"),
        "record_activity": to_spark(base + scope.RECORD_ACTIVITY),
        "record_party": to_spark(base + scope.RECORD_PARTY),
        "record_day": to_spark(scope.record_day_sql("record_activity", zone)),
    }


# --- Spark ----------------------------------------------------------------------

def session(master: str | None = None, app_name: str = "rapport-figures", conf=None):
    """A SparkSession: *master* (default local[2]) quiet and bound to loopback
    when local; times are read and written as UTC."""
    from pyspark.sql import SparkSession

    master = master or os.environ.get("RAPPORT_SPARK_MASTER", "local[2]")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("JAVA_HOME", _java_home())
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.parquet.inferTimestampNTZ.enabled", "false")
               .config("spark.sql.shuffle.partitions", "8"))
    if master.startswith("local"):
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _java_home() -> str:
    java = Path("/usr/bin/java").resolve()
    return str(java.parent.parent) if java.exists() else ""


def compute(spark, input_dir: str, output_dir: str | None = None,
            zone: str = "UTC") -> dict:
    """Read the canonical Parquet tables, compute the figure tables, write them.

    Returns the Spark DataFrames by name (already written when *output_dir*).
    """
    for table in INPUT_TABLES:
        spark.read.parquet(_path(input_dir, table)).createOrReplaceTempView(table)
    frames = {}
    for name, sql in statements(zone).items():
        frame = spark.sql(sql)
        if name not in OUTPUT_TABLES:
            frame = frame.cache()
            frame.createOrReplaceTempView(name)
            continue
        if output_dir:
            frame.write.mode("overwrite").parquet(_path(output_dir, name))
            frame = spark.read.parquet(_path(output_dir, name))
        frame.createOrReplaceTempView(name)
        frames[name] = frame
    return frames


def _path(folder: str, table: str) -> str:
    folder = str(folder).rstrip("/")
    return f"{folder}/{table}.parquet"


# --- from a Rapport store -----------------------------------------------------

def export_tables(con, folder: str | os.PathLike) -> list[Path]:
    """Write the canonical tables of a Rapport store as Parquet for Spark."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in INPUT_TABLES:
        path = folder / f"{table}.parquet"
        con.execute(f"COPY (SELECT * FROM {table}) TO '{path}' (FORMAT parquet)")
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kpi.spark",
                                     description="Rapport's figure tables on Spark")
    parser.add_argument("--input", required=True, help="folder (or URL) of <table>.parquet")
    parser.add_argument("--output", required=True, help="folder (or URL) for the tables")
    parser.add_argument("--master", help="Spark master URL (default local[2])")
    parser.add_argument("--zone", default="UTC", help="display time zone of record_day")
    parser.add_argument("--print-sql", action="store_true", help="print the Spark SQL only")
    args = parser.parse_args(argv)
    if args.print_sql:
        for name, sql in statements(args.zone).items():
            print(f"-- {name}\n{sql};\n")
        return 0
    started = time.perf_counter()
    spark = session(args.master)
    try:
        frames = compute(spark, args.input, args.output, args.zone)
        for name, frame in frames.items():
            print(f"{name}: {frame.count():,} rows -> {_path(args.output, name)}")
    finally:
        spark.stop()
    print(f"done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
