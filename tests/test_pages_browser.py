"""Every page of the app in headless Chromium, on three workspaces, and the main
paths clicked through.

The workspaces: an empty database; the Enron sample (built by
rapport.bootstrap from the bundled zip, as on first start); the sales
pipeline (rapport.workspaces.pipeline, 300 deals), opened through the
sidebar's workspace link (?ws=pipeline). Every page, with and without a
record where it takes one, must draw its title with no exception, no error
message and no browser console error. Then, clicked as a user would: open an
account from the Accounts list, change the window in the sidebar, open an
opportunity from its list and see its similar won deals, and upload a file
on the Upload page. Screenshots of each go to artifacts/screens/.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

import kpi
from rapport import bootstrap, store
from rapport.workspaces import pipeline
from tests import browser
from tests.conftest import DATA

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENS = browser.ARTIFACTS / "screens"
TIMEOUT = 180_000
SKELETONS = ("[data-testid='stSkeleton'], [data-testid='stSkeletonElement'], "
             "[data-testid='stAppSkeleton']")
WORKSPACES = ("empty", "enron", "pipeline")


def _records(path: Path) -> dict:
    """An id of each kind of record the database holds (None where it has none)."""
    con = store.connect(path, read_only=True)
    try:
        accounts = kpi.list_accounts(con, days=None)
        contacts = kpi.list_contacts(con, days=None)

        def first(sql):
            rows = con.execute(sql).fetchall()
            return rows[0][0] if rows else None
        return {
            "account": accounts.iloc[0]["account_id"] if len(accounts) else None,
            "contact": contacts.iloc[0]["contact_id"] if len(contacts) else None,
            "lead": first("SELECT lead_id FROM leads ORDER BY lead_id"),
            "opportunity": first("SELECT opportunity_id FROM opportunities "
                                 "ORDER BY state <> 'open', opportunity_id"),
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    enron = folder / "rapport.duckdb"
    bootstrap.ensure_sample_database(enron)
    # The sidebar's pipeline workspace is pipeline.duckdb beside the default file.
    pipeline.build(folder / "pipeline.duckdb", limit=300)
    empty = tmp_path_factory.mktemp("empty") / "rapport.duckdb"
    store.connect(empty).close()
    records = {"empty": _records(empty), "enron": _records(enron),
               "pipeline": _records(folder / "pipeline.duckdb")}
    SCREENS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        full = stack.enter_context(browser.running_app(enron, folder / "app.log"))
        bare = stack.enter_context(browser.running_app(empty, folder / "empty-app.log"))
        chromium = stack.enter_context(browser.chromium())
        yield {"urls": {"empty": bare, "enron": full, "pipeline": full},
               "records": records, "browser": chromium, "folder": folder}


@pytest.fixture
def tab(apps):
    context = apps["browser"].new_context(viewport={"width": 1400, "height": 2000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    console = browser.Console(page)
    yield context, page, console
    context.close()


# (name, page path, record kind the page takes or None)
PAGES = [
    ("accounts", "", None), ("overview", "overview", None),
    ("account", "account", None), ("account-record", "account", "account"),
    ("contact", "contact", None), ("contact-record", "contact", "contact"),
    ("leads", "lead", None), ("lead-record", "lead", "lead"),
    ("opportunities", "opportunity", None),
    ("opportunity-record", "opportunity", "opportunity"),
    ("data", "data", None), ("upload", "upload", None), ("settings", "settings", None),
]


def _link(apps, workspace: str, path: str, **params) -> str:
    if workspace == "pipeline":
        params["ws"] = "pipeline"
    query = f"?{urlencode(params)}" if params else ""
    return f"{apps['urls'][workspace]}/{path}{query}"


def _drawn(page) -> None:
    """Wait for the page's title (or an exception), then for the app to be idle."""
    page.locator("h1, [data-testid='stException']").first.wait_for(timeout=TIMEOUT)
    browser.wait_until_idle(page, timeout=TIMEOUT)
    # The first visit of a page's own link runs it again through app.py.
    page.locator("h1, [data-testid='stException']").first.wait_for(timeout=TIMEOUT)
    browser.wait_until_idle(page, timeout=TIMEOUT)
    # Elements' code loads lazily; until it has, a grey placeholder stands in.
    page.wait_for_function(f"() => !document.querySelector(\"{SKELETONS}\")",
                           timeout=TIMEOUT)


