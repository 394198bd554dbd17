"""Mailboxes: mbox files, single .eml messages, and folders or .zip archives of messages.

Only the headers of a message are read (Message-ID, In-Reply-To, References,
Thread-Index, From, To, Cc, Bcc, Date, Subject); bodies are skipped and never
stored. Each message becomes one completed email activity, its sender and
recipients become parties, and every address becomes an address-only person.

A message with no usable date (missing, unparseable, before 1990 or after the
import) or no sender address is an invalid row: it is listed as a problem with
the file, the message (its number in an mbox, its path in a folder or
archive) and the header at fault. ``docs/formats-mail.md`` describes the
layouts for users.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import os
import re
import zipfile
from dataclasses import dataclass
from email import policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import IO, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.base import Batch, Problem, file_error
from ingest.layouts import Layout, ReadOptions
from ingest.sources import Source, check_member
from rapport import people

log = logging.getLogger(__name__)

EARLIEST = dt.datetime(1990, 1, 1)
PROGRESS_EVERY = 200
MAX_HEADER_BYTES = 256 * 1024  # headers beyond this are cut off (bodies are never read)
# Lines are read at most this long at a time, so a line of gigabytes (a body
# without line ends, a hostile header) never sits in memory whole.
LINE_BYTES = 64 * 1024
# Messages read from one file, folder or archive at most: every message's rows
# stay in memory until the import is written, so a bigger mailbox is refused
# (clearly, and before memory runs out) and must be imported in parts.
MAX_MESSAGES = 250_000
SNIFF_FILES = 200  # files of a folder or archive looked at before giving up
# Files that sit beside messages in a folder and are not messages themselves.
SKIPPED_SUFFIXES = (".cats",)
SKIPPED_NAMES = ("categories.txt", ".ds_store", "thumbs.db")

_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_MESSAGE_HEADERS = {b"message-id", b"from", b"date"}
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_OBFUSCATED = re.compile(
    r"^\s*([^\s@()<>]+) at ([^\s@()<>]+\.[^\s@()<>]+)\s*(?:\((.*)\))?\s*$"
)
_PARSER = BytesHeaderParser(policy=policy.default)


# ---------------------------------------------------------------------------
# Recognising the layouts


def _strip_start(head: bytes) -> bytes:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.lstrip(b"\r\n")


def looks_like_mbox(head: bytes) -> bool:
    """An mbox begins with a ``From `` separator line."""
    return _strip_start(head).startswith(b"From ")


def looks_like_message(head: bytes) -> bool:
    """RFC 822 headers: every line up to the first blank one is a header line
    (or its folded continuation), and one of them is Message-ID, From or Date."""
    lines = _strip_start(head).splitlines()
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    names = set()
    # A header cut off by the end of the sniffed bytes (or of a truncated file) is fine.
    complete = len(head) < 8192 and head.endswith((b"\n", b"\r"))
    for i, line in enumerate(lines):
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            continue
        if not _HEADER_LINE.match(line):
            last = i == len(lines) - 1 and not complete
            if not last:  # a header cut off by the end of the sniffed bytes is fine
                return False
            break
        names.add(line.split(b":", 1)[0].strip().lower())
    return bool(names & _MESSAGE_HEADERS)


def _is_zip(source: Source) -> bool:
    if source.member is not None or source.path.is_dir():
        return False
    return source.head(4)[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _skipped_name(name: str) -> bool:
    base = PurePosixPath(name.replace("\\", "/")).name.lower()
    return (
        base.startswith(".")
        or base in SKIPPED_NAMES
        or base.endswith(SKIPPED_SUFFIXES)
        or name.startswith("__MACOSX/")
    )


def _one_file(source: Source) -> bool:
    return not source.path.is_dir() and not _is_zip(source)


def _sniff_mbox(source: Source) -> bool:
    return _one_file(source) and looks_like_mbox(source.head())


def _sniff_eml(source: Source) -> bool:
    return _one_file(source) and looks_like_message(source.head())


def _sniff_folder(source: Source) -> bool:
    if source.path.is_dir():
        for i, (_, path) in enumerate(_folder_files(source.path)):
            if i >= SNIFF_FILES:
                return False
            with open(path, "rb") as handle:
                head = handle.read(8192)
            if looks_like_message(head) or looks_like_mbox(head):
                return True
        return False
    if not _is_zip(source):
        return False
    try:
        with zipfile.ZipFile(source.path) as archive:
            names = [info for info in archive.infolist()
                     if not info.is_dir() and not _skipped_name(info.filename)]
            for info in names[:SNIFF_FILES]:
                with archive.open(info) as handle:
                    head = handle.read(8192)
                if looks_like_message(head) or looks_like_mbox(head):
                    return True
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        # A damaged, encrypted or oddly compressed archive: read() says which.
        return True
    return False


# ---------------------------------------------------------------------------
# Header values


def _unicode(raw: str) -> str:
    """Header text with raw 8-bit bytes read as UTF-8, else Windows-1252."""
    try:
        data = raw.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return raw  # already text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _unfold(raw: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", raw).strip()


def decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded; an unknown charset falls back to UTF-8/Latin-1."""
    if "=?" not in text:
        return text
    try:
        parts = decode_header(text)
    except Exception:  # noqa: BLE001 - a malformed encoded word stays as written
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        for candidate in (charset, "utf-8", "latin-1"):
            if not candidate or candidate == "unknown-8bit":
                continue
            try:
                out.append(chunk.decode(candidate))
                break
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            out.append(chunk.decode("latin-1"))
    return "".join(out)


