"""What every page shares: the database, the sidebar and the status line.

``app.py`` opens :func:`session` once per run around the page; the page then
gets the same :class:`View` from :func:`view`. The view's as-of date and
window live in the page's query parameters, so a link to a record opens the
same figures for anyone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, urlencode

import duckdb
import streamlit as st

import kpi
from rapport import bootstrap, store

# The window choices, as they appear in links (?days=).
WINDOWS = ("30", "60", "90", "180", "365", "all")
_VIEW_KEY = "_rapport_view"
LOCK_RETRIES = 5
LOCK_WAIT_SECONDS = 2.0
# Close the file after this long without a page run, so imports can write it.
IDLE_SECONDS = 10.0
# How long a write in the app waits for the pages drawing from the file.
WRITE_WAIT_SECONDS = 60.0


@dataclass
class View:
    """The database a page reads and the as-of time and window it shows."""

    con: duckdb.DuckDBPyConnection
    path: Path
    as_of: dt.datetime
    days: int | None
    note: str | None
    extent: dict

    def params(self, **extra: str) -> dict[str, str]:
        """Query parameters that keep this workspace, as-of date and window in a link."""
        values = {**extra, "as_of": self.as_of.date().isoformat(),
                  "days": "all" if self.days is None else str(self.days)}
        workspace = st.session_state.get("workspace")
        if workspace and workspace != DEFAULT_WORKSPACE:
            values["ws"] = workspace
        return values

    def url(self, page: str, record_id: str) -> str:
        """A relative link to a record page (for table link columns)."""
        return f"{page}?{urlencode(self.params(id=record_id))}"

    @property
    def window_text(self) -> str:
        return "all the data" if self.days is None else f"the last {self.days} days"

    @property
    def as_of_text(self) -> str:
        return f"{self.as_of:%Y-%m-%d %H:%M:%S} UTC"


def window_label(choice: str) -> str:
    return "All the data" if choice == "all" else f"Last {choice} days"


# --- the database -------------------------------------------------------

class OpenFile:
    """The process-wide read-only connection to one database file.

    DuckDB lets one process write a file only while no other process has it
    open, even read-only. So that ``python -m rapport import`` can run beside
    the app, the connection is closed once no page has used it for
    IDLE_SECONDS, and opened again by the next page.
    """

    def __init__(self, path: str):
        self.path = path
        self.shared = store.SharedConnection(path, read_only=True)
        self.closed = False
        self._users = 0
        self._last_used = time.monotonic()
        self._lock = threading.Condition()
        self._switching = False  # a write is swapping the connection for a writable one
        self._write_lock = threading.Lock()
        self._retiring = False  # closing after a write, once its readers are done
        threading.Thread(target=self._close_when_idle, daemon=True,
                         name=f"rapport-idle-{Path(path).name}").start()

    def acquire(self) -> duckdb.DuckDBPyConnection | None:
        """This thread's cursor, or None when the file was just closed."""
        with self._lock:
            while self._switching:
                self._lock.wait(0.1)
            if self.closed or self._retiring:
                return None
            self._users += 1
            shared = self.shared
        return shared.cursor()

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            self._last_used = time.monotonic()
            self._lock.notify_all()

    @contextlib.contextmanager
    def writer(self, own: int = 1) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that may write, while other sessions go on reading.

        DuckDB lets a process open a file read-only or writable, not both. So
        the read-only connection waits for the pages drawing from it to finish
        (*own* of its users are the caller's page, which reads no more while it
        writes), new pages wait a moment, and it is replaced by a writable one.
        Pages then read through cursors of that connection, which show the
        store as last committed: a page drawn during an import shows the
        figures from before it or after it, never some of each. One write runs
        at a time; after it, the file is closed once its readers are done.
        """
        with self._write_lock:
            with self._lock:
                self._users -= own
                self._switching = True
                try:
                    deadline = time.monotonic() + WRITE_WAIT_SECONDS
                    while self._users > 0 and not self.closed:
                        if time.monotonic() > deadline:
                            raise TimeoutError(
                                f"{self.path} is busy: pages have been reading it for over "
                                f"{WRITE_WAIT_SECONDS:.0f} s; try again")
                        self._lock.wait(0.1)
                    if self.closed:
                        raise TimeoutError(f"{self.path} was just closed; try again")
                    if self.shared.read_only:
                        self.shared.close()
                        self.shared = store.SharedConnection(self.path, read_only=False)
                finally:
                    self._users += own
                    self._switching = False
                    self._lock.notify_all()
                shared = self.shared
            try:
                yield shared.cursor()
            finally:
                self._retire(own)

    def _retire(self, own: int) -> None:
        """Close the file once the pages reading it are done, as after any write:
        the next page opens it read-only again, and the command line can write."""
        with self._lock:
            self._retiring = True
            deadline = time.monotonic() + WRITE_WAIT_SECONDS
            while self._users > own and time.monotonic() < deadline:
                self._lock.wait(0.1)
            self.closed = True
            self.shared.close()
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self.shared.close()

    def _close_when_idle(self) -> None:
        while not self.closed:
            time.sleep(1.0)
            with self._lock:
                idle = time.monotonic() - self._last_used
                if self._users == 0 and idle > IDLE_SECONDS and not self.closed \
                        and not self._switching:
                    self.closed = True
                    self.shared.close()


@st.cache_resource(max_entries=4, show_spinner=False, validate=lambda f: not f.closed,
                   on_release=lambda f: f.close())
def _open_file(path: str, identity: tuple) -> OpenFile:
    # identity (inode, device) makes a rebuilt file a new entry.
    return OpenFile(path)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for a write made in the app (an upload, an undo, a setting),
    for the page whose session holds *path* open; see :meth:`OpenFile.writer`."""
    opened = _open_file(str(path), _identity(path))
    with opened.writer() as con:
        yield con