def _no_errors(page, console) -> None:
    exceptions = page.locator("[data-testid='stException']").all_inner_texts()
    errors = page.locator("[data-testid='stAlertContentError']").all_inner_texts()
    assert exceptions == [], exceptions
    assert errors == [], errors
    assert console.errors == [], console.errors


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("workspace", WORKSPACES)
@pytest.mark.parametrize("name, path, kind", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_loads_without_an_error(apps, tab, workspace, name, path, kind):
    _, page, console = tab
    params = {}
    if kind:
        record = apps["records"][workspace][kind]
        if record is None:
            pytest.skip(f"the {workspace} workspace has no {kind}")
        params = {"id": record, "days": "all"}
    page.goto(_link(apps, workspace, path, **params))
    _drawn(page)
    _shot(page, f"{workspace}-{name}")
    _no_errors(page, console)
    titles = page.locator("h1").all_inner_texts()
    assert titles, "the page has no title"
    text = page.inner_text("[data-testid='stMain']")
    if workspace == "empty" and name == "accounts":
        assert "There are no customer accounts yet" in text
    if workspace != "empty" and name in ("accounts", "data"):
        assert "activities from" in text


def _click_first_link(context, page, grid):
    """Click the first row's link cell of a dataframe; return the page it opens.

    The grid is drawn on a canvas: the pointer hovers the cell, then clicks,
    and the link opens in a new tab as it does for a user."""
    grid.wait_for()
    browser.wait_until_idle(page)
    box = grid.bounding_box()
    x, y = box["x"] + 25, box["y"] + 35 + 17
    page.mouse.move(x, y)
    time.sleep(0.5)
    with context.expect_page(timeout=TIMEOUT) as opened:
        page.mouse.click(x, y)
    new = opened.value
    new.set_default_timeout(TIMEOUT)
    return new


def test_an_account_opens_from_the_accounts_list(apps, tab):
    context, page, console = tab
    page.goto(_link(apps, "enron", ""))
    _drawn(page)
    first = page.locator("[data-testid^='glide-cell-1-0']").first
    first.wait_for(state="attached")
    domain = first.text_content().strip()
    account = _click_first_link(context, page, page.locator("[data-testid='stDataFrame']")
                                .first)
    new_console = browser.Console(account)
    _drawn(account)
    assert account.locator("h1").first.inner_text().strip() == domain
    assert "/account?id=" in account.url
    account.locator("[data-testid='stTable']").first.wait_for()
    _shot(account, "click-account-from-list")
    _no_errors(account, new_console)
    _no_errors(page, console)


def test_changing_the_window_changes_the_figures_and_the_link(apps, tab):
    _, page, console = tab
    record = apps["records"]["enron"]["account"]
    page.goto(_link(apps, "enron", "account", id=record))
    _drawn(page)
    status = page.locator("[data-testid='stCaptionContainer']", has_text="Figures as of")
    assert "over the last 60 days" in status.first.inner_text()
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']",
                 has_text="Window").click()
    page.get_by_role("option", name="Last 30 days").click()
    page.wait_for_function("() => location.search.includes('days=30')", timeout=TIMEOUT)
    browser.wait_until_idle(page, timeout=TIMEOUT)
    status.filter(has_text="over the last 30 days").first.wait_for()
    assert "days=30" in page.url and f"id={quote(record, safe='')}" in page.url
    _shot(page, "click-window-30-days")
    _no_errors(page, console)


def test_similar_deals_open_from_the_opportunity_list(apps, tab):
    context, page, console = tab
    page.goto(_link(apps, "pipeline", "opportunity"))
    _drawn(page)
    assert page.locator("h1").first.inner_text().strip() == "Opportunities"
    deal = _click_first_link(context, page, page.locator("[data-testid='stDataFrame']").first)
    new_console = browser.Console(deal)
    _drawn(deal)
    assert "/opportunity?id=" in deal.url and "ws=pipeline" in deal.url
    deal.get_by_role("heading", name="Similar won deals").wait_for()
    section = deal.locator("[data-testid='stDataFrame'], [data-testid='stAlertContentInfo']")
    section.first.wait_for()
    _shot(deal, "click-opportunity-similar-deals")
    _no_errors(deal, new_console)
    _no_errors(page, console)


def test_uploading_a_mailbox_fills_an_empty_database(apps, tab):
    _, page, console = tab
    page.goto(_link(apps, "empty", "upload"))
    _drawn(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']") \
        .set_input_files(str(DATA / "mail" / "ourco.mbox"))
    # One message has a placeholder date: the import waits for "skip invalid rows".
    page.get_by_text("Nothing will be imported while rows have problems").wait_for()
    page.locator("[data-testid='stCheckbox']", has_text="Skip invalid rows").click()
    page.wait_for_function(
        "() => { const b = Array.from(document.querySelectorAll('button'))"
        ".find(b => b.innerText.trim() === 'Import'); return b && !b.disabled; }",
        timeout=TIMEOUT)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported 1 file(s).").wait_for()
    browser.wait_until_idle(page, timeout=TIMEOUT)
    text = page.inner_text("[data-testid='stMain']")
    assert "ourco.mbox: mbox, 6 rows read, 4 activities added, 1 skipped" in text
    _shot(page, "click-upload-mailbox")
    _no_errors(page, console)
    # The accounts it brought are listed.
    page.goto(_link(apps, "empty", "", days="all"))
    _drawn(page)
    page.locator("[data-testid='stDataFrame']").first.wait_for()
    page.locator("[data-testid='glide-cell-1-0']").wait_for(state="attached")
    cells = page.locator("[data-testid^='glide-cell-1-']").all_text_contents()
    assert "pge.com" in [c.strip() for c in cells]
    _shot(page, "click-accounts-after-upload")
    _no_errors(page, console)
