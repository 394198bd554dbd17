"""Accounts: every customer account, searchable and sortable; each opens its page."""

import streamlit as st

import kpi
from views import common

SORTS = {"interactions": "Interactions", "last_interaction": "Last interaction",
         "name": "Name"}

view = common.view()
st.title("Accounts")
common.status_line(view)

search = st.text_input("Search accounts", placeholder="name or domain")
sort = st.radio("Sort by", list(SORTS), format_func=SORTS.get, horizontal=True)
accounts = kpi.list_accounts(view.con, search=search or None, sort=sort,
                             as_of=view.as_of, days=view.days)

if accounts.empty:
    if search:
        st.info(f"No account's name or domain contains \"{search}\".")
    else:
        st.info("There are no customer accounts yet: they come from CRM exports and from "
                "the mail domains of the people you write to. Import data with "
                "`python -m rapport import PATH`; the Data page shows what is loaded.")
    st.stop()

active = int((accounts["interactions"] > 0).sum())
st.write(f"{len(accounts):,} accounts, {active:,} of them with interactions in "
         f"{view.window_text} to {view.as_of:%Y-%m-%d}.")
accounts.insert(0, "link", common.record_urls("account", accounts, "account_id", "name",
                                               view))
st.dataframe(
    accounts.drop(columns=["account_id", "name"]),
    hide_index=True,
    column_config={
        "link": st.column_config.LinkColumn("Account", display_text=common.LINK_NAME),
        "domain": "Domain",
        "contacts": st.column_config.NumberColumn("Contacts", format="%d"),
        "interactions": st.column_config.NumberColumn("Interactions", format="%d"),
        "emails": st.column_config.NumberColumn("E-mails", format="%d"),
        "meetings": st.column_config.NumberColumn("Meetings", format="%d"),
        "calls": st.column_config.NumberColumn("Calls", format="%d"),
        "last_at": st.column_config.DatetimeColumn("Last interaction",
                                                   format="YYYY-MM-DD HH:mm"),
    },
)
