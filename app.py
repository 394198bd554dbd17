"""Rapport's app: the pages, and the sidebar every page shares."""

import streamlit as st

from views import common

st.set_page_config(page_title="Rapport", layout="wide")

pages = st.navigation([
    st.Page("pages/accounts.py", title="Accounts", default=True),
    st.Page("pages/overview.py", title="Overview"),
    st.Page("pages/account.py", title="Account"),
    st.Page("pages/contact.py", title="Contact"),
    st.Page("pages/lead.py", title="Leads"),
    st.Page("pages/opportunity.py", title="Opportunities"),
    st.Page("pages/data.py", title="Data"),
    st.Page("pages/upload.py", title="Upload"),
    st.Page("pages/settings.py", title="Settings"),
])
with common.session():
    pages.run()
