"""Reading real CSV exports into rows of text.

CRM and spreadsheet exports come with a UTF-8 byte-order mark or without,
sometimes in Windows-1252, with ``,`` ``;`` or tab between cells, CRLF line
ends and quoted cells that span lines. :func:`read_table` takes all of that and
returns the rows as dictionaries of text keyed by the lower-case column name,
each with its row number as a spreadsheet shows it (the header is row 1).
Values stay text: an id such as ``00123`` is never turned into a number here.

The small parsers at the end (:func:`time_or_problem`, :class:`Cells`) turn one
cell into a typed value and report a :class:`~ingest.base.Problem` naming the
file, row and column instead of raising.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.base import Problem, file_error

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
# First bytes of files that are certainly not CSV text, and what they are.
BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one)"),
    (b"%PDF", "a PDF document"),
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Office document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3", "an SQLite database"),
)
MAX_HEADER_BYTES = 1 << 16
# Python's csv module refuses cells over 128 KB; a Dataverse e-mail's
# description (its body, never stored) is often longer. Cells up to this size
# are read; the file as a whole is in memory anyway.
MAX_CELL_BYTES = 256 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL_BYTES))
# The largest whole number a count column holds (activities.opens is INTEGER).
MAX_INTEGER = 2**31 - 1


@dataclass
class Row:
    """One data row: its number as the user sees it and its cells as text."""

    number: int
    values: dict[str, str]

    def get(self, column: str, default: str = "") -> str:
        return self.values.get(column, default)


@dataclass
class Table:
    """A whole CSV file read as text."""

    file: str
    encoding: str  # utf-8, utf-8-sig (with a byte-order mark), utf-16 or cp1252
    delimiter: str
    columns: list[str]  # normalised header names, in file order
    header: list[str]  # header cells as written
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def described(self) -> str:
        """How the file was read, for messages: 'UTF-8, semicolon-separated'."""
        if self.encoding == "xlsx":
            return "Excel workbook, first sheet"
        names = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with byte-order mark",
                 "utf-16": "UTF-16", "cp1252": "Windows-1252"}
        return (f"{names.get(self.encoding, self.encoding)}, "
                f"{DELIMITER_NAMES[self.delimiter]}-separated")


def normalize_column(name: str) -> str:
    """The key a header cell is matched by: trimmed, lower-case, no BOM or quotes."""
    return name.replace("\ufeff", "").strip().strip('"').strip().lower()


# ---------------------------------------------------------------------------
# Bytes to text


def _binary_reason(data: bytes) -> str | None:
    for magic, what in BINARY_SIGNATURES:
        if data.startswith(magic):
            return what
    return None


def decode(data: bytes, file: str) -> tuple[str, str]:
    """(text, encoding) of a CSV file's bytes; ImportProblem for binary junk."""
    if data.startswith(b"\xef\xbb\xbf"):
        encoding, body = "utf-8-sig", data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" is UTF-16 with a byte-order mark.
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise file_error(file, "the file starts like UTF-16 text but is not valid UTF-16",
                             "export it again as CSV UTF-8") from None
    else:
        encoding, body = "utf-8", data
    what = _binary_reason(body)
    if what:
        fix = ("unpack it and import the files it holds" if "archive" in what
               else "open it in its program and save or export it as CSV (UTF-8)")
        raise file_error(file, f"this is {what}, not a CSV text file", fix)
    if b"\x00" in body:
        at = body.index(b"\x00")
        line = body.count(b"\n", 0, at) + 1
        raise file_error(file, f"the file holds NUL bytes (the first at byte {at}, on line "
                         f"{line}), so it is binary data rather than CSV text",
                         "export the table again as CSV (UTF-8); if it came from Excel, "
                         "use 'CSV UTF-8 (comma delimited)'", row=line)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Not UTF-8: older Windows exports are Windows-1252. Five byte values
        # are unassigned there; latin-1 keeps them rather than failing.
        try:
            text, encoding = body.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, encoding = body.decode("latin-1"), "cp1252"
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t")
    if controls > max(8, len(text[:4096]) // 50):
        raise file_error(file, "the file is mostly control characters, not CSV text",
                         "check that this is the exported table and export it again as CSV")
    return text, encoding


# ---------------------------------------------------------------------------
# Text to rows


def _split_directive(text: str) -> tuple[str, str | None]:
    """Excel's optional first line ``sep=;`` names the delimiter; drop it."""
    match = re.match(r"sep=(.)\r?\n", text)
    if match and match.group(1) in DELIMITERS:
        return text[match.end():], match.group(1)
    return text, None


def _first_line(text: str) -> str:
    """The first logical line (up to a line end outside quotes)."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            return text[:i]
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter of *text*: the one of , ; tab the header row uses most."""
    line = _first_line(text)
    counts = {}
    for delim in DELIMITERS:
        cells = 0
        quoted = False
        for ch in line:
            if ch == '"':
                quoted = not quoted
            elif ch == delim and not quoted:
                cells += 1
        counts[delim] = cells
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best


_NAME = re.compile(r"^[A-Za-z_][\w .@/()#:\-]*$")
_VALUE_LIKE = re.compile(
    r"^("
    r"[-+]?\d[\d.,:/ -]*"                              # numbers, dates, times
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # GUIDs
    r"|[^@\s]+@[^@\s]+\.[^@\s]+"                       # e-mail addresses
    r"|https?://\S+"
    r")$",
    re.IGNORECASE,
)


# OData annotations in Web API exports: name@Microsoft.Dynamics.CRM.lookuplogicalname
_ANNOTATION = re.compile(r"@(odata|microsoft\.dynamics)\.", re.IGNORECASE)


def looks_like_header(cells: list[str]) -> bool:
    """True when *cells* read like column names rather than a data row."""
    named = [c.strip() for c in cells if c.strip()]
    if not named:
        return False
    for cell in named:
        cleaned = cell.replace("\ufeff", "").strip('"')
        if _ANNOTATION.search(cleaned) and _NAME.match(cleaned):
            continue  # x@OData.Community.Display.V1.FormattedValue is a column name
        if _VALUE_LIKE.match(cleaned) or not _NAME.match(cleaned):
            return False
    return True


def read_header(data: bytes) -> list[str] | None:
    """The normalised header of a CSV file's first bytes, or None if it has none.

    Used to recognise a layout; never raises.
    """
    try:
        text, _ = decode(data[:MAX_HEADER_BYTES], "")
    except Exception:  # noqa: BLE001 - not CSV text at all
        return None
    text, directive = _split_directive(text)
    line = _first_line(text.lstrip("\r\n"))
    if not line:
        return None
    delimiter = directive or sniff_delimiter(line)
    try:
        cells = next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None
    if not looks_like_header(cells):
        return None
    return [normalize_column(c) for c in cells]


def read_table(data: bytes, file: str) -> Table:
    """All rows of a CSV file; ImportProblem when the file cannot be read at all."""
    text, encoding = decode(data, file)
    text, directive = _split_directive(text)
    if not text.strip():
        raise file_error(file, "the file holds no rows", "export the table again with its rows")
    delimiter = directive or sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records = []
    try:
        for cells in reader:
            records.append(cells)
    except csv.Error as exc:
        row = len(records) + 1
        if "unexpected end of data" in str(exc) or "EOF" in str(exc):
            reason = (f"a quoted cell that starts in row {row} is never closed, "
                      "so the rest of the file cannot be split into rows")
        else:
            reason = f"row {row} is not valid CSV ({exc})"
        raise file_error(file, reason,
                         "check the quotes in that row (a quote inside a quoted cell is "
                         "written twice: \"\") or export the table again", row=row) from None
    # Blank lines before the header are skipped; the header is row 1 of what is left.
    while records and not any(c.strip() for c in records[0]):
        records.pop(0)
    if not records:
        raise file_error(file, "the file holds no rows", "export the table again with its rows")
    header = records[0]
    if not looks_like_header(header):
        shown = ", ".join(c for c in header[:4] if c)
        raise file_error(file, f"the first row ({shown[:80]}) is data, not a header row "
                         "of column names", "export the table again with its header row "
                         "(the column names) as the first line", row=1)
    columns = [normalize_column(c) for c in header]
    seen: dict[str, int] = {}
    for i, name in enumerate(columns):
        if name and name in seen:
            raise file_error(file, f"the column {header[i].strip()!r} appears twice in the header",
                             "rename or remove one of the two columns", row=1, column=name)
        seen[name] = i
    table = Table(file, encoding, delimiter, columns, header)
    width = len(columns)
    for offset, cells in enumerate(records[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            table.problems.append(Problem(
                file, offset, None,
                f"the row has {len(cells)} cells but the header names {width} columns",
                "check for an unquoted delimiter inside a cell; quote such cells"))
            continue
        values = {}
        for name, cell in zip(columns, cells):
            if name:
                values[name] = cell
        table.rows.append(Row(offset, values))
    return table


def missing_columns(table: Table, required: list[str | tuple[str, ...]]) -> list[str]:
    """The required columns *table* lacks; a tuple means any one of its names."""
    have = set(table.columns)
    missing = []
    for need in required:
        options = need if isinstance(need, tuple) else (need,)
        if not have.intersection(options):
            missing.append(" or ".join(options))
    return missing


# ---------------------------------------------------------------------------
# Sources (CSV files, zip members, .xlsx sheets)


def _is_xlsx(source) -> bool:
    return source.suffix in (".xlsx", ".xlsm")


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds" if not value.microsecond else "microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _xlsx_rows(data: bytes, file: str, limit: int | None = None):
    """(sheet row number, cells as text) of the workbook's first sheet."""
    import openpyxl  # only needed for workbooks

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any damage to the workbook
        raise file_error(file, f"the workbook cannot be opened ({type(exc).__name__})",
                         "open it in Excel and save it again, or save the sheet as "
                         "CSV UTF-8") from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(v) for v in values]
            if limit and number >= limit:
                break
    finally:
        book.close()


def _xlsx_table(data: bytes, file: str) -> Table:
    records = [(n, cells) for n, cells in _xlsx_rows(data, file)
               if any(c.strip() for c in cells)]
    if not records:
        raise file_error(file, "the first sheet of the workbook is empty",
                         "put the table on the first sheet, header row first")
    first, header = records[0]
    while header and not header[-1].strip():
        header = header[:-1]
    if not looks_like_header(header):
        raise file_error(file, f"row {first} of the first sheet is data, not a header row "
                         "of column names", "put the column names in the first row",
                         row=first)
    columns = [normalize_column(c) for c in header]
    if len(set(c for c in columns if c)) != len([c for c in columns if c]):
        dup = next(c for c in columns if c and columns.count(c) > 1)
        raise file_error(file, f"the column {dup!r} appears twice in the header",
                         "rename or remove one of the two columns", row=first, column=dup)
    table = Table(file, "xlsx", ",", columns, header)
    for number, cells in records[1:]:
        table.rows.append(Row(number, {name: cell for name, cell in zip(columns, cells)
                                       if name}))
    return table


def _workbooks():
    """ingest.xlsx (guarded workbook reading) when it is installed, else None."""
    try:
        from ingest import xlsx
    except ImportError:
        return None
    return xlsx


def load_table(source) -> Table:
    """The rows of a source: a CSV (or TSV) file, or the first sheet of an .xlsx."""
    workbooks = _workbooks()
    if workbooks is not None and workbooks.is_workbook(source):
        return workbooks.table_of(source)
    with source.open() as handle:
        data = handle.read()
    if _is_xlsx(source):
        return _xlsx_table(data, source.name)
    return read_table(data, source.name)


_HEADERS: dict[tuple, list[str] | None] = {}


def header_of(source) -> list[str] | None:
    """The normalised header of a source, or None when it is no table; never raises."""
    try:
        if source.path.is_dir():
            return None
        stat = source.path.stat()
        key = (str(source.path), source.member, stat.st_mtime_ns, stat.st_size)
    except OSError:
        return None
    if key in _HEADERS:
        return _HEADERS[key]
    header = None
    workbooks = _workbooks()
    try:
        if workbooks is not None and workbooks.is_workbook(source):
            header = workbooks.header_of(source)
        elif _is_xlsx(source):
            with source.open() as handle:
                data = handle.read()
            for _, cells in _xlsx_rows(data, source.name):
                if any(c.strip() for c in cells):
                    header = [normalize_column(c) for c in cells] \
                        if looks_like_header(cells) else None
                    break
        else:
            header = read_header(source.head(MAX_HEADER_BYTES))
    except Exception:  # noqa: BLE001 - sniffing never fails an import
        header = None
    if len(_HEADERS) > 1000:
        _HEADERS.clear()
    _HEADERS[key] = header
    return header


# ---------------------------------------------------------------------------
# Cells to values

_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)
TIME_FIX = "write it as ISO-8601, for example 2024-03-05T14:30:00Z"
MIN_YEAR, MAX_YEAR = 1970, 2200
EXCEL_EPOCH = dt.datetime(1899, 12, 30)


def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone; use an IANA name such as "
                         "UTC or Europe/Berlin") from None


