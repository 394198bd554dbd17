"""Reading .xlsx workbooks safely, into the same rows of text as a CSV file.

A workbook is a zip of XML files, so a hostile or broken one can try three
things a CSV cannot: an XML entity that expands into gigabytes ("billion
laughs"), a member that inflates far beyond its compressed size (a zip
bomb), and a shared-strings table too large to hold. Before openpyxl sees a
byte, :func:`check_archive` refuses all three; openpyxl itself then parses
through defusedxml (it does so whenever defusedxml is installed, and
:func:`_require_defused` makes sure it is), in read-only mode, row by row.

Cells come back as text, like :mod:`ingest.csvread`: dates as ISO-8601,
whole numbers without ``.0``, so an id such as ``00123`` stored as text stays
``00123``. :func:`table_of` and :func:`header_of` read a CSV file or the first
sheet of a workbook alike, which is what the layouts call.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import IO

from ingest import csvread
from ingest.base import ImportProblem, file_error
from ingest.csvread import Row, Table, normalize_column
from ingest.sources import Source

XLSX_SUFFIXES = (".xlsx", ".xlsm")
MAX_SHARED_STRINGS_BYTES = 64 * 1024**2  # uncompressed xl/sharedStrings.xml
MAX_MEMBER_BYTES = 512 * 1024**2  # any other uncompressed member
MAX_RATIO = 150  # uncompressed / compressed size of one member
MAX_ROWS = 2_000_000
FIX_RESAVE = "open the workbook in Excel and save it again, or export the sheet as CSV UTF-8"


def _require_defused() -> None:
    import openpyxl

    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise RuntimeError(
            "openpyxl is not using defusedxml, so a workbook could expand XML "
            "entities; install the pinned requirements (defusedxml) and set "
            "OPENPYXL_DEFUSEDXML to True or leave it unset"
        )


def is_workbook(source: Source) -> bool:
    """True when *source* is a zip holding ``xl/workbook.xml`` (an .xlsx file)."""
    if source.path.is_dir() or source.head(4)[:4] != b"PK\x03\x04":
        return False
    try:
        with source.open() as handle, zipfile.ZipFile(handle) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return source.suffix in XLSX_SUFFIXES


def check_archive(archive: zipfile.ZipFile, file: str) -> None:
    """Refuse a workbook whose members would expand too far or declare entities."""
    for info in archive.infolist():
        name = info.filename
        limit = MAX_SHARED_STRINGS_BYTES if name.endswith("sharedStrings.xml") \
            else MAX_MEMBER_BYTES
        if info.file_size > limit:
            raise file_error(
                file, f"the workbook part {name} would expand to {info.file_size:,} bytes, "
                f"more than the {limit:,} Rapport reads", FIX_RESAVE)
        if info.compress_size and info.file_size > 1_000_000 and \
                info.file_size / info.compress_size > MAX_RATIO:
            raise file_error(
                file, f"the workbook part {name} is compressed "
                f"{info.file_size // info.compress_size} times, a sign of a zip bomb rather "
                "than a spreadsheet", FIX_RESAVE)
        if name.endswith((".xml", ".rels")):
            with archive.open(info) as member:
                head = member.read(4096)
            if b"<!ENTITY" in head or b"<!DOCTYPE" in head:
                raise file_error(
                    file, f"the workbook part {name} declares XML entities, which Excel "
                    "never writes and which can expand without limit", FIX_RESAVE)


def _text(value) -> str:
    """A cell value as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if not value.microsecond else "microseconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _sheet_table(sheet, file: str, name: str) -> Table | None:
    """One worksheet as a Table; None when it holds no cells at all."""
    rows = sheet.iter_rows(values_only=True)
    header = None
    number = 0
    for number, cells in enumerate(rows, start=1):
        texts = [_text(c) for c in cells]
        if any(t.strip() for t in texts):
            header = texts
            break
    if header is None:
        return None
    while header and not header[-1].strip():
        header.pop()
    label = f"{file} (sheet {name})"
    if not csvread.looks_like_header(header):
        shown = ", ".join(c for c in header[:4] if c)
        raise file_error(label, f"the first row ({shown[:80]}) is data, not a header row "
                         "of column names", "put the column names in the sheet's first row",
                         row=number)
    columns = [normalize_column(c) for c in header]
    seen = set()
    for raw, column in zip(header, columns):
        if column and column in seen:
            raise file_error(label, f"the column {raw.strip()!r} appears twice in the header",
                             "rename or remove one of the two columns", row=number,
                             column=column)
        seen.add(column)
    table = Table(label, "xlsx", ",", columns, header)
    for number, cells in enumerate(rows, start=number + 1):
        if number > MAX_ROWS:
            raise file_error(label, f"the sheet has more than {MAX_ROWS:,} rows",
                             "split it into several files", row=number)
        texts = [_text(c) for c in cells]
        if not any(t.strip() for t in texts):
            continue
        values = {c: t for c, t in zip(columns, texts) if c}
        table.rows.append(Row(number, values))
    return table


def _declares_entities(exc: BaseException | None) -> bool:
    """True when defusedxml refused an entity or DTD somewhere in *exc*'s chain
    (openpyxl wraps it in a ValueError about "invalid XML")."""
    from defusedxml import DefusedXmlException

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, DefusedXmlException):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def read_workbook(handle: IO[bytes], file: str) -> list[Table]:
    """Every non-empty sheet of an .xlsx workbook, in workbook order."""
    _require_defused()
    import openpyxl

    data = handle.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_archive(archive, file)
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ImportProblem:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise file_error(file, f"the workbook cannot be opened ({exc})", FIX_RESAVE) from None
    except Exception as exc:  # noqa: BLE001 - openpyxl and defusedxml raise many kinds
        if _declares_entities(exc):
            raise file_error(file, "a part of the workbook declares XML entities or a "
                             "document type, which Excel never writes and which can expand "
                             "without limit", FIX_RESAVE) from None
        raise file_error(file, f"the workbook cannot be read ({type(exc).__name__}: {exc})",
                         FIX_RESAVE) from None
    try:
        tables = []
        for sheet in book.worksheets:
            table = _sheet_table(sheet, file, sheet.title)
            if table is not None:
                tables.append(table)
    except ImportProblem:
        raise
    except Exception as exc:  # noqa: BLE001
        raise file_error(file, f"the workbook cannot be read ({type(exc).__name__}: {exc})",
                         FIX_RESAVE) from None
    finally:
        book.close()
    if not tables:
        raise file_error(file, "the workbook holds no rows", "export the table again with its rows")
    return tables


def table_of(source: Source) -> Table:
    """The rows of a CSV file, or of the first non-empty sheet of a workbook."""
    with source.open() as handle:
        if is_workbook(source):
            return read_workbook(handle, source.name)[0]
        return csvread.read_table(handle.read(), source.name)


def header_of(source: Source) -> list[str] | None:
    """The normalised header of a CSV file or a workbook's first sheet; never raises."""
    if source.path.is_dir():
        return None
    try:
        if is_workbook(source):
            return table_of(source).columns
        return csvread.read_header(source.head(csvread.MAX_HEADER_BYTES))
    except Exception:  # noqa: BLE001 - a file we cannot read has no header
        return None
