"""Many users at once: eight browsers read account pages while a ninth imports.

The app runs as the README starts it (scripts/start) on a database holding
ourco.mbox and the small Dataverse export. Eight Chromium contexts open
account pages in a loop (Contoso's, whose figures the import changes, and
pge.com's, which only sees the store grow). Meanwhile a ninth context uploads
a mailbox of 3,000 e-mails from Contoso on the Upload page and imports it:
DuckDB lets one process write a file, so the import runs inside the app, as
a user's would. Every page drawn must show no exception, no error and no
browser console error, and either the figures from before the import or the
figures from after it, never some of each: the status line's activity and
import counts and the interactions table are read together from each page.
The "after" figures are checked against kpi.figures on a copy of the store
imported outside the app.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest

import kpi
from ingest import run_import
from rapport import store
from tests import browser
from tests.conftest import DATA
from tests.corpus.make import mbox, message

pytestmark = [pytest.mark.browser, pytest.mark.slow]

READERS = int(__import__('os').environ.get('RAPPORT_TEST_READERS', 8))
MESSAGES = 3000
AS_OF = "2025-06-30"
CONTOSO = "bbbbbbbb-0000-0000-0000-000000000001"
ACCOUNTS = (CONTOSO, "domain:pge.com")
NAMES = {CONTOSO: "Contoso Ltd", "domain:pge.com": "pge.com"}
TIMEOUT = 120_000


def _mailbox(path: Path) -> Path:
    """MESSAGES e-mails from 40 people at Contoso to Sam, in May 2024."""
    path.write_bytes(mbox(*(
        message(9000 + i, sender=f"buyer{i % 40}@contoso.com", to="sam@ourco.com",
                date=f"Wed, {1 + i % 28} May 2024 {8 + i % 10:02d}:{i % 60:02d}:00 +0000",
                subject=f"Order {i}")
        for i in range(MESSAGES))))
    return path


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concurrency")
    db = folder / "rapport.duckdb"
    con = store.connect(db)
    run_import(con, [DATA / "mail" / "ourco.mbox", DATA / "dataverse_small"],
               skip_invalid=True)
    con.close()
    upload = _mailbox(folder / "contoso-orders.mbox")
    # The figures after the import, worked out outside the app.
    reference = folder / "reference.duckdb"
    shutil.copyfile(db, reference)
    con = store.connect(reference)
    try:
        run_import(con, [upload])
        after = {account: kpi.figures(con, "account", account, days=None,
                                      as_of=_as_of())["interactions"]
                 for account in ACCOUNTS}
    finally:
        con.close()
    return {"folder": folder, "db": db, "upload": upload, "after": after}


def _as_of():
    import datetime as dt

    return dt.datetime.combine(dt.date.fromisoformat(AS_OF), dt.time(23, 59, 59))


async def _idle(page) -> None:
    await page.wait_for_function(
        "() => { const app = document.querySelector(\"[data-testid='stApp']\");"
        " return app && app.dataset.testConnectionState === 'CONNECTED'"
        " && app.dataset.testScriptState === 'notRunning'; }", timeout=TIMEOUT)


async def _drawn(page) -> None:
    """Wait until the page has drawn its figures, an exception or an error.

    The first visit of the process to a page's own link runs again through
    app.py (views.common.view), so one idle moment is not the end."""
    done = page.locator("[data-testid='stTable'], [data-testid='stException'], "
                        "[data-testid='stAlertContentError']")
    try:
        await done.first.wait_for(timeout=TIMEOUT)
    except Exception:
        browser.ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(browser.ARTIFACTS / "concurrency_stuck.png"),
                              full_page=True)
        raise AssertionError("the page drew neither its figures nor an error: " +
                             (await page.inner_text("body"))[:500]) from None
    await _idle(page)


async def _problems(page, console) -> list[str]:
    found = list(console.errors)
    console.errors.clear()
    for selector in ("[data-testid='stException']", "[data-testid='stAlertContentError']"):
        for text in await page.locator(selector).all_inner_texts():
            found.append(f"{selector}: {text[:300]}")
    return found


async def _figures(page) -> tuple:
    """(activities, imports, interactions table) as the page shows them."""
    status = page.locator("[data-testid='stCaptionContainer']", has_text="Data:")
    try:
        # Element code loads lazily: under load a caption may come seconds later.
        await status.first.wait_for(timeout=TIMEOUT)
    except Exception:
        browser.ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(browser.ARTIFACTS / "concurrency_odd.png"),
                              full_page=True)
        raise AssertionError("the page has no status line: " +
                             (await page.inner_text("body"))[:2000]) from None
    caption = await status.first.inner_text()
    match = re.search(r"([\d,]+) completed activities from .* \((\d+) imports?\)", caption)
    assert match, caption
    await page.locator("[data-testid='stTable']").first.wait_for(timeout=TIMEOUT)
    rows = page.locator("[data-testid='stTable']").first.locator("tbody tr")
    table = []
    for i in range(await rows.count()):
        cells = await rows.nth(i).locator("th, td").all_inner_texts()
        table.append(tuple(c.strip() for c in cells))
    return int(match.group(1).replace(",", "")), int(match.group(2)), tuple(table)


async def _reader(browser_, url: str, n: int, state: dict) -> None:
    context = await browser_.new_context(viewport={"width": 1300, "height": 1800})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT)
    console = browser.Console(page)
    failed = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    state.setdefault("failed", failed)
    account = ACCOUNTS[n % len(ACCOUNTS)]
    link = f"{url}/account?id={quote(account)}&as_of={AS_OF}&days=all"
    rounds_after = 0
    try:
        while rounds_after < 2:
            done_before = state["imported"]
            started = time.monotonic()
            await page.goto(link)
            await _drawn(page)
            problems = await _problems(page, console)
            titles = [t.strip() for t in await page.locator("h1").all_inner_texts()]
            if titles != [NAMES[account]]:
                browser.ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(browser.ARTIFACTS / f"concurrency_titles_{n}.png"),
                                      full_page=True)
                problems.append(f"reader {n} on {account} sees the titles {titles}")
                state["seen"].append((n, account, done_before, None, problems))
                continue
            seen = await _figures(page)
            state["seen"].append((n, account, done_before, seen, problems))
            state["spans"].append((started, time.monotonic()))
            state["renders"] += 1
            if done_before:
                rounds_after += 1
            state["ready"].add(n)
    finally:
        await context.close()


async def _uploader(browser_, url: str, path: Path, state: dict) -> None:
    while len(state["ready"]) < READERS:
        await asyncio.sleep(0.2)
    context = await browser_.new_context(viewport={"width": 1300, "height": 1800})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT)
    console = browser.Console(page)
    try:
        await page.goto(f"{url}/upload")
        await _idle(page)
        await page.locator("[data-testid='stFileUploader'] input[type='file']") \
            .set_input_files(str(path))
        button = page.get_by_role("button", name="Import", exact=True)
        await button.wait_for(timeout=TIMEOUT)
        await page.wait_for_function(
            "() => { const b = Array.from(document.querySelectorAll('button'))"
            ".find(b => b.innerText.trim() === 'Import'); return b && !b.disabled; }",
            timeout=TIMEOUT)
        state["import_started"] = time.monotonic()
        await button.click()
        outcome = page.locator("[data-testid='stAlertContainer'], [data-testid='stException']")
        try:
            await page.get_by_text("Imported 1 file(s).").wait_for(timeout=TIMEOUT)
        except Exception:
            browser.ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(browser.ARTIFACTS / "concurrency_upload.png"),
                                  full_page=True)
            raise AssertionError("the import did not finish: " +
                                 " | ".join(await outcome.all_inner_texts())[:3000]) from None
        await _idle(page)
        state["import_finished"] = time.monotonic()
        state["upload_problems"] = await _problems(page, console)
        browser.ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(browser.ARTIFACTS / "concurrency_upload.png"),
                              full_page=True)
    finally:
        state["imported"] = True
        await context.close()


async def _scenario(url: str, upload: Path) -> dict:
    from playwright.async_api import async_playwright

    state = {"imported": False, "ready": set(), "seen": [], "renders": 0, "spans": []}
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=shutil.which("chromium"),
                                           args=browser.CHROMIUM_ARGS)
        try:
            await asyncio.gather(*(_reader(chromium, url, n, state) for n in range(READERS)),
                                 _uploader(chromium, url, upload, state))
        finally:
            await chromium.close()
    return state


def _table(counts: dict) -> tuple:
    return tuple((label, str(counts[key]["by_us"]), str(counts[key]["by_them"]))
                 for key, label in (("emails", "E-mails"), ("meetings", "Meetings"),
                                    ("calls", "Calls")))


def test_eight_readers_see_the_figures_before_or_after_an_import_never_a_mix(setting):
    if shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium")
    with browser.running_app(setting["db"], setting["folder"] / "app.log") as url:
        state = asyncio.run(_scenario(url, setting["upload"]))
    assert state.get("upload_problems") == [], state.get("upload_problems")
    problems = [(n, account, p) for n, account, _, _, p in state["seen"] if p]
    assert problems == [], problems[:5]
    for account in ACCOUNTS:
        shown = [(done, seen) for _, a, done, seen, _ in state["seen"] if a == account]
        first, last = shown[0][1], shown[-1][1]
        # Before: as the store was; after: MESSAGES more activities, one more import.
        assert (last[0] - first[0], last[1] - first[1]) == (MESSAGES, 1)
        assert last[2] == _table(setting["after"][account])
        if account == CONTOSO:
            assert first[2] != last[2]
        assert {seen for _, seen in shown} <= {first, last}, \
            f"{account}: a page showed a mix of the two states"
    # The readers kept reading while the import ran: pages were being drawn
    # while it wrote.
    assert len(state["seen"]) >= 3 * READERS
    during = [span for span in state["spans"]
              if span[0] < state["import_finished"] and span[1] > state["import_started"]]
    assert len(during) >= READERS // 2, (len(during), state["import_started"],
                                         state["import_finished"])
    print(f"{state['renders']} pages drawn; import took "
          f"{state['import_finished'] - state['import_started']:.1f} s")