def _identity(path: Path) -> tuple:
    info = path.stat()
    return (info.st_ino, info.st_dev)


def ensure_database(path: Path) -> None:
    """Build a bundled workspace the first time it is opened, with a progress bar."""
    if path.exists():
        return
    pipeline = st.session_state.get("workspace") == "pipeline"
    source = ("the public CRM pipeline with generated activity (a few minutes)" if pipeline
              else "the bundled Enron sample")
    bar = st.progress(0.0, text=f"First start: building {path.name} from {source}")

    def progress(fraction: float, text: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"First start, {path.name}: {text}")

    try:
        if pipeline:
            bootstrap.ensure_pipeline_database(path, progress)
        else:
            bootstrap.ensure_sample_database(path, progress)
    except Exception as exc:  # shown to the user instead of a traceback
        bar.empty()
        st.error(f"Rapport could not build its database {path}: {exc}")
        st.stop()
    bar.empty()


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


def connect(path: Path) -> tuple[OpenFile, duckdb.DuckDBPyConnection]:
    """The open file and this thread's cursor on it; release the file when done.

    A file another program is writing (an import from the command line) is
    locked; the app says so and tries again for a while before giving up.
    """
    notice = st.empty()
    attempt = 0
    while attempt < LOCK_RETRIES:
        try:
            opened = _open_file(str(path), _identity(path))
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            attempt += 1
            notice.warning(
                f"{path} is locked by another program writing to it, probably an import "
                f"from the command line. Trying again ({attempt} of {LOCK_RETRIES})..."
            )
            time.sleep(LOCK_WAIT_SECONDS)
            continue
        con = opened.acquire()
        if con is not None:  # else it closed (idle, or after a write): open it again
            notice.empty()
            return opened, con
        time.sleep(0.05)
    notice.error(
        f"{path} is still locked by another program. Wait for the import to finish, "
        "then try again."
    )
    st.button("Try again")
    st.stop()


