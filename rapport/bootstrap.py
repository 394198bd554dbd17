"""First start: build the database from the bundled Enron sample.

When the app starts and its database file does not exist yet, it calls
:func:`ensure_sample_database`. The sample is imported into a file in a
``<name>.tmp/`` folder beside the database and renamed into place only when
complete, so a half-built file is never opened. A lock file in that folder
keeps two app processes from building at once: the second one waits for the
first and then opens what it built.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable

from rapport import store

SAMPLE = store.PROJECT_ROOT / "data" / "samples" / "enron" / "enron_with_categories.zip"

Progress = Callable[[float, str], None]

# Share of the bar for reading the files; storing takes the rest.
_READ_SHARE = 0.8


class _Bar:
    """Maps the import's two phases (read, then store) onto one rising bar."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.done = 0.0

    def __call__(self, fraction: float, text: str) -> None:
        if not self.progress:
            return
        if text.startswith("Reading"):
            value = fraction * _READ_SHARE
        else:
            value = _READ_SHARE + fraction * (1 - _READ_SHARE)
        self.done = min(max(self.done, value), 1.0)
        self.progress(self.done, text)


def _work_folder(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_lock(lock: Path) -> bool:
    """Create *lock*; False while another live process holds it."""
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileNotFoundError:
            return False  # the folder went away: the other builder just finished
        except FileExistsError:
            try:
                holder = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                holder = None
            if holder is not None and _pid_alive(holder):
                return False
            # The builder died (or the file is still being written: retry once).
            with contextlib.suppress(FileNotFoundError):
                if holder is not None or time.time() - lock.stat().st_mtime > 10:
                    lock.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {time.time():.0f}\n")
        return True
    return False


def _remove(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _build(path: Path, work: Path, fill: Callable[[Path], None]) -> None:
    """Run *fill* on a new file in *work*, then move the finished file to *path*."""
    building = work / f"build-{os.getpid()}.duckdb"
    wal = building.with_name(building.name + ".wal")
    _remove(building, wal)
    try:
        fill(building)
        os.replace(building, path)
    finally:
        _remove(building, wal)


def _import_sample(sample: Path, bar: _Bar) -> Callable[[Path], None]:
    def fill(building: Path) -> None:
        from ingest.layouts import run_import

        con = store.connect(building)
        try:
            run_import(con, [sample], skip_invalid=True, progress=bar)
            con.execute("CHECKPOINT")
        finally:
            con.close()
    return fill


def ensure_sample_database(
    path: str | os.PathLike,
    progress: Progress | None = None,
    *,
    sample: str | os.PathLike = SAMPLE,
    wait_seconds: float = 900,
) -> bool:
    """Build *path* from the bundled sample when it does not exist.

    Returns True when this call built it, False when it existed already or
    another process built it meanwhile. *progress(fraction, text)* is called
    while it reads and stores the sample (and while it waits for another
    process). Raises FileNotFoundError when the sample is missing,
    TimeoutError when another builder takes longer than *wait_seconds*, and
    the import's own errors unchanged.
    """
    path, sample = Path(path), Path(sample)
    if path.exists():
        return False
    if not sample.exists():
        raise FileNotFoundError(
            f"{path}: no Rapport database here, and the bundled sample {sample} is "
            "missing. Import your own data with: python -m rapport import PATH"
        )
    return _ensure(path, _import_sample(sample, _Bar(progress)), progress, wait_seconds)


def ensure_pipeline_database(
    path: str | os.PathLike,
    progress: Progress | None = None,
    *,
    wait_seconds: float = 1800,
) -> bool:
    """Build the sales-pipeline workspace at *path* when it does not exist.

    The same guarantees as :func:`ensure_sample_database`: built in a
    temporary file, renamed into place when complete, one builder at a time.
    """
    from rapport.workspaces import pipeline

    def fill(building: Path) -> None:
        pipeline.build(building, progress=progress)

    return _ensure(Path(path), fill, progress, wait_seconds)


def _ensure(path: Path, fill: Callable[[Path], None], progress: Progress | None,
            wait_seconds: float) -> bool:
    work = _work_folder(path)
    lock = work / "lock"
    deadline = time.monotonic() + wait_seconds
    while True:
        if path.exists():
            return False
        work.mkdir(parents=True, exist_ok=True)
        if _take_lock(lock):
            break
        if progress:
            progress(0.0, f"Another Rapport process is building {path.name}; waiting")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{lock}: another process has been building {path} for over "
                f"{wait_seconds:.0f} s. If none is running, delete {lock} and start again."
            )
        time.sleep(0.5)
    try:
        if path.exists():
            return False
        _build(path, work, fill)
        return True
    finally:
        _remove(lock)
        with contextlib.suppress(OSError):
            work.rmdir()
