"""Overview: the team's accounts and open opportunities ranked by health."""

import streamlit as st

from kpi import overview
from views import common

view = common.view()
st.title("Overview")
common.status_line(view)

options = overview.choices(view.con)
managers = dict(options["managers"])
left, middle, right = st.columns(3)
manager = left.selectbox("Manager", [None, *managers], format_func=lambda m:
                         "All managers" if m is None else managers[m])
region = middle.selectbox("Regional office", [None, *options["regions"]],
                          format_func=lambda r: "All offices" if r is None else r)
product = right.selectbox("Product", [None, *options["products"]],
                          format_func=lambda p: "All products" if p is None else p)
filters = overview.Filters(manager=manager, region=region, product=product)


@st.cache_data(show_spinner="Scoring every account and open opportunity...", max_entries=32)
def _ranked(path: str, stamp: str, as_of, filters: overview.Filters):
    # Keyed by the file and its last import, so a new import is seen at once.
    con = common.view().con
    return (overview.accounts(con, as_of, filters),
            overview.opportunities(con, as_of, filters))


stamp = f"{view.extent['imports']}|{view.extent['last_at']}"
accounts, opportunities = _ranked(str(view.path), stamp, view.as_of, filters)
cadence = common.settings(view).cadence_days
HEALTH_COLUMNS = {
    "score": st.column_config.NumberColumn("Health", format="%d"),
    "grade": "Grade", "trend": "Trend",
    "days_since_two_way": st.column_config.NumberColumn("Days since two-way contact",
                                                        format="%.0f"),
    "last_at": st.column_config.DatetimeColumn("Last interaction", format="YYYY-MM-DD"),
    "going_cold": st.column_config.CheckboxColumn("Going cold"),
}


def headline(kind: str, frame) -> str:
    counts = overview.summary(frame)
    return (f"{counts['records']:,} {kind}: {counts['good']:,} good, {counts['fair']:,} fair, "
            f"{counts['poor']:,} poor, {counts['not_enough_data']:,} without enough data; "
            f"{counts['going_cold']:,} going cold (no two-way contact for more than "
            f"{cadence} days).")


def table(frame, page: str, link_label: str, extra: dict) -> None:
    frame = frame.copy()
    frame.insert(0, "link", common.record_urls(page, frame, "id", "name", view))
    st.dataframe(frame[["link", *extra, *HEALTH_COLUMNS]], hide_index=True,
                 column_config={"link": st.column_config.LinkColumn(
                     link_label, display_text=common.LINK_NAME), **extra, **HEALTH_COLUMNS})


tab_opps, tab_accounts, tab_cold, tab_sellers = st.tabs(
    ["Open opportunities", "Accounts", "Going cold", "Activity by seller"])
with tab_opps:
    if opportunities.empty:
        st.info("No opportunity was open on this as-of date with these filters.")
    else:
        st.write(headline("open opportunities", opportunities))
        table(opportunities, "opportunity", "Opportunity",
              {"account": "Account", "owner": "Owner", "manager": "Manager",
               "region": "Office", "product": "Product",
               "amount": st.column_config.NumberColumn("Amount", format="%.0f")})
with tab_accounts:
    if accounts.empty:
        st.info("No account has activity with these filters.")
    else:
        st.write(headline("accounts", accounts))
        table(accounts, "account", "Account", {"industry": "Industry"})
with tab_cold:
    cold_opps = opportunities[opportunities["going_cold"] == True]  # noqa: E712
    cold_accounts = accounts[accounts["going_cold"] == True]  # noqa: E712
    st.write(f"Going cold means no two-way contact for more than {cadence} days (the "
             "cadence setting), although there was activity before.")
    if cold_opps.empty and cold_accounts.empty:
        st.success("Nothing is going cold.")
    if not cold_opps.empty:
        st.subheader(f"Open opportunities ({len(cold_opps):,})")
        table(cold_opps, "opportunity", "Opportunity", {"owner": "Owner"})
    if not cold_accounts.empty:
        st.subheader(f"Accounts ({len(cold_accounts):,})")
        table(cold_accounts, "account", "Account", {})
with tab_sellers:
    sellers = overview.sellers(view.con, view.as_of, view.days, filters)
    if sellers.empty:
        st.info(f"None of our people had a customer interaction in {view.window_text}.")
    else:
        st.write(f"Completed customer interactions of our people in {view.window_text}.")
        st.dataframe(sellers.drop(columns=["id"]), hide_index=True, column_config={
            "seller": "Seller", "manager": "Manager", "region": "Office",
            "last_at": st.column_config.DatetimeColumn("Last interaction",
                                                       format="YYYY-MM-DD")})