def parse_time(text: str | None, zone: str = "UTC", *, serial: bool = False
               ) -> dt.datetime | None:
    """An ISO-8601 time as naive UTC; ValueError with a reason when it is not one.

    A time without a zone is read in *zone* and converted to UTC. With
    *serial*, a bare number is an Excel serial date (as .xlsx cells hold them).
    """
    if text is None or not text.strip():
        return None
    value = text.strip()
    if serial and re.fullmatch(r"\d{4,5}(\.\d+)?", value):
        # An Excel serial date: days since 1899-12-30, in the import's zone.
        moment = EXCEL_EPOCH + dt.timedelta(days=float(value))
        moment = moment.replace(microsecond=0, tzinfo=zone_info(zone))
        return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    match = _ISO.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a date and time Rapport reads")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = dt.datetime(int(year), int(month), int(day), int(hour or 0),
                             int(minute or 0), int(second or 0), micro)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date ({exc})") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"{value!r} is outside the years {MIN_YEAR} to {MAX_YEAR}; "
                         "it is a placeholder rather than a real time")
    if offset in (None, ""):
        moment = moment.replace(tzinfo=zone_info(zone))
    elif offset.upper() in ("Z", "UTC", "GMT"):
        moment = moment.replace(tzinfo=dt.timezone.utc)
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        moment = moment.replace(tzinfo=dt.timezone(sign * delta))
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def time_or_problem(text: str | None, zone: str, file: str, row: int | None,
                    column: str, *, serial: bool = False) -> dt.datetime | None | Problem:
    """:func:`parse_time`, with a Problem in place of the error."""
    try:
        return parse_time(text, zone, serial=serial)
    except ValueError as exc:
        return Problem(file, row, column, str(exc), TIME_FIX)


