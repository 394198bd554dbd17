"""Settings: every knob of rapport/settings.py, checked, saved, people re-classified."""

import dataclasses
import re

import streamlit as st

from kpi import materialize
from rapport import people, store
from rapport import settings as settings_mod
from views import common

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HELP = {
    "internal_domains": "Our own e-mail domains, comma-separated; subdomains count "
                        "(eu.ourco.com is in ourco.com).",
    "internal_domains_inferred": "While ticked, each import infers the internal domains "
                                 "from CRM users and the commonest sender domain.",
    "excluded_addresses": "Addresses invisible to every figure, comma-separated.",
    "excluded_domains": "Domains (and subdomains) invisible to every figure.",
    "automated_sender_pattern": "Regular expression over the part before @; matches are "
                                "automated senders, invisible to every figure.",
    "import_timezone": "Zone of source times that carry none (IANA name, e.g. Europe/Berlin).",
    "display_timezone": "Zone whose calendar days the daily series uses.",
    "max_upload_mb": "Largest file the Upload page accepts.",
}

view = common.view()
st.title("Settings")
common.status_line(view)
current = settings_mod.load(view.con)

message = st.session_state.pop("_settings_message", None)
if message:
    st.success(message)


def _widget(field: dataclasses.Field, value):
    """The input for one setting; returns the value typed, in the setting's type."""
    name, label = field.name, field.name.replace("_", " ")
    helptext = HELP.get(name)
    if name == "business_days":
        picked = st.multiselect(label, DAYS, [DAYS[d] for d in value], key=f"set_{name}",
                                help="Days that count as working time.")
        return [DAYS.index(d) for d in picked]
    if isinstance(value, bool):
        return st.checkbox(label, value, key=f"set_{name}", help=helptext)
    if isinstance(value, list):
        text = st.text_input(label, ", ".join(value), key=f"set_{name}", help=helptext)
        return settings_mod.parse_value(name, text)
    if isinstance(value, int):
        return int(st.number_input(label, value=value, step=1, key=f"set_{name}",
                                   help=helptext))
    if isinstance(value, float):
        return float(st.number_input(label, value=value, step=0.1, format="%.2f",
                                     key=f"set_{name}", help=helptext))
    return st.text_input(label, value, key=f"set_{name}", help=helptext)


with st.form("settings"):
    typed = {}
    grid = st.columns(2)
    for n, field in enumerate(dataclasses.fields(settings_mod.Settings)):
        with grid[n % 2]:
            typed[field.name] = _widget(field, getattr(current, field.name))
    # on_click keeps the request across a rerun of the page.
    st.form_submit_button("Save", type="primary", on_click=st.session_state.__setitem__,
                          args=("_settings_request", True))

if st.session_state.pop("_settings_request", False):
    changes = {name: value for name, value in typed.items()
               if value != getattr(current, name)}
    if not changes:
        st.info("Nothing changed.")
        st.stop()
    try:
        dataclasses.replace(current, **changes).validate()
        re.compile(typed["automated_sender_pattern"])
    except re.error as exc:
        st.error(f"Not saved: automated_sender_pattern is not a regular expression ({exc}).")
        st.stop()
    except ValueError as exc:
        st.error(f"Not saved: {exc}")
        st.stop()
    if "internal_domains" in changes and "internal_domains_inferred" not in changes:
        changes["internal_domains_inferred"] = False
    # Other sessions go on reading while the change is written (common.writing).
    with common.writing(view.path) as con:
        try:
            with store.transaction(con):
                saved = settings_mod.save(con, **changes)
                people.classify(con, saved)
                materialize.recompute(con, saved)
        except (KeyError, ValueError) as exc:
            st.error(f"Not saved: {exc}")
            st.stop()
    st.session_state["_settings_message"] = (
        "Saved " + ", ".join(sorted(changes)) + "; people and accounts were classified "
        "again under the new settings.")
    st.rerun()
