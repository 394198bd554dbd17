"""Sources: the files, folders and archive members an import reads."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ingest.base import file_error

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")
MAX_MEMBER_BYTES = 2 * 1024**3  # an archive member larger than this is refused
# A member that inflates more than this many times (and past RATIO_FLOOR bytes)
# is a zip bomb, not an export: real tables and mail compress far less.
MAX_RATIO = 200
RATIO_FLOOR = 1024**2
READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                    zipfile.ZIP_LZMA)


def unsafe_member_name(name: str) -> bool:
    """True for an archive member named by an absolute path or with '..' in it."""
    posix = name.replace("\\", "/")
    return (posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) is not None
            or ".." in posix.split("/"))


def check_member(file: str, info: zipfile.ZipInfo, row=None) -> None:
    """Refuse an archive member before a byte of it is inflated.

    Its sizes come from the archive's directory; zipfile stops inflating at the
    declared size, so a member cannot expand beyond what is checked here.
    """
    name = info.filename
    if unsafe_member_name(name):
        raise file_error(file, f"the archive member {name!r} has an absolute path or "
                         "'..' in its path", "re-create the archive with paths relative "
                         "to its top folder", row=row)
    if info.flag_bits & 0x1:
        raise file_error(file, f"the archive member {name!r} is encrypted",
                         "unpack the archive with its password and import the unpacked "
                         "files, or make a zip without a password", row=row)
    if info.compress_type not in READABLE_METHODS:
        raise file_error(file, f"the archive member {name!r} is compressed with a method "
                         f"Rapport cannot read (zip method {info.compress_type})",
                         "re-create the archive with ordinary (deflate) compression, or "
                         "unpack it and import the files", row=row)
    if info.file_size > MAX_MEMBER_BYTES:
        raise file_error(file, f"the archive member {name!r} would expand to "
                         f"{info.file_size:,} bytes, more than the {MAX_MEMBER_BYTES:,} "
                         "Rapport reads from one member",
                         "unpack the archive and import the file itself", row=row)
    if info.file_size > RATIO_FLOOR and \
            info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        raise file_error(file, f"the archive member {name!r} would expand {ratio:,} times, "
                         f"from {info.compress_size:,} to {info.file_size:,} bytes: a sign "
                         "of a zip bomb rather than an export",
                         "unpack the archive yourself, check what it holds, and import "
                         "the files", row=row)


@dataclass(frozen=True)
class Source:
    """One unit of an import: a file, a folder of messages, or a zip member."""

    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    @property
    def suffix(self) -> str:
        return Path(self.member or self.path.name).suffix.lower()

    def open(self) -> IO[bytes]:
        if self.member is None:
            return open(self.path, "rb")
        with zipfile.ZipFile(self.path) as archive:
            info = archive.getinfo(self.member)
            check_member(self.name, info)
            return io.BytesIO(archive.read(self.member))

    def head(self, size: int = 8192) -> bytes:
        if self.path.is_dir():
            return b""
        with self.open() as handle:
            return handle.read(size)

    def checksum(self) -> str:
        digest = hashlib.sha256()
        if self.path.is_dir():
            for child in sorted(p for p in self.path.rglob("*") if p.is_file()):
                digest.update(str(child.relative_to(self.path)).encode())
                digest.update(hashlib.sha256(child.read_bytes()).digest())
            return "sha256:" + digest.hexdigest()
        with self.open() as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()


def expand(path: str | Path) -> list[Source]:
    """The units of *path*: CSV tables one by one, a message folder or zip whole."""
    path = Path(path)
    if not path.exists():
        raise file_error(path, "no such file or folder", "check the path and try again")
    if path.is_dir():
        tables = sorted(p for p in path.iterdir()
                        if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
                        and p.suffix.lower() != ".txt")
        return [Source(p) for p in tables] if tables else [Source(path)]
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                infos = [i for i in archive.infolist() if not i.is_dir()]
                for info in infos:  # the whole archive, before any member is read
                    check_member(str(path), info, row=info.filename)
                names = [i.filename for i in infos]
        except (zipfile.BadZipFile, OSError) as exc:
            raise file_error(path, f"the zip archive cannot be read ({exc})",
                             "export the archive again; it may be truncated") from None
        tables = [n for n in names if Path(n).suffix.lower() in (".csv", ".tsv", ".xlsx")]
        if names and len(tables) == len(names):
            return [Source(path, n) for n in sorted(tables)]
    return [Source(path)]
