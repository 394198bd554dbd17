"""The command line: ``python -m rapport``.

It does for analysts and scripts what the app does: import files, show the
figures of a record, change settings and export the store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Sequence

import duckdb

from rapport import settings as settings_mod
from rapport import store

EXIT_INPUT = 2
EXIT_LOOKUP = 3
EXIT_BUSY = 4


def parse_as_of(text: str | None) -> dt.datetime | None:
    """An ISO-8601 time as a naive UTC datetime; a bare date means its end."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--as-of {text!r} is not an ISO-8601 time; use e.g. 2001-05-31 or "
            "2001-05-31T12:00:00Z"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif len(text) == 10:
        value = value + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return value


def parse_start_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--start-date {text!r} is not a date; use e.g. 2013-09-01") from None


def parse_days(text: str) -> int | None:
    if text.lower() == "all":
        return None
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"--days {text!r}: use a whole number of days or 'all'")
    return days


class _Progress:
    """Progress of a long task, written to stderr on one line."""

    def __init__(self, quiet: bool):
        self.quiet = quiet or not sys.stderr.isatty()
        self.last = ""

    def __call__(self, fraction: float, text: str) -> None:
        if self.quiet:
            if text != self.last and fraction in (0.0, 1.0):
                print(f"{text}", file=sys.stderr)
            self.last = text
            return
        line = f"\r[{fraction:6.1%}] {text[:70]:<70}"
        print(line, end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    from ingest import ImportProblem, run_import

    con = store.connect(args.db)
    if args.internal_domain:
        settings_mod.save(con, internal_domains=[d.lower() for d in args.internal_domain])
    try:
        results = run_import(con, args.paths, skip_invalid=args.skip_invalid,
                             timezone=args.timezone, progress=_Progress(args.json),
                             date_order=args.date_order, start_date=args.start_date)
    except ImportProblem as exc:
        print(f"rapport import: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for r in results:
        if r.outcome == "already imported":
            print(f"{r.file}: already imported (import {r.import_id}); nothing added")
            continue
        print(f"{r.file}: {r.layout}, {r.rows_read} rows read, {r.rows_added} activities added,"
              f" {r.rows_skipped} skipped (import {r.import_id})")
        for problem in r.problems[:10]:
            print(f"  skipped: {problem}")
        if len(r.problems) > 10:
            print(f"  ... and {len(r.problems) - 10} more skipped rows")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import kpi

    con = store.connect(args.db, read_only=True)
    try:
        figures = kpi.figures(con, args.type, args.key, as_of=args.as_of, days=args.days)
    except LookupError as exc:
        print(f"rapport show: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_LOOKUP
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        entity = figures["entity"]
        print(f"{entity['type'].title()}: {entity['name']} ({entity['id']})")
        print(f"As of {figures['as_of']}, window: {figures['window_days']} days")
        for sentence in figures.get("summary", []):
            print(f"  {sentence}")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from similarity import similar_won_deals

    con = store.connect(args.db, read_only=True)
    try:
        result = similar_won_deals(con, args.key, k=args.k, as_of=args.as_of)
    except LookupError as exc:
        print(f"rapport similar: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_LOOKUP
    except ValueError as exc:
        print(f"rapport similar: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    deal = result["opportunity"]
    print(f"Opportunity: {deal['name']} ({deal['id']}), {deal['state']} as of {result['as_of']}")
    if result["message"]:
        print(f"  {result['message']}")
    for n in result["neighbours"]:
        print(f"  {n['distance']:6.2f}  {n['name']} ({n['id']}), won {n['closed_at'][:10]}: "
              f"{'; '.join(n['reasons'])}")
    for sentence in result["differences"]:
        print(f"  {sentence}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from kpi import materialize
    from rapport import people

    reading = args.action != "set" and store.db_path(args.db).exists()
    con = store.connect(args.db, read_only=reading)
    if args.action == "set":
        try:
            value = settings_mod.parse_value(args.name, args.value)
            with store.transaction(con):
                current = settings_mod.save(con, **{args.name: value})
                people.classify(con, current)
                materialize.recompute(con, current)
        except (KeyError, ValueError) as exc:
            print(f"rapport settings: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return EXIT_INPUT
    current = settings_mod.load(con)
    print(json.dumps(current.to_dict(), indent=2))
    return 0


def cmd_recompute(args: argparse.Namespace) -> int:
    from kpi import materialize

    con = store.connect(args.db)
    with store.transaction(con):
        counts = materialize.recompute(con)
    print(json.dumps(counts, indent=2))
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    import duckdb

    from rapport import privacy

    path = store.db_path(args.db)
    if not path.exists():
        print(f"rapport erase: {path}: no Rapport database here", file=sys.stderr)
        return EXIT_INPUT
    try:
        counts = privacy.erase_file(path, args.person)
    except LookupError as exc:
        print(f"rapport erase: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_LOOKUP
    except privacy.ErasureError as exc:
        print(f"rapport erase: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except duckdb.IOException as exc:
        print(f"rapport erase: {path} is open in another program (the app?): stop it "
              f"first; nothing was erased ({exc})", file=sys.stderr)
        return EXIT_INPUT
    print(f"Erased {args.person} from {path}: " +
          ", ".join(f"{n} {what}" for what, n in counts.items() if n))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ingest import canonical

    con = store.connect(args.db, read_only=True)
    written = canonical.export(con, args.folder, pseudonymize=args.pseudonymize)
    for path in written:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    db_help = f"database file (default ${store.ENV_DB} or data/{store.DEFAULT_DB.name})"
    parser = argparse.ArgumentParser(
        prog="python -m rapport",
        description="Relationship analytics for sales teams, from the exports you have.",
    )
    parser.add_argument("--db", metavar="PATH", help=db_help)
    # The same option after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", parents=[common], help="import files, folders or .zip archives")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--skip-invalid", action="store_true",
                   help="store the readable rows and list the others")
    p.add_argument("--timezone", metavar="ZONE",
                   help="zone of source times that carry none (default: the setting)")
    p.add_argument("--start-date", type=parse_start_date, metavar="YYYY-MM-DD",
                   help="day 0 of a call log whose times are seconds from a start")
    p.add_argument("--date-order", choices=["day-first", "month-first"],
                   help="how to read dates such as 03/05/2024 when a column leaves it open")
    p.add_argument("--internal-domain", action="append", metavar="DOMAIN",
                   help="our own e-mail domain; repeat for several (default: inferred)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("show", parents=[common], help="the figures of one record")
    p.add_argument("type", choices=["account", "contact", "lead", "opportunity"])
    p.add_argument("key", help="the record's id, or its name or e-mail address when unique")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--as-of", type=parse_as_of, metavar="T",
                   help="ISO-8601 time (default: now, or the end of the data's last day "
                        "when the data end before the window)")
    p.add_argument("--days", type=parse_days, default=60, metavar="N|all",
                   help="window length in days, or 'all' (default 60)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("similar", parents=[common],
                       help="the won deals most like one opportunity")
    p.add_argument("key", help="the opportunity's id, or its name when unique")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-k", type=int, metavar="N",
                   help="how many similar deals (default: the similar_k setting, 5)")
    p.add_argument("--as-of", type=parse_as_of, metavar="T",
                   help="ISO-8601 time (default: now, or the end of the data)")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("settings", parents=[common], help="show or change a setting")
    p.add_argument("action", nargs="?", choices=["show", "set"], default="show")
    p.add_argument("name", nargs="?")
    p.add_argument("value", nargs="?")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("recompute", parents=[common],
                       help="compute every figure table again from the canonical tables")
    p.set_defaults(func=cmd_recompute)

    p = sub.add_parser("export", parents=[common],
                       help="write the canonical tables as CSV files into a folder")
    p.add_argument("folder")
    p.add_argument("--pseudonymize", action="store_true",
                   help="replace names and addresses by stable pseudonyms")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("erase", parents=[common],
                       help="erase a person everywhere (see docs/privacy.md)")
    p.add_argument("person", metavar="ADDRESS|ID", help="e-mail address or person id")
    p.set_defaults(func=cmd_erase)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.command == "settings" and args.action == "set"
            and (not args.name or args.value is None)):
        parser.error("settings set needs a NAME and a VALUE, e.g. settings set cadence_days 14")
    try:
        store.duckdb_config()
    except ValueError as exc:
        print(f"rapport: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        return args.func(args)
    except FileNotFoundError as exc:
        print(f"rapport: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        print(f"rapport: {store.db_path(args.db)} is in use by another program (the app, "
              "or another import). Stop it or wait until it lets go of the file, then "
              "run the command again; the app does the same import on its Upload page.",
              file=sys.stderr)
        return EXIT_BUSY