def _raw_headers(message: Message) -> dict[str, list[str]]:
    """Raw values by lower-case name, unfolded and with 8-bit bytes decoded."""
    found: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        # NUL bytes are never text; kept, they would make an export unreadable.
        text = _unfold(_unicode(str(value))).replace("\x00", "")
        found.setdefault(name.strip().lower(), []).append(text)
    return found


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = [v for v in headers.get(name, []) if v.strip()]
    return values[0] if values else None


def _text(headers: dict[str, list[str]], name: str) -> str | None:
    value = _first(headers, name)
    if value is None:
        return None
    value = " ".join(decode_words(value).split())
    return value or None


def _clean_name(name: str, address: str) -> str | None:
    name = " ".join(decode_words(name).split()).strip("'\" ")
    if not name or name.lower() == address:
        return None
    return name


def addresses(value: str | None) -> list[tuple[str, str | None]]:
    """(lower-case address, display name) pairs of an address header."""
    if not value:
        return []
    if "@" not in value:
        # Mailing-list archives (pipermail) write "jane at example.org (Jane Doe)".
        match = _OBFUSCATED.match(value)
        if not match:
            return []
        address = people.normalize_email(f"{match.group(1)}@{match.group(2)}")
        return [(address, _clean_name(match.group(3) or "", address))] if address else []
    found = []
    for name, addr in getaddresses([value]):
        address = people.normalize_email(addr)
        if address:
            found.append((address, _clean_name(name, address)))
    return found


def message_ids(value: str | None) -> list[str]:
    """The bare ids (no angle brackets) named in a Message-ID-like header."""
    if not value:
        return []
    ids = _ANGLE_ID.findall(value)
    if ids:
        return ids
    token = value.strip().strip("<>").strip()
    return [token] if token and " " not in token else []


def conversation_of(thread_index: str | None) -> str | None:
    """The conversation an Outlook Thread-Index names: its first 22 bytes.

    Every reply appends 5 bytes to its parent's index, so the first 22 bytes
    (a time and a GUID) are the same for the whole conversation.
    """
    if not thread_index:
        return None
    try:
        data = base64.b64decode(thread_index.strip(), validate=False)
    except (binascii.Error, ValueError):
        return thread_index.strip()
    if len(data) < 22:
        return thread_index.strip()
    return base64.b64encode(data[:22]).decode("ascii")


