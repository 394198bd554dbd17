"""Upload: import files, see what each adds before anything is written, undo imports."""

import datetime as dt
import tempfile
from pathlib import Path

import streamlit as st

from ingest import ImportProblem, staging, undo
from ingest.layouts import ReadOptions
from ingest.mapping import (DATE_ORDERS, DURATION_UNITS, FIELD_HELP, FIELDS, REGARDING_TYPES,
                            Mapping, guess_mapping, load_mappings, matching_mappings)
from rapport import settings as settings_mod
from rapport import store
from views import common

NONE = "(none)"
TYPES = ("email", "meeting", "call", "task")

view = common.view()
st.title("Upload")
common.status_line(view)
settings = settings_mod.load(view.con)


def writable(path: Path):
    """A writable connection, while other sessions go on reading (common.writing)."""
    return common.writing(path)


def _request(action) -> None:
    st.session_state["_upload_request"] = action


def _done(message: str, kind: str = "success") -> None:
    st.session_state["_upload_message"] = (kind, message)
    st.rerun()


message = st.session_state.pop("_upload_message", None)
if message:
    getattr(st, message[0])(message[1])
for line in st.session_state.pop("_upload_results", []):
    st.write(line)

# --- the files and how to read them --------------------------------------
generation = st.session_state.setdefault("_upload_generation", 0)
files = st.file_uploader(
    f"Files, folders as .zip, or several at once (up to {settings.max_upload_mb} MB each)",
    accept_multiple_files=True, key=f"upload_files_{generation}")
with st.expander("How to read the files", expanded=False):
    zone = st.text_input("Time zone of times that carry none", settings.import_timezone,
                         key="upload_zone")
    order = st.selectbox("Order of numeric dates such as 03/05/2024",
                         ("decide from the file", *DATE_ORDERS), key="upload_order")
    relative = st.checkbox("Times are seconds from a start date (a study's call log)",
                           key="upload_relative")
    start_date = st.date_input("Start date", dt.date(2013, 9, 2), key="upload_start",
                               disabled=not relative)
skip_invalid = st.checkbox("Skip invalid rows (import the others and list these with "
                           "the import)", key="upload_skip")

