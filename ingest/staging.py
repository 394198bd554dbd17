"""An upload before it is written: each file's layout, rows, preview and problems.

The Upload page calls these functions and only draws what they return. An
uploaded file is streamed into a temporary folder under its own name (never
read whole into memory), refused before that when it is larger than the
``max_upload_mb`` setting, then read exactly as ``python -m rapport import``
reads it: recognised by content, a .zip of tables split into its members.
A table whose layout Rapport does not know is kept aside for the
column-mapping step. Nothing touches the database until :func:`commit`, which
writes every batch of the upload in one transaction.
"""

from __future__ import annotations

import time

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import duckdb
import pandas as pd

from ingest import csvread
from ingest.base import Batch, ImportProblem, ImportResult, Problem, Progress, write_batches
from ingest.layouts import ReadOptions, layouts, why_unreadable
from ingest.mapping import Mapping, read_mapped, save_mapping
from ingest.sources import Source, expand

CHUNK = 1 << 20
PREVIEW_ROWS = 20
PREVIEW_COLUMNS = ["activity_id", "type", "subject", "start_at", "end_at",
                   "duration_minutes", "state", "direction", "initiator_id",
                   "regarding_type", "regarding_id"]
RECORD_TABLES = ("accounts", "people", "leads", "opportunities", "opportunity_members")


class TooLarge(ValueError):
    """An upload over the size limit, refused before it is read."""


def save_upload(handle: IO[bytes], name: str, size: int, folder: Path,
                max_mb: int) -> Path:
    """Stream one uploaded file into *folder* under its own name."""
    if size > max_mb * 1024**2:
        raise TooLarge(f"{name}: {size / 1024**2:,.1f} MB is more than the upload limit of "
                       f"{max_mb} MB (the max_upload_mb setting). Raise the limit in "
                       "Settings, or import the file with python -m rapport import")
    safe = Path(name).name or "upload"
    target = Path(tempfile.mkdtemp(dir=folder)) / safe
    handle.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(handle, out, CHUNK)
    return target


@dataclass
class Part:
    """One unit of an upload: a file, or one table of a .zip."""

    label: str  # the uploaded file's name, with the member for a zip table
    source: Source
    layout: str | None = None
    batch: Batch | None = None
    error: ImportProblem | None = None
    columns: list[str] | None = None  # set when the layout is unknown: map them
    mapping: Mapping | None = None

    @property
    def needs_mapping(self) -> bool:
        return self.columns is not None and self.batch is None

    @property
    def activities(self) -> int:
        return self.batch.count("activities") if self.batch else 0

    def records(self) -> dict[str, int]:
        if not self.batch:
            return {}
        return {t: self.batch.count(t) for t in RECORD_TABLES if self.batch.count(t)}


@dataclass
class Upload:
    parts: list[Part] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """True when every part was read and none waits for a mapping."""
        return bool(self.parts) and all(p.batch is not None for p in self.parts)

    @property
    def problems(self) -> list[Problem]:
        found = []
        for part in self.parts:
            if part.error is not None:
                found.extend(part.error.problems)
            elif part.batch is not None:
                found.extend(part.batch.problems)
        return found

    @property
    def row_problems(self) -> bool:
        """True when only rows (not whole files) have problems: skippable."""
        return all(p.error is None for p in self.parts) and bool(self.problems)


def _detect(source: Source):
    for layout in layouts():
        if layout.sniff(source):
            return layout
    return None


def read_part(label: str, source: Source, options: ReadOptions,
              mapping: Mapping | None = None) -> Part:
    """Read one unit; errors are kept on the part, never raised."""
    part = Part(label, source, mapping=mapping)
    try:
        if mapping is not None:
            part.columns = csvread.header_of(source)
            part.batch = read_mapped(source, mapping, options)
            part.layout = part.batch.layout
        else:
            layout = _detect(source)
            if layout is None:
                if not source.path.is_dir() and source.path.stat().st_size == 0:
                    raise ImportProblem([Problem(
                        label, None, None, "the file is empty",
                        "export it again; an empty file holds nothing to import")])
                # The specific reason, as the command line gives it (binary
                # data, a damaged workbook, broken UTF-16), when there is one.
                why_unreadable(source)
                part.columns = csvread.header_of(source)
                if part.columns is None:
                    raise ImportProblem([Problem(
                        label, None, None, "its content matches none of the layouts "
                        "Rapport reads and it is not a table with a header row",
                        "see docs/formats-*.md for what Rapport reads")])
                return part
            part.layout = layout.name
            part.batch = layout.read(source, options)
            part.batch.layout = layout.name
    except ImportProblem as exc:
        part.error = exc
        part.batch = None
        return part
    part.batch.file = label
    part.batch.checksum = source.checksum()
    return part