def mail_activity_id(message_id: str | None, sender: str, start_at: dt.datetime,
                     subject: str | None) -> str:
    """activity_id of an email: its Message-ID, else sender + UTC time + subject."""
    if message_id:
        return "msg:" + message_id.strip().strip("<>").lower()
    key = f"{sender}|{start_at.strftime('%Y-%m-%dT%H:%M:%S')}|{subject or ''}"
    return "msg:" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:24]


# ---------------------------------------------------------------------------
# Reading one message


@dataclass
class _Reader:
    """Collects the rows of the messages of one source into a batch."""

    source: Source
    options: ReadOptions
    batch: Batch
    total: int | None = None  # messages expected, for progress; None = unknown
    count: int = 0

    def __post_init__(self):
        self.seen: set[str] = set()
        self.parties: set[tuple[str, str, str]] = set()
        self.people: dict[str, dict] = {}
        try:
            self.zone = ZoneInfo(self.options.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise file_error(self.source.name,
                             f"the import time zone {self.options.zone!r} is not known",
                             "use an IANA name such as UTC or America/Chicago") from None

    # -- progress ----------------------------------------------------------
    def tick(self, fraction: float | None = None) -> None:
        self.count += 1
        self.batch.rows_read += 1
        if self.count > MAX_MESSAGES:
            raise file_error(
                self.source.name,
                f"it holds more than {MAX_MESSAGES:,} messages, more than Rapport reads "
                "from one mailbox in one import",
                "split it into smaller mailboxes (for example one per year or per "
                "person) and import them one after another")
        if self.options.progress and self.count % PROGRESS_EVERY == 0:
            if fraction is None:
                fraction = self.count / self.total if self.total else 0.0
            self.options.progress(min(fraction, 0.99),
                                  f"Reading {self.source.name}: {self.count} messages")

    # -- problems ----------------------------------------------------------
    def problem(self, row, column: str, reason: str, fix: str) -> None:
        self.batch.problems.append(Problem(self.source.name, row, column, reason, fix))

    # -- one message -------------------------------------------------------
    def add(self, header_bytes: bytes, row) -> None:
        """Turn the headers of one message into rows (or a problem)."""
        message = _PARSER.parsebytes(header_bytes)
        headers = _raw_headers(message)
        start_at = self._date(headers, row)
        if start_at is None:
            return  # one problem per message: the date is listed first
        senders = addresses(_first(headers, "from"))
        if not senders:
            shown = _first(headers, "from")
            reason = (f"the From header {shown!r} holds no e-mail address" if shown
                      else "the message has no From header")
            self.problem(row, "From", reason,
                         "give the message a From header with the sender's e-mail "
                         "address, or leave the message out")
            return
        sender, sender_name = senders[0]
        if sender_name is None:
            sender_name = _enron_name(_first(headers, "x-from"))
        subject = _text(headers, "subject") or _text(headers, "thread-topic")
        ids = message_ids(_first(headers, "message-id"))
        message_id = ids[0] if ids else None
        activity_id = mail_activity_id(message_id, sender, start_at, subject)
        if activity_id in self.seen:
            return  # the same message twice in one import counts once
        self.seen.add(activity_id)
        replied = message_ids(_first(headers, "in-reply-to"))
        refs = message_ids(" ".join(headers.get("references", [])))
        sender_id = self._person(sender, sender_name)
        self.batch.add("activities", {
            "activity_id": activity_id,
            "type": "email",
            "subject": subject,
            "start_at": start_at,
            "state": "completed",
            "initiator_id": sender_id,
            "message_id": message_id,
            "in_reply_to": replied[0] if replied else None,
            "refs": " ".join(refs) or None,
            "conversation_id": conversation_of(_first(headers, "thread-index")),
        })
        self._party(activity_id, sender_id, "sender")
        for role in ("to", "cc", "bcc"):
            for value in headers.get(role, []):
                for address, name in addresses(value):
                    self._party(activity_id, self._person(address, name), role)

    def _date(self, headers: dict[str, list[str]], row) -> dt.datetime | None:
        raw = _first(headers, "date")
        fix = "correct the message's Date header, or leave the message out"
        if raw is None:
            self.problem(row, "Date", "the message has no Date header", fix)
            return None
        try:
            when = parsedate_to_datetime(raw)
        except (ValueError, TypeError, IndexError, OverflowError):
            self.problem(row, "Date", f"the Date header {raw!r} is not a date", fix)
            return None
        if when.tzinfo is None:
            zone = dt.timezone.utc if re.search(r"-0000\b", raw) else self.zone
            when = when.replace(tzinfo=zone)
        start_at = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if start_at < EARLIEST:
            self.problem(row, "Date",
                         f"the date {raw!r} is before 1990, a placeholder rather than "
                         "the time the message was sent", fix)
            return None
        if start_at > self.options.now:
            self.problem(row, "Date",
                         f"the date {raw!r} is after the import "
                         f"({self.options.now:%Y-%m-%d %H:%M} UTC)", fix)
            return None
        return start_at

    def _person(self, address: str, name: str | None) -> str:
        person_id = "mailto:" + address
        row = self.people.get(person_id)
        if row is None:
            self.people[person_id] = {"person_id": person_id, "name": name,
                                      "email": address, "crm_kind": "address"}
        elif name and not row["name"]:
            row["name"] = name
        return person_id

    def _party(self, activity_id: str, person_id: str, role: str) -> None:
        key = (activity_id, person_id, role)
        if key not in self.parties:
            self.parties.add(key)
            self.batch.add("activity_parties",
                           {"activity_id": activity_id, "person_id": person_id,
                            "role": role})

    def finish(self) -> Batch:
        self.batch.tables["people"] = list(self.people.values())
        log.debug("%s: %d messages, %d activities, %d problems", self.source.name,
                  self.count, self.batch.count("activities"), len(self.batch.problems))
        return self.batch


def _enron_name(x_from: str | None) -> str | None:
    """The sender's name from the Enron corpus's X-From header ("Kean, Steven </O=...>")."""
    if not x_from:
        return None
    name = " ".join(decode_words(x_from.split("<", 1)[0]).split()).strip("'\" ")
    return name if name and "@" not in name else None


def read_headers(handle: IO[bytes]) -> bytes:
    """The header block of a message file: the bytes up to the first blank line."""
    lines = []
    size = 0
    for line in _lines(handle):
        if not line.strip():
            if lines:
                break
            continue  # blank lines before the headers
        if not lines:
            line = line.removeprefix(b"\xef\xbb\xbf")
        lines.append(line)
        size += len(line)
        if size > MAX_HEADER_BYTES:
            break
    return b"".join(lines)


def _lines(handle: IO[bytes]) -> Iterator[bytes]:
    """The lines of *handle*, a line longer than LINE_BYTES in several pieces."""
    if isinstance(handle, _Chain):
        return iter(handle)
    return iter(lambda: handle.readline(LINE_BYTES), b"")


def iter_mbox(handle: IO[bytes]) -> Iterator[tuple[int, bytes, int]]:
    """(message number, header bytes, bytes read so far) of each message of an mbox.

    A message starts at a ``From `` line that opens the file or follows a blank
    line; its headers run to the first blank line. Bodies are skipped line by
    line, so the file is never held in memory whole.
    """
    number = 0
    header: list[bytes] | None = None
    in_header = False
    previous_blank = True
    continued = False  # the previous piece was a long line's first part
    consumed = 0
    size = 0
    for line in _lines(handle):
        consumed += len(line)
        if consumed == len(line):
            line = line.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark
        piece, continued = continued, not line.endswith(b"\n")
        if piece:
            previous_blank = False
            if in_header and size <= MAX_HEADER_BYTES:
                header.append(line)
                size += len(line)
            continue
        if line.startswith(b"From ") and previous_blank:
            if header is not None:
                yield number, b"".join(header), consumed
            number += 1
            header, in_header, size = [], True, 0
        elif in_header:
            if not line.strip():
                in_header = False
            elif size <= MAX_HEADER_BYTES:
                header.append(line)
                size += len(line)
        previous_blank = not line.strip()
    if header is not None:
        yield number, b"".join(header), consumed


# ---------------------------------------------------------------------------
# The three layouts


def _new_batch(source: Source, layout: str) -> Batch:
    return Batch(file=source.name, layout=layout)


def read_mbox(source: Source, options: ReadOptions) -> Batch:
    reader = _Reader(source, options, _new_batch(source, "mbox"))
    size = max(source.path.stat().st_size, 1) if source.member is None else None
    with source.open() as handle:
        for number, header, consumed in iter_mbox(handle):
            reader.add(header, number)
            reader.tick(consumed / size if size else None)
    if reader.count == 0:
        raise file_error(source.name, "the mbox holds no messages",
                         "export the mailbox again")
    return reader.finish()


def read_eml(source: Source, options: ReadOptions) -> Batch:
    reader = _Reader(source, options, _new_batch(source, "eml"), total=1)
    with source.open() as handle:
        reader.add(read_headers(handle), 1)
    reader.tick()
    return reader.finish()


def _folder_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, path) of the candidate message files under *root*, sorted."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(files):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if _skipped_name(relative) or path.is_symlink():
                continue
            yield relative, path