staging.remove_stale_uploads()
if files:
    folder = st.session_state.setdefault("_upload_dir", tempfile.mkdtemp(prefix="rapport-"))
    saved = st.session_state.setdefault("_upload_saved", {})
    paths = []
    for uploaded in files:
        key = f"{uploaded.file_id}:{uploaded.size}"
        if key not in saved:
            try:
                saved[key] = staging.save_upload(uploaded, uploaded.name, uploaded.size,
                                                 Path(folder), settings.max_upload_mb)
            except staging.TooLarge as exc:
                st.error(str(exc))
                continue
        paths.append((uploaded.name, saved[key]))
    try:
        options = ReadOptions(settings=settings, timezone=zone,
                              date_order=None if order not in DATE_ORDERS else order,
                              start_date=start_date if relative else None)
        settings_mod.Settings(import_timezone=zone).validate()
    except ValueError as exc:
        st.error(f"Time zone: {exc}")
        st.stop()
    cache = st.session_state.setdefault("_upload_cache", {})
    cache_key = (tuple(str(p) for _, p in paths), zone, order, relative,
                 start_date if relative else None)
    if cache_key not in cache:
        cache.clear()
        with st.spinner("Reading the files"):
            cache[cache_key] = staging.stage(paths, options)
    upload = staging.Upload(list(cache[cache_key].parts))  # mapped parts replace copies

    # --- the column-mapping step for tables of unknown layout --------------
    saved_mappings = load_mappings(view.con)
    keep: list[Mapping] = []
    for i, part in enumerate(list(upload.parts)):
        if not part.needs_mapping:
            continue
        st.subheader(f"Map the columns of {part.label}")
        st.caption("Rapport does not know this layout. Say which column holds what; the "
                   "preview below shows the rows as they will be stored.")
        usable = matching_mappings(view.con, part.columns)
        chosen = st.selectbox("Use a saved mapping", (NONE, *usable), key=f"map_saved_{i}")
        if chosen != NONE:
            mapping = saved_mappings[chosen]
        else:
            guess = guess_mapping(part.columns)
            columns = {}
            grid = st.columns(4)
            for n, name in enumerate(FIELDS):
                choices = (NONE, *part.columns)
                default = choices.index(guess.columns[name]) if name in guess.columns else 0
                picked = grid[n % 4].selectbox(name, choices, index=default,
                                               help=FIELD_HELP[name], key=f"map_{i}_{name}")
                if picked != NONE:
                    columns[name] = picked
            a, b, c, d = st.columns(4)
            kind = a.selectbox("Type of every row (when no type column)", (NONE, *TYPES),
                               key=f"map_{i}_kind")
            unit = b.selectbox("Duration unit", DURATION_UNITS,
                               index=DURATION_UNITS.index(guess.duration_unit),
                               key=f"map_{i}_unit")
            date_order = c.selectbox("Date order", ("decide from the file", *DATE_ORDERS),
                                     key=f"map_{i}_order")
            regarding = d.selectbox("Regarding is a", REGARDING_TYPES,
                                    key=f"map_{i}_regarding_type")
            name = st.text_input("Save this mapping as (leave empty not to save)",
                                 key=f"map_{i}_name")
            mapping = Mapping(name=name.strip(), columns=columns,
                              activity_type=None if kind == NONE else kind,
                              duration_unit=unit,
                              date_order=date_order if date_order in DATE_ORDERS else None,
                              regarding_type=regarding)
            if mapping.name:
                keep.append(mapping)
        errors = mapping.check(part.columns)
        if errors:
            for error in errors:
                st.warning(error)
            continue
        mapped_key = (cache_key, part.label, mapping.to_json())
        if mapped_key not in cache:
            cache[mapped_key] = staging.read_part(part.label, part.source, options, mapping)
        upload.parts[i] = cache[mapped_key]

    # --- what each file will add, and every problem -----------------------
    st.subheader("What the upload will add")
    st.dataframe(staging.summary_frame(upload), hide_index=True)
    for part in upload.parts:
        if part.batch is None:
            continue
        with st.expander(f"Preview of {part.label} ({part.layout})"):
            frame = staging.preview(part)
            if len(frame):
                st.dataframe(frame, hide_index=True)
            for table, records in staging.preview_records(part).items():
                st.caption(table)
                st.dataframe(records, hide_index=True)
    problems = staging.problems_frame(upload)
    if len(problems):
        st.subheader(f"Problems ({len(problems)})")
        st.dataframe(problems, hide_index=True)
        if upload.row_problems and not skip_invalid:
            st.warning("Nothing will be imported while rows have problems: fix them, or "
                       "tick 'Skip invalid rows' to import the other rows.")
        elif not upload.row_problems:
            st.error("A file cannot be read at all; remove it from the upload or export it "
                     "again.")
    can_import = upload.ready and (not len(problems) or
                                   (upload.row_problems and skip_invalid))
    # Actions go through on_click: the request survives a rerun of the page.
    st.button("Import", type="primary", disabled=not can_import, key="upload_import",
              on_click=_request, args=("import",))
    if st.session_state.pop("_upload_request", None) == "import" and can_import:
        bar = st.progress(0.0, text="Importing")
        try:
            with writable(view.path) as con:
                results = staging.commit(
                    con, upload, skip_invalid=skip_invalid, save_mappings=keep,
                    progress=lambda f, text: bar.progress(min(max(f, 0.0), 1.0), text=text))
        except ImportProblem as exc:
            _done(f"Nothing was imported: {exc}", "error")
        st.session_state["_upload_results"] = [
            f"**{r.file}**: {r.layout}, " + (
                f"already imported (import {r.import_id}); nothing added"
                if r.outcome == "already imported" else
                f"{r.rows_read} rows read, {r.rows_added} activities added, "
                f"{r.rows_skipped} skipped (import {r.import_id})") for r in results]
        st.session_state["_upload_generation"] = generation + 1
        st.session_state.pop("_upload_cache", None)
        # The uploaded copies are not kept once their rows are stored.
        staging.remove_uploads(st.session_state.pop("_upload_dir", None))
        st.session_state.pop("_upload_saved", None)
        _done(f"Imported {len(results)} file(s).")

# --- the import history, with undo --------------------------------------
st.subheader("Imports")
history = store.import_history(view.con)
if history.empty:
    st.info("Nothing has been imported into this database yet.")
    st.stop()
journaled = undo.undoable(view.con)
for row in history.head(50).itertuples():
    text, action = st.columns([6, 1])
    text.write(f"**{row.import_id}** · {row.file} · {row.layout} · {row.outcome} · "
               f"{row.rows_added} activities added · {row.started_at:%Y-%m-%d %H:%M} UTC")
    if row.outcome == "imported" and row.import_id in journaled:
        action.button("Undo", key=f"undo_{row.import_id}", on_click=_request,
                      args=(("undo", int(row.import_id)),))
        if st.session_state.get("_upload_request") == ("undo", int(row.import_id)):
            st.session_state.pop("_upload_request")
            try:
                with writable(view.path) as con:
                    counts = undo.undo_import(con, int(row.import_id))
            except undo.UndoError as exc:
                _done(str(exc), "error")
            _done(f"Import {row.import_id} undone: {counts['deleted']} rows removed, "
                  f"{counts['restored']} restored, {counts['kept']} kept because a later "
                  "import also brought them.")