# The workspaces the sidebar offers: the Enron mail sample (the default file),
# the generated sales pipeline beside it, or any database file of the user's.
DEFAULT_WORKSPACE = "enron"
WORKSPACES = {"enron": "Enron mail (sample)", "pipeline": "Sales pipeline (generated)",
              "file": "My own database file"}


def workspace_path(workspace: str, own: str | None = None) -> Path | None:
    """The database file of a workspace; None for an own file not given yet."""
    default = store.db_path()
    if workspace == "pipeline":
        return default.with_name("pipeline.duckdb")
    if workspace == "file":
        return Path(own).expanduser() if own else None
    return default


def database_path() -> Path | None:
    """The file of the workspace chosen in the sidebar (or the link's ?ws=)."""
    link = st.query_params.get("ws")
    if link in WORKSPACES and link != st.session_state.get("_ws_link"):
        st.session_state["workspace"] = link
        st.session_state["_ws_link"] = link
    st.session_state.setdefault("workspace", DEFAULT_WORKSPACE)
    st.sidebar.radio("Workspace", list(WORKSPACES), format_func=WORKSPACES.get,
                     key="workspace", on_change=_write_workspace)
    workspace = st.session_state["workspace"]
    own = None
    if workspace == "file":
        own = st.sidebar.text_input("Database file", key="own_database",
                                    placeholder="/path/to/rapport.duckdb")
    return workspace_path(workspace, own)


