"""Sources: the files, folders and archive members an import reads."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ingest.base import file_error

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")
MAX_MEMBER_BYTES = 2 * 1024**3  # an archive member larger than this is refused


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
            if info.file_size > MAX_MEMBER_BYTES:
                raise file_error(self.name, "the archive member is too large to read",
                                 "unpack it and import the file itself")
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
                names = [i.filename for i in archive.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            raise file_error(path, f"the zip archive cannot be read ({exc})",
                             "export the archive again; it may be truncated") from None
        tables = [n for n in names if Path(n).suffix.lower() in (".csv", ".tsv", ".xlsx")]
        if names and len(tables) == len(names):
            return [Source(path, n) for n in sorted(tables)]
    return [Source(path)]
