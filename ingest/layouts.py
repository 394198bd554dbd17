"""The registry of layouts Rapport recognises, and the import entry point."""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from ingest.base import Batch, ImportProblem, ImportResult, Progress, file_error, write_batches
from ingest.sources import Source, expand
from rapport import settings as settings_mod
from rapport.settings import Settings

# Modules that define a LAYOUTS list; order is the order layouts are tried.
LAYOUT_MODULES = ("ingest.canonical", "ingest.salesforce", "ingest.hubspot", "ingest.dataverse",
                  "ingest.calls", "ingest.icalendar", "ingest.mailbox")


@dataclass
class ReadOptions:
    """What a reader needs besides the file."""

    settings: Settings = field(default_factory=Settings)
    # Zone for source times that carry none; defaults to the import_timezone setting.
    timezone: str | None = None
    # The moment of the import: a message dated after it is invalid.
    now: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    )
    progress: Progress | None = None
    # "day-first" or "month-first": how to read numeric dates such as 03/05/2024
    # in a column whose own values leave the order open.
    date_order: str | None = None
    # Day 0 of a call log whose times are seconds from the start of a study.
    start_date: dt.date | None = None

    @property
    def zone(self) -> str:
        return self.timezone or self.settings.import_timezone


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    sniff: Callable[[Source], bool]
    read: Callable[[Source, ReadOptions], Batch]


def layouts() -> list[Layout]:
    found: list[Layout] = []
    for module_name in LAYOUT_MODULES:
        module = importlib.import_module(module_name)
        found.extend(module.LAYOUTS)
    return found


def detect(source: Source) -> Layout:
    """The layout of *source*, recognised by its content."""
    if not source.path.is_dir() and source.path.stat().st_size == 0:
        raise file_error(source.name, "the file is empty",
                         "export it again; an empty file holds nothing to import")
    for layout in layouts():
        if layout.sniff(source):
            return layout
    why_unreadable(source)
    names = ", ".join(layout.name for layout in layouts())
    raise file_error(
        source.name,
        "its content matches none of the layouts Rapport reads",
        f"Rapport reads: {names}. See docs/formats-*.md for the columns each needs",
    )


def why_unreadable(source: Source) -> None:
    """Raise the specific reason a source no layout claims cannot be read, if
    its bytes tell one: a workbook with entity declarations or one that is too
    large, NUL bytes, a PDF or gzip file, broken UTF-16. Sniffing never raises,
    so without this the user would only hear that no layout matched."""
    if source.path.is_dir():
        return
    from ingest import csvread, xlsx

    if xlsx.is_workbook(source):
        xlsx.table_of(source)
        return
    head = source.head(csvread.MAX_HEADER_BYTES)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return  # an archive of files none of which is a layout's
    csvread.decode(head, source.name)


def read_all(paths: list[str | Path], options: ReadOptions) -> list[Batch]:
    """Read every source of *paths*; raise ImportProblem for an unreadable file."""
    sources = [source for path in paths for source in expand(path)]
    batches = []
    for i, source in enumerate(sources):
        if options.progress:
            options.progress(0.0, f"Reading {source.name} ({i + 1} of {len(sources)})")
        layout = detect(source)
        batch = layout.read(source, options)
        batch.file = source.name
        batch.layout = layout.name
        batch.checksum = source.checksum()
        batches.append(batch)
    return batches


def run_import(
    con: duckdb.DuckDBPyConnection,
    paths: list[str | Path],
    *,
    skip_invalid: bool = False,
    timezone: str | None = None,
    progress: Progress | None = None,
    date_order: str | None = None,
    start_date: dt.date | None = None,
) -> list[ImportResult]:
    """Import *paths* as one transaction; the database is unchanged on any error."""
    options = ReadOptions(settings=settings_mod.load(con), timezone=timezone,
                          progress=progress, date_order=date_order, start_date=start_date)
    batches = read_all(paths, options)
    return write_batches(con, batches, skip_invalid=skip_invalid, progress=progress)


__all__ = ["ImportProblem", "Layout", "ReadOptions", "detect", "layouts", "read_all",
           "run_import", "Path"]
