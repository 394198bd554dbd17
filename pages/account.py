"""Account: the figures of one account (?id=) and its contacts."""

import streamlit as st

import kpi
from views import common, widgets

view = common.view()
fig = common.record_from_link("account", "pages/accounts.py", view)
if fig is None:
    st.stop()
common.show_figures(fig, view)
widgets.show_relationship(fig, view)

st.subheader("Contacts")
contacts = kpi.list_contacts(view.con, account_id=fig["entity"]["id"], as_of=view.as_of,
                             days=view.days)
if contacts.empty:
    st.write(f"No contacts of {fig['entity']['name']} are known.")
    st.stop()
contacts.insert(0, "link", common.record_urls("contact", contacts, "contact_id", "name", view))
st.dataframe(
    contacts[["link", "email", "interactions", "last_at"]],
    hide_index=True,
    column_config={
        "link": st.column_config.LinkColumn("Contact", display_text=common.LINK_NAME),
        "email": "E-mail",
        "interactions": st.column_config.NumberColumn("Interactions", format="%d"),
        "last_at": st.column_config.DatetimeColumn("Last interaction",
                                                   format="YYYY-MM-DD HH:mm"),
    },
)