_TRUE = {"1", "true", "yes", "y", "t", "ja", "oui", "wahr", "vrai"}
_FALSE = {"0", "false", "no", "n", "f", "nein", "non", "falsch", "faux"}


class Cells:
    """Typed access to one row's cells; a bad cell becomes a Problem, not an error.

    ``cells.ok`` is False once any cell of the row was unreadable: the row is
    then left out and its problems listed.
    """

    def __init__(self, file: str, row: Row, zone: str, problems: list[Problem],
                 aliases: dict[str, tuple[str, ...]] | None = None, serial: bool = False):
        self.file = file
        self.serial = serial
        self.row = row
        self.zone = zone
        self.problems = problems
        self.aliases = aliases or {}
        self._before = len(problems)

    @property
    def ok(self) -> bool:
        return len(self.problems) == self._before

    def problem(self, column: str | None, reason: str, fix: str) -> None:
        self.problems.append(Problem(self.file, self.row.number, column, reason, fix))

    def _cell(self, column: str) -> tuple[str, str]:
        for name in (column, *self.aliases.get(column, ())):
            value = self.row.values.get(name)
            if value is not None and value.strip() != "":
                return name, value
        return column, ""

    def text(self, *columns: str) -> str | None:
        """The first non-empty cell of *columns*, trimmed, or None."""
        for column in columns:
            _, value = self._cell(column)
            if value.strip():
                return value.strip()
        return None

    def time(self, *columns: str, required: bool = False) -> dt.datetime | None:
        """The first of *columns* that holds a time, as naive UTC."""
        for column in columns:
            name, value = self._cell(column)
            if not value.strip():
                continue
            result = time_or_problem(value, self.zone, self.file, self.row.number, name,
                                     serial=self.serial)
            if isinstance(result, Problem):
                self.problems.append(result)
                return None
            return result
        if required:
            self.problem(columns[0], f"no time is given (checked {', '.join(columns)})",
                         "fill in the time; " + TIME_FIX)
        return None

    def number(self, column: str) -> float | None:
        name, value = self._cell(column)
        value = value.strip().replace("\u00a0", "").replace(" ", "")
        if not value:
            return None
        # 1,234.50 and 1.234,50 and 1234,5 all occur in exports.
        if "," in value and "." in value:
            value = value.replace(",", "") if value.rfind(".") > value.rfind(",") \
                else value.replace(".", "").replace(",", ".")
        elif "," in value:
            value = value.replace(",", ".") if value.count(",") == 1 and \
                len(value.split(",")[1]) != 3 else value.replace(",", "")
        value = re.sub(r"^[^\d+\-.]+", "", value)  # a currency sign in front
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):  # 1e400 reads as infinity
            self.problem(name, f"{self._cell(column)[1].strip()[:40]!r} is not a number",
                         "write a plain number such as 1234.5")
            return None
        return number

    def integer(self, column: str) -> int | None:
        value = self.number(column)
        if value is None:
            return None
        if abs(value) > MAX_INTEGER:
            name, text = self._cell(column)
            self.problem(name, f"{text.strip()[:40]!r} is too large for a count "
                         f"(at most {MAX_INTEGER:,})", "write the real number, or leave "
                         "the cell empty")
            return None
        return int(round(value))

    def boolean(self, column: str) -> bool | None:
        name, value = self._cell(column)
        value = value.strip().lower()
        if not value:
            return None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.problem(name, f"{value!r} is not yes or no", "write true or false (or 1 or 0)")
        return None

    def code(self, column: str, labels: dict[str, int] | None = None) -> int | None:
        """An option-set value such as a statecode (``1``, ``1.0``, or a known label)."""
        name, value = self._cell(column)
        value = value.strip()
        if not value:
            return None
        if labels and value.lower() in labels:
            return labels[value.lower()]
        try:
            return int(float(value))
        except ValueError:
            self.problem(name, f"{value!r} is not a number code",
                         "use the option's number (for example statecode 1), "
                         "not its label")
            return None
