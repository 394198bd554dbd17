"""Helpers of the browser tests: run the app as the README says, drive Chromium.

The app is started with ``scripts/start`` (the README's command) on a free
loopback port; the browser is Debian's ``chromium`` driven by Playwright, with
everything that would reach beyond this machine turned off.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


@contextlib.contextmanager
def running_app(db: Path, log: Path, *, timeout: float = 180) -> Iterator[str]:
    """Start ``scripts/start`` on *db*; yield the app's base URL; stop it."""
    port = free_port()
    env = {**os.environ, "RAPPORT_DB": str(db)}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "start"), "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"the app stopped (exit {proc.returncode}):\n"
                                   f"{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app did not answer at {url} within {timeout} s")
            time.sleep(0.3)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the app's process group (it was started in a session of its own)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("the browser tests need Debian's chromium: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Opened at a page's own link (/account?id=...), Streamlit's frontend looks for
# its server under that path first (/account/_stcore/health), gets a 404 and
# then finds it at the root. Those two probes are how it works, not errors.
_BASE_PATH_PROBE = re.compile(r"/[^/?]+/_stcore/(health|host-config)$")


class Console:
    """Console errors and uncaught page errors of one page."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _message(self, message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if message.text.startswith("Failed to load resource") and \
                _BASE_PATH_PROBE.search(where):
            return
        self.errors.append(f"console: {message.text} ({where})")


def wait_until_idle(page, timeout: float = 90_000) -> None:
    """Wait until the app has connected and finished running the page's script."""
    page.wait_for_function(
        "() => { const app = document.querySelector(\"[data-testid='stApp']\");"
        " return app && app.dataset.testConnectionState === 'CONNECTED'"
        " && app.dataset.testScriptState === 'notRunning'; }",
        timeout=timeout,
    )


# Per chart (vega-embed renders SVG in Streamlit), the number of drawn marks:
# bar and arc shapes with an area on screen.
_MARKS_JS = """
() => Array.from(document.querySelectorAll('.vega-embed')).map(embed =>
  Array.from(embed.querySelectorAll('svg .mark-rect path, svg .mark-arc path'))
    .filter(shape => { const box = shape.getBoundingClientRect();
                       return box.width > 0 && box.height > 0; }).length)
"""


def chart_marks(page) -> list[int]:
    """For each chart on the page, how many bars or arcs it draws."""
    return page.evaluate(_MARKS_JS)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