def _read_member(reader: _Reader, name: str, handle: IO[bytes], fraction: float) -> None:
    """One file of a folder or archive: a message, an mbox, or not mail (skipped)."""
    head = handle.read(8192)
    if looks_like_mbox(head):
        rest = _Chain(head, handle)
        for number, header, _ in iter_mbox(rest):
            reader.add(header, f"{name}, message {number}")
            reader.tick(fraction)
    elif looks_like_message(head):
        reader.add(read_headers(_Chain(head, handle)), name)
        reader.tick(fraction)


class _Chain:
    """The bytes already read from a stream, then the rest of it, line by line."""

    def __init__(self, head: bytes, handle: IO[bytes]):
        self.head = head
        self.handle = handle

    def __iter__(self) -> Iterator[bytes]:
        pending = self.head
        for line in _lines(self.handle):
            if pending:
                line, pending = pending + line, b""
                for part in line.splitlines(keepends=True):
                    yield part
                continue
            yield line
        if pending:
            yield from pending.splitlines(keepends=True)


def read_folder(source: Source, options: ReadOptions) -> Batch:
    batch = _new_batch(source, "message folder")
    if source.path.is_dir():
        files = list(_folder_files(source.path))
        reader = _Reader(source, options, batch, total=len(files))
        for i, (relative, path) in enumerate(files):
            with open(path, "rb") as handle:
                _read_member(reader, relative, handle, i / len(files))
    else:
        reader = _Reader(source, options, batch)
        _read_zip(reader)
    if reader.count == 0:
        raise file_error(source.name, "it holds no e-mail messages",
                         "choose the folder or archive that holds the message files")
    return reader.finish()


def _read_zip(reader: _Reader) -> None:
    """Every message of an archive, member by member; nothing is written to disk."""
    source = reader.source
    fix = "export the archive again; it may be truncated or damaged"
    try:
        with zipfile.ZipFile(source.path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            for info in infos:
                # Names, encryption, sizes and ratio, before a byte is inflated.
                check_member(source.name, info, row=info.filename)
            infos = sorted((i for i in infos if not _skipped_name(i.filename)),
                           key=lambda i: i.filename)
            for n, info in enumerate(infos):
                with archive.open(info) as handle:
                    _read_member(reader, info.filename, handle, n / max(len(infos), 1))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError,
            NotImplementedError) as exc:
        raise file_error(source.name, f"the zip archive cannot be read ({exc})",
                         fix) from None


LAYOUTS = [
    Layout("mbox", "a mailbox file (Thunderbird, Google Takeout, mailing-list archives)",
           _sniff_mbox, read_mbox),
    Layout("eml", "a single e-mail message file (RFC 822, .eml)", _sniff_eml, read_eml),
    Layout("message folder",
           "a folder or .zip of e-mail message files (maildir, the Enron corpus)",
           _sniff_folder, read_folder),
]