def _is_database(path: Path) -> bool:
    """True for a DuckDB file that holds Rapport's tables."""
    if not path.is_file():
        return False
    try:
        con = duckdb.connect(str(path), read_only=True, config=store.duckdb_config())
    except duckdb.Error:
        return False
    try:
        found = {name for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables()").fetchall()}
    except duckdb.Error:
        return False
    finally:
        con.close()
    return {"activities", "people", "imports"} <= found


def _write_workspace() -> None:
    workspace = st.session_state["workspace"]
    # Another workspace holds other dates: open it on its own default as-of date.
    for key in ("as_of_day", "_as_of_day_link"):
        st.session_state.pop(key, None)
    st.query_params.pop("as_of", None)
    if workspace == DEFAULT_WORKSPACE:
        st.query_params.pop("ws", None)
    else:
        st.query_params["ws"] = workspace
    st.session_state["_ws_link"] = workspace


# --- the sidebar: database, as-of date, window --------------------------

def _database_picker(path: Path) -> None:
    st.sidebar.caption(f"Database file `{path}`")
    if st.session_state.get("workspace") == "pipeline":
        st.sidebar.info("The pipeline's accounts, sellers and deals are public data; its "
                        "e-mails, meetings and calls are generated (see docs/pipeline.md).")


def _query_date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _sync(key: str, found: bool, value, default) -> None:
    """Let a link's query parameter set the widget; keep the widget's value else.

    A parameter equal to the one this session last wrote is not news: only a
    link that asks for something else moves the widget.
    """
    link_key = f"_{key}_link"
    if found and (link_key not in st.session_state or st.session_state[link_key] != value):
        st.session_state[key] = value
    elif key not in st.session_state:
        st.session_state[key] = default
    if found:
        st.session_state[link_key] = value


def _write_days() -> None:
    st.query_params["days"] = st.session_state["window"]
    st.session_state["_window_link"] = st.session_state["window"]


def _write_as_of() -> None:
    day = st.session_state["as_of_day"]
    st.query_params["as_of"] = day.isoformat()
    st.session_state["_as_of_day_link"] = day


def _controls(con: duckdb.DuckDBPyConnection) -> tuple[dt.datetime, int | None, str | None]:
    link_days = st.query_params.get("days")
    if link_days is not None and link_days not in WINDOWS:
        st.sidebar.warning(f"The link's days={link_days!r} is not one of "
                           f"{', '.join(WINDOWS)}; the window below is used instead.")
    _sync("window", link_days in WINDOWS, link_days, "60")
    choice = st.sidebar.selectbox("Window", WINDOWS, format_func=window_label, key="window",
                                  on_change=_write_days)
    days = None if choice == "all" else int(choice)
    default_at, note = kpi.default_as_of(con, window_days=days or 60)
    link_day = _query_date(st.query_params.get("as_of"))
    if link_day is None and st.query_params.get("as_of"):
        st.sidebar.warning(f"The link's as_of={st.query_params['as_of']!r} is not a date "
                           "like 2001-05-31; the date below is used instead.")
    _sync("as_of_day", link_day is not None, link_day, default_at.date())
    day = st.sidebar.date_input("As of", key="as_of_day", on_change=_write_as_of,
                                min_value=dt.date(1970, 1, 1),
                                max_value=dt.date.today() + dt.timedelta(days=366))
    _write_days()
    _write_as_of()
    if day == default_at.date():
        return default_at, days, note
    return dt.datetime.combine(day, dt.time(23, 59, 59)), days, None


@contextlib.contextmanager
def session() -> Iterator[View]:
    """Open the database (building it on first start), draw the sidebar, and
    keep the file open until the page is drawn."""
    path = database_path()
    if path is None:
        st.info("Type the path of a Rapport database file in the sidebar, or choose "
                "another workspace.")
        st.stop()
    if st.session_state.get("workspace") == "file" and not path.exists():
        st.error(f"{path} does not exist. Type the path of an existing Rapport database "
                 "file, or create one with: python -m rapport --db PATH import FILES")
        st.stop()
    if st.session_state.get("workspace") == "file" and not _is_database(path):
        st.error(f"{path} is not a Rapport database file. Type the path of a .duckdb file "
                 "that Rapport wrote, or create one with: python -m rapport --db PATH "
                 "import FILES")
        st.stop()
    ensure_database(path)
    opened, con = connect(path)
    try:
        _database_picker(path)
        as_of, days, note = _controls(con)
        current = View(con=con, path=path, as_of=as_of, days=days, note=note,
                       extent=kpi.data_extent(con))
        st.session_state[_VIEW_KEY] = current
        yield current
    finally:
        opened.release()


def view() -> View:
    """The view app.py set up for this run.

    A ``pages/`` folder beside app.py makes Streamlit start in its older
    folder navigation, which runs a page without app.py, until the first
    st.navigation call; the first visit of the process to a page's own link
    (``/account?id=...``) would then lack the sidebar and the database. The
    page then turns that mode off and runs again, through app.py. When
    several sessions open such links at once, another one may have turned the
    mode off already: a page run without app.py's view runs again too.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory or _VIEW_KEY not in st.session_state:
        PagesManager.uses_pages_directory = False
        st.rerun()
    return st.session_state[_VIEW_KEY]


# --- what every page says about its data -------------------------------

def status_line(current: View) -> None:
    """The data the page reads, and the as-of date and window of its figures."""
    ext = current.extent
    if ext["activities"]:
        imports = f"{ext['imports']} import" + ("" if ext["imports"] == 1 else "s")
        data = (f"{ext['activities']:,} completed activities from {ext['first_at'][:10]} to "
                f"{ext['last_at'][:10]} ({imports})")
    else:
        data = "no activities yet"
    st.caption(f"Data: `{current.path}`, {data}. Figures as of {current.as_of_text} "
               f"over {current.window_text}.")
    if current.note:
        st.info(current.note)


# Link columns show the record's name, carried in the link's fragment.
LINK_NAME = r"#(.*)$"


def record_urls(page: str, frame, id_column: str, name_column: str, current: View) -> list:
    """One relative link per row of *frame* to its record page, named by the row."""
    return [f"{current.url(page, rid)}#{quote(str(name or rid))}"
            for rid, name in zip(frame[id_column], frame[name_column])]


def record_link(page: str, label: str, record_id: str, current: View) -> None:
    st.page_link(page, label=label, query_params=current.params(id=record_id))


def when(iso_time: str | None) -> str:
    """'2001-05-31 14:02 UTC' from an ISO time with a Z."""
    return f"{iso_time[:10]} {iso_time[11:16]} UTC" if iso_time else ""


# --- one record's figures (the Account and Contact pages) ---------------

TYPE_LABELS = (("emails", "E-mails"), ("meetings", "Meetings"), ("calls", "Calls"))


def interactions_table(fig: dict):
    """The interaction counts as a small table: one row per type, one column per side."""
    import pandas as pd

    counts = fig["interactions"]
    return pd.DataFrame(
        {"Initiated by us": [counts[key]["by_us"] for key, _ in TYPE_LABELS],
         "Initiated by them": [counts[key]["by_them"] for key, _ in TYPE_LABELS]},
        index=pd.Index([label for _, label in TYPE_LABELS], name="Type"),
    )


def ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _people(title: str, people: list[dict], current: View, link: bool) -> None:
    st.markdown(f"**{title}**")
    if not people:
        st.write(f"Nobody in {current.window_text}.")
    for person in people:
        label = (f"{person['name']}: {person['interactions']} interactions "
                 f"({person['emails']} e-mails, {person['meetings']} meetings, "
                 f"{person['calls']} calls)")
        if link and person.get("id"):
            record_link("pages/contact.py", label, person["id"], current)
        else:
            st.write(label)


def _interaction_line(fig: dict) -> None:
    last, upcoming = fig["last_interaction"], fig["next_interaction"]
    side = {"us": "initiated by us", "them": "initiated by them"}
    if last:
        who = side.get(last["initiated_by"], "")
        st.write(f"**Last interaction:** {last['type']} on {when(last['at'])}"
                 f"{', ' + who if who else ''}: {last['subject'] or '(no subject)'}")
    else:
        st.write(f"**Last interaction:** none up to {fig['as_of'][:10]}.")
    if upcoming:
        st.write(f"**Next interaction:** {upcoming['type']} on {when(upcoming['at'])}: "
                 f"{upcoming['subject'] or '(no subject)'}")
    else:
        st.write("**Next interaction:** nothing scheduled.")


def show_figures(fig: dict, current: View) -> None:
    """Everything the Account and Contact pages show of one record's figures."""
    from views import charts

    entity = fig["entity"]
    st.title(entity["name"])
    window = ("all the data" if fig["window_days"] == "all"
              else f"the last {fig['window_days']} days")
    st.caption(f"{entity['type'].title()} `{entity['id']}`: figures as of "
               f"`{fig['as_of']}` over {window}, computed at {fig['computed_at']}.")
    status_line(current)
    st.markdown("\n".join(f"- {sentence}" for sentence in fig["summary"]))
    _interaction_line(fig)

    counts = fig["interactions"]
    if not any(c["by_us"] + c["by_them"] for c in counts.values()):
        st.info(f"There were no completed e-mails, meetings or calls with {entity['name']} "
                f"in {current.window_text} to {current.as_of:%Y-%m-%d}, so there is "
                "nothing to chart. Choose a longer window or another as-of date in the "
                "sidebar.")
        return

    left, right = st.columns(2)
    with left:
        st.subheader("Interactions")
        st.table(interactions_table(fig))
        st.altair_chart(charts.customer_interactions(fig), width="stretch",
                        alt="Interactions by type and by the side that initiated them")
    with right:
        st.subheader("E-mail ratio")
        ratio = fig["email_ratio"]
        a, b = st.columns(2)
        a.metric("E-mails by them per e-mail of ours", ratio_text(ratio["by_them"]),
                 help="n/a when we sent no e-mail in the window")
        b.metric("E-mails by us per e-mail of theirs", ratio_text(ratio["by_us"]),
                 help="n/a when they sent no e-mail in the window")
        if counts["emails"]["by_us"] + counts["emails"]["by_them"]:
            st.altair_chart(charts.email_ratio(fig), width="stretch",
                            alt="E-mails sent by each side")
        else:
            st.write(f"No e-mails in {current.window_text}.")

    st.altair_chart(charts.relationship_activity(fig), width="stretch",
                    alt="Activities per day by type, sent and received")

    left, right = st.columns(2)
    if entity["type"] != "contact":  # a contact's most contacted person is itself
        with left:
            _people("Most contacted", fig["most_contacted"], current, link=True)
    with right if entity["type"] != "contact" else left:
        _people("Most contacted by (our side)", fig["most_contacted_by"], current,
                link=False)


def record_from_link(record_type: str, list_page: str, current: View) -> dict | None:
    """The figures of the record the page's ?id= names, or None after saying why."""
    record_id = st.query_params.get("id")
    if not record_id:
        st.title(record_type.title())
        status_line(current)
        st.info(f"No {record_type} chosen. Open one from the list; each {record_type} "
                "has a link of its own.")
        st.page_link(list_page, label="Go to the list", icon=":material/list:")
        return None
    try:
        return kpi.figures(current.con, record_type, record_id, as_of=current.as_of,
                           days=current.days)
    except LookupError as exc:
        st.title(record_type.title())
        status_line(current)
        st.error(f"{exc.args[0] if exc.args else exc}.")
        st.page_link(list_page, label="Go to the list", icon=":material/list:")
        return None


# --- the Data page ------------------------------------------------------

TABLE_LABELS = {
    "activities": "Activities (e-mails, meetings, calls, tasks)",
    "activity_parties": "Participants of activities",
    "people": "People (ours and theirs)",
    "accounts": "Accounts",
    "leads": "Leads",
    "opportunities": "Opportunities",
    "imports": "Imports",
}


def counts_table(counts: dict[str, int]):
    import pandas as pd

    return pd.DataFrame({"Rows": [counts[t] for t in TABLE_LABELS]},
                        index=pd.Index(list(TABLE_LABELS.values()), name="Table"))


def skipped_rows(history) -> list[dict]:
    """The rows each import skipped, as tables for the Data page."""
    import json

    import pandas as pd

    out = []
    for _, row in history.iterrows():
        problems = json.loads(row["problems"] or "[]")
        if problems:
            out.append({"title": f"Import {row['import_id']} ({row['file']}): "
                                 f"{len(problems)} rows skipped",
                        "rows": pd.DataFrame(problems)})
    return out


# --- the pickers of leads and opportunities -----------------------------

def record_list(record_type: str, current: View) -> None:
    """A searchable list of leads or opportunities, each linking to its page."""
    plural = {"lead": "Leads", "opportunity": "Opportunities"}[record_type]
    st.title(plural)
    status_line(current)
    search = st.text_input(f"Search {plural.lower()}", placeholder="name or id")
    records = kpi.list_records(current.con, record_type, search=search or None)
    if records.empty:
        if search:
            st.info(f"No {record_type} matches \"{search}\".")
        else:
            where = ("CRM exports (Dataverse, Salesforce, HubSpot)" if record_type == "lead"
                     else "CRM exports (Dataverse, Salesforce, HubSpot) and the sales "
                          "pipeline workspace")
            st.info(f"There are no {plural.lower()} in this database yet: they come from "
                    f"{where}.")
        return
    st.write(f"{len(records):,} {plural.lower()} shown (up to 500; search to narrow).")
    records.insert(0, "link", record_urls(record_type, records, "id", "name", current))
    st.dataframe(
        records.drop(columns=["id", "name"]),
        hide_index=True,
        column_config={
            "link": st.column_config.LinkColumn(record_type.title(), display_text=LINK_NAME),
            "state": "State",
        },
    )


def settings(current: View):
    """The settings in force for the page's database."""
    from rapport import settings as settings_mod

    return settings_mod.load(current.con)
