"""Lead: the figures of one lead (?id=), or the list of leads to choose from."""

import streamlit as st

from views import common, widgets

view = common.view()
if not st.query_params.get("id"):
    common.record_list("lead", view)
    st.stop()
fig = common.record_from_link("lead", "pages/lead.py", view)
if fig is None:
    st.stop()
common.show_figures(fig, view)
widgets.show_relationship(fig, view)