def stage(files: list[tuple[str, Path]], options: ReadOptions,
          mappings: dict[str, Mapping] | None = None) -> Upload:
    """Read every uploaded file: (name as uploaded, saved path) pairs."""
    mappings = mappings or {}
    upload = Upload()
    for name, path in files:
        try:
            sources = expand(path)
        except ImportProblem as exc:
            upload.parts.append(Part(name, Source(path), error=exc))
            continue
        for source in sources:
            label = f"{name}:{source.member}" if source.member else name
            upload.parts.append(read_part(label, source, options, mappings.get(label)))
    return upload


def preview(part: Part, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first activities of a part as they will be stored."""
    if part.batch is None:
        return pd.DataFrame(columns=PREVIEW_COLUMNS)
    activities = part.batch.tables.get("activities", [])[:rows]
    return pd.DataFrame(activities, columns=PREVIEW_COLUMNS)


def preview_records(part: Part, rows: int = PREVIEW_ROWS) -> dict[str, pd.DataFrame]:
    """The first rows of each record table a part brings (accounts, people, ...)."""
    if part.batch is None:
        return {}
    return {table: pd.DataFrame(part.batch.tables[table][:rows])
            for table in RECORD_TABLES if part.batch.tables.get(table)}


def problems_frame(upload: Upload) -> pd.DataFrame:
    """Every problem as file (as uploaded), row, column, why and what to do."""
    rows = []
    for part in upload.parts:
        found = (part.error.problems if part.error is not None
                 else part.batch.problems if part.batch is not None else [])
        staged = {str(part.source.path), str(part.source.path.resolve())}
        for p in found:
            reason, fix = p.reason, p.fix
            for path in staged:
                reason, fix = reason.replace(path, part.label), fix.replace(path, part.label)
            rows.append({"file": part.label, "row": "" if p.row is None else str(p.row),
                         "column": p.column or "", "why": reason, "what to do": fix})
    return pd.DataFrame(rows, columns=["file", "row", "column", "why", "what to do"])


def summary_frame(upload: Upload) -> pd.DataFrame:
    """One line per part: layout, rows read, activities and records it adds, problems."""
    lines = []
    for part in upload.parts:
        if part.error is not None:
            state = "cannot be read"
        elif part.needs_mapping:
            state = "unknown layout: map its columns below"
        else:
            state = "ready"
        records = ", ".join(f"{n} {t}" for t, n in part.records().items())
        lines.append({
            "file": part.label, "layout": part.layout or "", "state": state,
            "rows read": part.batch.rows_read if part.batch else 0,
            "activities": part.activities, "records": records,
            "problems": len(part.error.problems) if part.error else
            len(part.batch.problems) if part.batch else 0,
        })
    return pd.DataFrame(lines, columns=["file", "layout", "state", "rows read", "activities",
                                        "records", "problems"])


def commit(con: duckdb.DuckDBPyConnection, upload: Upload, *, skip_invalid: bool,
           progress: Progress | None = None,
           save_mappings: list[Mapping] | None = None) -> list[ImportResult]:
    """Write every part of the upload in one transaction (and the mappings to keep)."""
    if not upload.ready:
        raise ValueError("the upload is not ready: every file must be read and mapped")
    results = write_batches(con, [p.batch for p in upload.parts], skip_invalid=skip_invalid,
                            progress=progress)
    for mapping in save_mappings or []:
        save_mapping(con, mapping)
    return results


# Uploads left behind by sessions that never imported them are removed after this.
STALE_UPLOAD_SECONDS = 24 * 3600


def remove_uploads(folder) -> None:
    """Delete one session's folder of uploaded copies."""
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_uploads(now: float | None = None) -> int:
    """Delete upload folders (``rapport-*`` in the temporary folder) older than a day."""
    now = time.time() if now is None else now
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob("rapport-*"):
        try:
            old = now - folder.stat().st_mtime > STALE_UPLOAD_SECONDS
        except OSError:
            continue
        if folder.is_dir() and old:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
