"""Contact: the figures of one person of the customer's (?id= address or id)."""

import streamlit as st

import kpi
from views import common, widgets

view = common.view()
fig = common.record_from_link("contact", "pages/accounts.py", view)
if fig is None:
    st.stop()
common.show_figures(fig, view)
widgets.show_relationship(fig, view)

entity = fig["entity"]
found = kpi.list_contacts(view.con, search=entity["id"], as_of=view.as_of, days=view.days)
found = found[found["contact_id"] == entity["id"]]
if not found.empty and found.iloc[0]["account_id"]:
    row = found.iloc[0]
    st.subheader("Account")
    common.record_link("pages/account.py", str(row["account_name"] or row["account_id"]),
                       row["account_id"], view)
