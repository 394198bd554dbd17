"""Opportunity: its figures and its similar won deals (?id=), or the list."""

import streamlit as st

import similarity
from views import common, widgets

view = common.view()
if not st.query_params.get("id"):
    common.record_list("opportunity", view)
    st.stop()
fig = common.record_from_link("opportunity", "pages/opportunity.py", view)
if fig is None:
    st.stop()
common.show_figures(fig, view)
# The first call after an import computes every deal's features and fits the
# model (about two minutes among a million opportunities); later calls answer
# from the fitted model.
with st.spinner("Finding similar won deals (the first search after an import compares "
                "every deal, which takes longer)"):
    similar = similarity.similar_won_deals(view.con, fig["entity"]["id"], as_of=view.as_of)
widgets.show_similar_deals(similar, view)
widgets.show_relationship(fig, view)
