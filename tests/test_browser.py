"""The real app in headless Chromium, on a database built from the Enron sample.

The app is started with the README's command (scripts/start) on a database
path that does not exist yet, so its first start builds it from the bundled
Enron zip. The Account page of the external account with the most e-mails
must then draw its three charts and show the numbers that
``python -m rapport show account ... --json`` prints for the same as-of time
and window. Screenshots go to artifacts/.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from urllib.parse import quote

import pytest

import kpi
from rapport import store
from tests import browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "rapport.duckdb"
    with browser.running_app(db, folder / "app.log") as url, browser.chromium() as chromium:
        yield {"url": url, "db": db, "browser": chromium}


@pytest.fixture
def page(app):
    context = app["browser"].new_context(viewport={"width": 1400, "height": 2600})
    tab = context.new_page()
    tab.set_default_timeout(90_000)
    console = browser.Console(tab)
    yield tab, console
    context.close()


def _open(tab, url: str, heading: str | None = None) -> None:
    tab.goto(url)
    if heading:
        tab.get_by_role("heading", name=heading, level=1).wait_for()
    browser.wait_until_idle(tab)
    # Every page states its data and as-of time; the page is drawn once it does.
    tab.locator("[data-testid='stCaptionContainer']",
                has_text=re.compile(r"Figures as of \S+ \S+ UTC")).wait_for(state="attached")


def _no_errors(tab, console) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0
    assert console.errors == []


def _top_account(db):
    """The external account with the most e-mails in all the data."""
    con = store.connect(db, read_only=True)
    try:
        accounts = kpi.list_accounts(con, days=None)
        as_of, note = kpi.default_as_of(con)
    finally:
        con.close()
    top = accounts.sort_values(["emails", "account_id"], ascending=[False, True]).iloc[0]
    return top, as_of, note


def _cli_figures(db, account_id: str, as_of: str, days: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "rapport", "show", "account", account_id, "--json",
         "--db", str(db), "--as-of", as_of, "--days", days],
        cwd=browser.ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def _week_bars(daily: list[dict]) -> int:
    """Bars of the per-week activity chart: (Sunday-based week, series) with activity."""
    from views.charts import DAILY_SERIES

    bars = set()
    for day in daily:
        date = dt.date.fromisoformat(day["date"])
        week = date - dt.timedelta(days=(date.weekday() + 1) % 7)
        bars.update((week, key) for key, _, _ in DAILY_SERIES if day[key])
    return len(bars)


def test_first_start_builds_the_sample_and_lists_its_accounts(app, page):
    tab, console = page
    assert not app["db"].exists()
    tab.goto(app["url"])
    # The first page run builds the database from the zip behind a progress bar.
    tab.locator("[data-testid='stProgress']").wait_for()
    assert "First start" in tab.text_content("[data-testid='stMain']")
    browser.screenshot(tab, "first_start")
    _open(tab, app["url"], "Accounts")
    assert app["db"].exists()
    text = tab.text_content("[data-testid='stMain']")
    assert "1 import" in text and "activities from" in text
    assert "The data end on 2002-02-13, so figures are shown as of that day." in text
    table = tab.locator("[data-testid='stDataFrame']")
    table.wait_for()
    con = store.connect(app["db"], read_only=True)
    try:
        first = kpi.list_accounts(con).iloc[0]
    finally:
        con.close()
    # The first row is the account with the most interactions in the window.
    # (The grid is drawn on a canvas; its cells are also in a hidden table.)
    row = table.locator("[data-testid^='glide-cell-'][data-testid$='-0']")
    row.first.wait_for(state="attached")
    cells = [c.strip() for c in row.all_text_contents()]
    assert cells[0].startswith(f"account?id={quote(first.account_id)}&as_of=2002-02-13&days=60")
    assert cells[1:3] == [first["domain"], str(first["contacts"])]
    assert cells[3] == str(first["interactions"])
    browser.screenshot(tab, "accounts")
    _no_errors(tab, console)


def test_account_page_of_the_top_enron_account_matches_the_command_line(app, page):
    tab, console = page
    top, as_of, note = _top_account(app["db"])
    assert note == "The data end on 2002-02-13, so figures are shown as of that day."
    _open(tab, f"{app['url']}/account?id={quote(top.account_id)}&days=all", top["name"])
    tab.wait_for_function("document.querySelectorAll('.vega-embed svg').length >= 3")
    header = tab.inner_text("[data-testid='stMain'] [data-testid='stCaptionContainer'] >> nth=0")
    shown_as_of = header.split("figures as of ")[1].split(" ")[0]
    assert shown_as_of == as_of.isoformat() + "Z"
    fig = _cli_figures(app["db"], top.account_id, shown_as_of, "all")
    assert fig["entity"]["id"] == top.account_id

    # Interactions by type and side: the page's table against the command line.
    tab.locator("[data-testid='stTable']").wait_for()
    rows = tab.locator("[data-testid='stTable'] tbody tr")
    shown = {rows.nth(i).locator("th, td").nth(0).inner_text().strip():
             [int(rows.nth(i).locator("td").nth(j).inner_text()) for j in (-2, -1)]
             for i in range(rows.count())}
    counts = fig["interactions"]
    assert shown == {"E-mails": [counts["emails"]["by_us"], counts["emails"]["by_them"]],
                     "Meetings": [counts["meetings"]["by_us"], counts["meetings"]["by_them"]],
                     "Calls": [counts["calls"]["by_us"], counts["calls"]["by_them"]]}
    assert counts["emails"]["by_us"] + counts["emails"]["by_them"] == top["emails"]

    # The e-mail ratio both ways.
    metrics = tab.locator("[data-testid='stMetric']")
    ratios = {metrics.nth(i).locator("[data-testid='stMetricLabel']").inner_text().strip():
              metrics.nth(i).locator("[data-testid='stMetricValue']").inner_text().strip()
              for i in range(metrics.count())}
    ratio = fig["email_ratio"]

    def hours(value):
        return "n/a" if value is None else f"{value:g} h"

    spent, response, health = fig["time_spent_hours"], fig["response"], fig["health"]
    expected = {
        "E-mails by them per e-mail of ours":
            "n/a" if ratio["by_them"] is None else f"{ratio['by_them']:.2f}",
        "E-mails by us per e-mail of theirs":
            "n/a" if ratio["by_us"] is None else f"{ratio['by_us']:.2f}",
        "Time invested by us": hours(spent["by_us"]),
        "Time invested by them": hours(spent["by_them"]),
        "Our first response": hours(response["avg_first_response_hours_by_us"]),
        "Their first response": hours(response["avg_first_response_hours_by_them"]),
    }
    if health["grade"] != "not_enough_data":
        expected["Score (0-100)"] = str(health["score"])
        expected["Grade and trend"] = f"{health['grade']}, {health['trend'].replace('_', ' ')}"
    # A metric's delta sits inside its value box on some versions: keep the first line.
    assert {k: v.splitlines()[0] for k, v in ratios.items()} == expected

    # The three charts, each drawing one mark per non-zero figure.
    by_side = [c[side] for c in counts.values() for side in ("by_us", "by_them")]
    emails = [counts["emails"]["by_us"], counts["emails"]["by_them"]]
    assert browser.chart_marks(tab)[:3] == [
        sum(1 for n in by_side if n), sum(1 for n in emails if n), _week_bars(fig["daily"])]
    assert all(browser.chart_marks(tab))

    text = tab.text_content("[data-testid='stMain']")
    assert all(sentence in text for sentence in fig["summary"])
    browser.screenshot(tab, "account")
    _no_errors(tab, console)


def test_most_contacted_person_opens_the_contact_page(app, page):
    tab, console = page
    top, _, _ = _top_account(app["db"])
    _open(tab, f"{app['url']}/account?id={quote(top.account_id)}&days=all", top["name"])
    link = tab.locator("[data-testid='stPageLink'] a").first
    person = link.inner_text().split(":")[0]
    link.click()
    tab.get_by_role("heading", name=person, level=1).wait_for()
    browser.wait_until_idle(tab)
    assert "/contact?" in tab.url and "days=all" in tab.url
    tab.wait_for_function("document.querySelectorAll('.vega-embed svg').length >= 3")
    assert all(browser.chart_marks(tab))
    browser.screenshot(tab, "contact")
    _no_errors(tab, console)


def test_data_page_lists_the_sample_import(app, page):
    tab, console = page
    _open(tab, f"{app['url']}/data", "Data")
    counts = tab.locator("[data-testid='stTable']")
    counts.wait_for()
    assert "Activities (e-mails, meetings, calls, tasks)" in counts.text_content()
    file_cell = tab.locator("[data-testid='stDataFrame']").first.locator(
        "[data-testid='glide-cell-1-0']")
    file_cell.wait_for(state="attached")
    assert file_cell.text_content().endswith("enron_with_categories.zip")
    browser.screenshot(tab, "data")
    _no_errors(tab, console)
