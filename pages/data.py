"""Data: what the database holds and every import that filled it."""

import streamlit as st

from rapport import store
from views import common

view = common.view()
st.title("Data")
common.status_line(view)

counts = store.table_counts(view.con)
st.subheader("What is loaded")
st.table(common.counts_table(counts))

st.subheader("Imports")
history = store.import_history(view.con)
if history.empty:
    st.info("Nothing has been imported into this database yet. Import files with "
            "`python -m rapport import PATH` (mailboxes, Dataverse exports, Rapport CSV); "
            "see the README for the layouts Rapport reads.")
    st.stop()
st.dataframe(
    history.drop(columns=["problems"]), hide_index=True,
    column_config={
        "import_id": st.column_config.NumberColumn("Import", format="%d"),
        "file": "File", "layout": "Layout", "outcome": "Outcome",
        "rows_read": st.column_config.NumberColumn("Rows read", format="%d"),
        "rows_added": st.column_config.NumberColumn("Activities added", format="%d"),
        "rows_skipped": st.column_config.NumberColumn("Rows skipped", format="%d"),
        "started_at": st.column_config.DatetimeColumn("Started (UTC)",
                                                      format="YYYY-MM-DD HH:mm:ss"),
        "finished_at": st.column_config.DatetimeColumn("Finished (UTC)",
                                                       format="YYYY-MM-DD HH:mm:ss"),
    },
)
for problem_list in common.skipped_rows(history):
    with st.expander(problem_list["title"]):
        st.dataframe(problem_list["rows"], hide_index=True)
