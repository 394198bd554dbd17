"""Synthetic CRM data of any size, in Rapport's canonical layout.

``generate(n, seed)`` returns the canonical tables (rapport/store.py TABLES,
people without the derived person_key/side/account_id) as Arrow tables, built
with vectorised numpy so ten million activities take minutes. The same seed
gives the same data, byte for byte.

Proportions per activity: one seller per 50,000 activities (at least 5), one
account per 100 (at least 10), about four contacts per account, one lead per
200 and one opportunity per 20 activities. Account sizes are skewed (a
log-normal weight per account), so some accounts are much larger than
others, as in real pipelines. Activities: 70 % emails, 15 % meetings, 10 %
calls, 5 % tasks over two years ending on :data:`END`; a few are scheduled
after it, a few canceled or drafts; a fifth are regarding an opportunity of
their account and some are with leads.

    python -m bench.generate --activities 1e6 --out /tmp/rapport-1m [--seed 1]
        [--format csv,parquet]

writes ``<table>.csv`` and/or ``<table>.parquet`` per table into the folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingest.base import columns_of

END = dt.datetime(2025, 12, 31)
SPAN_DAYS = 730
OUR_DOMAIN = "rapport-bench.com"
TABLE_ORDER = ("accounts", "people", "leads", "opportunities", "opportunity_members",
               "activities", "activity_parties")
DERIVED_PEOPLE = ("person_key", "side", "account_id")
INDUSTRIES = np.array(["Software", "Retail", "Energy", "Banking", "Health", "Logistics",
                       "Media", "Telecom"])
COUNTRIES = np.array(["US", "DE", "FR", "GB", "NL", "JP", "BR", "IN"])
PRODUCTS = np.array(["Basic", "Pro", "Enterprise", "Support", "Training"])
REGIONS = np.array(["North", "South", "East", "West"])
US_PER_SECOND = 1_000_000


def layout_columns(table: str) -> list[str]:
    names = columns_of(table)
    if table == "people":
        names = [n for n in names if n not in DERIVED_PEOPLE]
    return names


def _text(prefix: str, numbers, suffix: str = "") -> pa.Array:
    """prefix + str(n) + suffix for every n, without a Python loop."""
    digits = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, digits, suffix, "")


def _pick(values: np.ndarray, index: np.ndarray) -> pa.Array:
    return pa.array(values[index])


def _times(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype("datetime64[us]"), pa.timestamp("us"))


def _masked(array: pa.Array, keep: np.ndarray) -> pa.Array:
    """*array* with nulls where *keep* is false."""
    return pc.if_else(pa.array(keep), array, pa.scalar(None, array.type))


def _within(rng, offsets: np.ndarray, counts: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """A random member of each owner's group (groups given by offsets, counts)."""
    return offsets[owner] + (rng.random(len(owner)) * counts[owner]).astype(np.int64)


def generate(n: int, seed: int = 1, opportunities: int | None = None) -> dict[str, pa.Table]:
    """The canonical tables of *n* activities, the same for the same seed.

    *opportunities* overrides the number of opportunities (default n / 20).
    """
    n = int(n)
    rng = np.random.default_rng(seed)
    n_users = max(5, n // 50_000)
    n_accounts = max(10, n // 100)
    n_leads = max(5, n // 200)
    n_opps = int(opportunities) if opportunities else max(10, n // 20)
    end_us = int((END - dt.datetime(1970, 1, 1)).total_seconds()) * US_PER_SECOND
    span_us = SPAN_DAYS * 86_400 * US_PER_SECOND

    # Accounts, each with an owner among our sellers and a skewed size.
    weight = rng.lognormal(0.0, 1.0, n_accounts)
    weight /= weight.sum()
    acc_owner = rng.integers(0, n_users, n_accounts)
    acc_idx = np.arange(n_accounts)
    accounts = pa.table({
        "account_id": _text("acc:", acc_idx),
        "name": _text("Account ", acc_idx),
        "domain": _text("acct", acc_idx, ".com"),
        "industry": _pick(INDUSTRIES, rng.integers(0, len(INDUSTRIES), n_accounts)),
        "employees": pa.array(rng.integers(5, 50_000, n_accounts)),
        "revenue": pa.array(np.round(rng.lognormal(15, 1.5, n_accounts), 2)),
        "country": _pick(COUNTRIES, rng.integers(0, len(COUNTRIES), n_accounts)),
        "parent_id": pa.nulls(n_accounts, pa.string()),
        "source": pa.array(np.full(n_accounts, "crm")),
    })

    # Contacts: 1 + Poisson(3) per account; one in ten is known only by address.
    per_acc = 1 + rng.poisson(3, n_accounts)
    con_offset = np.concatenate([[0], np.cumsum(per_acc)[:-1]])
    n_contacts = int(per_acc.sum())
    con_acc = np.repeat(acc_idx, per_acc)
    con_idx = np.arange(n_contacts)
    bare = rng.random(n_contacts) < 0.1
    con_email = pc.binary_join_element_wise(
        _text("c", con_idx, "@"), _text("acct", con_acc, ".com"), "")
    con_id = pc.if_else(pa.array(bare),
                        pc.binary_join_element_wise("mailto:", con_email, ""),
                        _text("contact:", con_idx))
    user_idx = np.arange(n_users)
    user_email = _text("seller", user_idx, "@" + OUR_DOMAIN)
    user_id = _text("user:", user_idx)
    lead_idx = np.arange(n_leads)
    lead_email = pc.binary_join_element_wise(
        _text("lead", lead_idx, "@"), _text("prospect", lead_idx // 3, ".com"), "")
    lead_person_id = pc.binary_join_element_wise("mailto:", lead_email, "")
    lead_owner = rng.integers(0, n_users, n_leads)
    people = pa.concat_tables([
        pa.table({
            "person_id": user_id, "name": _text("Seller ", user_idx), "email": user_email,
            "crm_kind": pa.array(np.full(n_users, "user")),
            "crm_account_id": pa.nulls(n_users, pa.string()),
            "opted_out": pa.array(np.zeros(n_users, bool)),
            "manager_id": _masked(_text("user:", user_idx // 10 * 10), user_idx % 10 != 0),
            "region": _pick(REGIONS, user_idx % len(REGIONS)),
        }),
        pa.table({
            "person_id": con_id, "name": _text("Contact ", con_idx), "email": con_email,
            "crm_kind": pc.if_else(pa.array(bare), "address", "contact"),
            "crm_account_id": _masked(_text("acc:", con_acc), ~bare),
            "opted_out": pa.array(rng.random(n_contacts) < 0.01),
            "manager_id": pa.nulls(n_contacts, pa.string()),
            "region": pa.nulls(n_contacts, pa.string()),
        }),
        pa.table({
            "person_id": lead_person_id, "name": _text("Lead ", lead_idx),
            "email": lead_email, "crm_kind": pa.array(np.full(n_leads, "address")),
            "crm_account_id": pa.nulls(n_leads, pa.string()),
            "opted_out": pa.array(np.zeros(n_leads, bool)),
            "manager_id": pa.nulls(n_leads, pa.string()),
            "region": pa.nulls(n_leads, pa.string()),
        }),
    ])
    leads = pa.table({
        "lead_id": _text("lead:", lead_idx), "name": _text("Lead ", lead_idx),
        "email": lead_email, "company": _text("Prospect ", lead_idx // 3),
        "owner_id": _text("user:", lead_owner),
        "state": _pick(np.array(["open", "qualified", "disqualified"]),
                       rng.integers(0, 3, n_leads)),
        "created_at": _times(end_us - (rng.random(n_leads) * span_us).astype(np.int64)),
    })

    # Opportunities: bigger accounts have more; grouped by account for lookups.
    opp_acc = np.sort(rng.choice(n_accounts, n_opps, p=weight))
    opp_idx = np.arange(n_opps)
    opp_count = np.bincount(opp_acc, minlength=n_accounts)
    opp_offset = np.concatenate([[0], np.cumsum(opp_count)[:-1]])
    opp_contact = _within(rng, con_offset, per_acc, opp_acc)
    opp_state = rng.choice(np.array(["open", "won", "lost"]), n_opps, p=[0.3, 0.35, 0.35])
    created = end_us - (rng.random(n_opps) * span_us).astype(np.int64)
    length = (rng.integers(14, 180, n_opps) * 86_400 * US_PER_SECOND).astype(np.int64)
    closed = np.minimum(created + length, end_us)
    opportunities = pa.table({
        "opportunity_id": _text("opp:", opp_idx), "name": _text("Deal ", opp_idx),
        "account_id": _text("acc:", opp_acc), "contact_id": pc.take(con_id, opp_contact),
        "owner_id": _text("user:", acc_owner[opp_acc]), "state": pa.array(opp_state),
        "amount": pa.array(np.round(rng.lognormal(10, 1, n_opps), 2)),
        "product": _pick(PRODUCTS, rng.integers(0, len(PRODUCTS), n_opps)),
        "created_at": _times(created),
        "closed_at": _masked(_times(closed), opp_state != "open"),
    })
    team = rng.random(n_opps) < 0.5
    member_user = rng.integers(0, n_users, n_opps)
    member_contact = _within(rng, con_offset, per_acc, opp_acc)
    opportunity_members = pa.table({
        "opportunity_id": _text("opp:", opp_idx),
        "person_id": pc.if_else(pa.array(team), _text("user:", member_user),
                                pc.take(con_id, member_contact)),
        "role": pc.if_else(pa.array(team), "team", "stakeholder"),
    })
    # One member per opportunity: the table's key is unique as it stands.

    # Activities.
    idx = np.arange(n)
    act_acc = rng.choice(n_accounts, n, p=weight)
    contact = _within(rng, con_offset, per_acc, act_acc)
    seller = np.where(rng.random(n) < 0.85, acc_owner[act_acc], rng.integers(0, n_users, n))
    kind = rng.choice(np.array(["email", "meeting", "call", "task"]), n,
                      p=[0.70, 0.15, 0.10, 0.05])
    start = end_us - (rng.random(n) * span_us).astype(np.int64)
    start -= start % US_PER_SECOND
    future = rng.random(n) < 0.03
    start[future] = end_us + (rng.random(int(future.sum())) * 30 * 86_400
                              * US_PER_SECOND).astype(np.int64)
    roll = rng.random(n)
    state = np.where(roll < 0.94, "completed",
                     np.where(roll < 0.96, "canceled", np.where(roll < 0.98, "draft",
                                                                 "scheduled")))
    state = np.where(future, "scheduled", state).astype(object)
    state[(kind == "email") & (state == "scheduled")] = "pending"
    by_us = rng.random(n) < 0.55
    with_lead = rng.random(n) < 0.03
    lead_of = rng.integers(0, n_leads, n)
    # Who is on the customer side: the contact, or a lead's own address.
    them_id = pc.if_else(pa.array(with_lead), pc.take(lead_person_id, lead_of),
                         pc.take(con_id, contact))
    us_id = pc.if_else(pa.array(with_lead), _text("user:", lead_owner[lead_of]),
                       _text("user:", seller))
    has_opp = (opp_count[act_acc] > 0) & ~with_lead & (rng.random(n) < 0.2)
    opp_pick = _within(rng, opp_offset, np.maximum(opp_count, 1), act_acc)
    on_acc = ~has_opp & ~with_lead & (rng.random(n) < 0.05)
    on_lead = with_lead & (rng.random(n) < 0.3)
    regarding_id = pc.if_else(
        pa.array(has_opp), _text("opp:", opp_pick),
        pc.if_else(pa.array(on_acc), _text("acc:", act_acc),
                   pc.if_else(pa.array(on_lead), _text("lead:", lead_of),
                              pa.scalar(None, pa.string()))))
    regarding_type = np.where(has_opp, "opportunity",
                              np.where(on_acc, "account", np.where(on_lead, "lead", None)))
    is_email, is_meeting, is_call = kind == "email", kind == "meeting", kind == "call"
    activity_id = pc.if_else(pa.array(is_email), _text("msg:", idx, "@bench.rapport"),
                             _text("act:", idx))
    message_id = _masked(_text("", idx, "@bench.rapport"), is_email)
    reply = is_email & (rng.random(n) < 0.4) & (idx > 0)
    in_reply_to = _masked(_text("", np.maximum(idx - 1 - rng.integers(0, 50, n), 0),
                                "@bench.rapport"), reply)
    duration = np.where(is_meeting, rng.choice([30.0, 45.0, 60.0, 90.0], n),
                        np.where(is_call, np.round(rng.gamma(2.0, 6.0, n), 1), np.nan))
    end = start + np.nan_to_num(duration * 60 * US_PER_SECOND).astype(np.int64)
    followed = is_email & by_us & (rng.random(n) < 0.3)
    direction = np.where(is_call, np.where(by_us, "outgoing", "incoming"), None)
    activities = pa.table({
        "activity_id": activity_id, "type": pa.array(kind),
        "subject": _text("About topic ", act_acc % 997),
        "start_at": _times(start),
        "end_at": _masked(_times(end), is_meeting | is_call),
        "duration_minutes": pa.array(duration, from_pandas=True),
        "state": pa.array(state.astype(str)), "direction": pa.array(direction, pa.string()),
        "initiator_id": pc.if_else(pa.array(by_us | (kind == "task")), us_id, them_id),
        "regarding_type": pa.array(regarding_type, pa.string()),
        "regarding_id": regarding_id, "message_id": message_id,
        "in_reply_to": in_reply_to, "refs": _masked(in_reply_to, reply),
        "conversation_id": pa.nulls(n, pa.string()),
        "followed": _masked(pa.array(followed), is_email & by_us),
        "opens": _masked(pa.array(rng.poisson(1.0, n).astype(np.int32)), followed),
        "clicks": _masked(pa.array(rng.poisson(0.3, n).astype(np.int32)), followed),
        "replies": _masked(pa.array((rng.random(n) < 0.3).astype(np.int32)), followed),
        "attachment_opens": _masked(pa.array(np.zeros(n, np.int32)), followed),
    })

    # Parties: who started it, the other side, and sometimes a second person.
    first_role = np.where(is_email, "sender", np.where(is_meeting, "organizer",
                                                       np.where(is_call, "caller", "owner")))
    other_role = np.where(is_email, "to", np.where(is_meeting, "required",
                                                   np.where(is_call, "callee", "customer")))
    first = pc.if_else(pa.array(by_us | (kind == "task")), us_id, them_id)
    other = pc.if_else(pa.array(by_us | (kind == "task")), them_id, us_id)
    extra = (is_email | is_meeting) & ~with_lead & (rng.random(n) < 0.3)
    colleague = rng.random(n) < 0.5
    extra_person = pc.if_else(
        pa.array(colleague), _text("user:", rng.integers(0, n_users, n)),
        pc.take(con_id, _within(rng, con_offset, per_acc, act_acc)))
    extra_role = np.where(is_email, "cc", "optional")
    keep = pa.array(extra)
    parties = pa.concat_tables([
        pa.table({"activity_id": activity_id, "person_id": first,
                  "role": pa.array(first_role)}),
        pa.table({"activity_id": activity_id, "person_id": other,
                  "role": pa.array(other_role)}),
        pa.table({"activity_id": pc.filter(activity_id, keep),
                  "person_id": pc.filter(extra_person, keep),
                  "role": pc.filter(pa.array(extra_role), keep)}),
    ])
    # The three roles of one activity always differ (sender / to / cc, organizer /
    # required / optional, ...), so (activity_id, person_id, role) is unique.
    tables = {"accounts": accounts, "people": people, "leads": leads,
              "opportunities": opportunities, "opportunity_members": opportunity_members,
              "activities": activities, "activity_parties": parties}
    return {name: _shaped(name, table) for name, table in tables.items()}


def _shaped(name: str, table: pa.Table) -> pa.Table:
    """Exactly the layout's columns, in order, typed as the store types them."""
    columns = layout_columns(name)
    missing = set(columns) - set(table.column_names)
    if missing:
        raise AssertionError(f"{name}: generator lacks {sorted(missing)}")
    table = table.select(columns)
    if "opens" in columns:
        for col in ("opens", "clicks", "replies", "attachment_opens"):
            table = table.set_column(table.column_names.index(col), col,
                                     pc.cast(table[col], pa.int32()))
    return table.combine_chunks()


def write(tables: dict[str, pa.Table], folder: str | Path,
          formats: tuple[str, ...] = ("csv", "parquet")) -> list[Path]:
    """Write each table as <name>.csv and/or <name>.parquet into *folder*."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLE_ORDER:
        table = tables[name]
        if "csv" in formats:
            path = folder / f"{name}.csv"
            pacsv.write_csv(table, path, pacsv.WriteOptions(
                include_header=True, quoting_style="needed"))
            written.append(path)
        if "parquet" in formats:
            path = folder / f"{name}.parquet"
            pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
            written.append(path)
    return written


def _size(text: str) -> int:
    return int(float(text))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=_size, required=True, metavar="N",
                        help="number of activities, e.g. 1e6")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--opportunities", type=_size, metavar="N",
                        help="number of opportunities (default activities / 20)")
    parser.add_argument("--out", required=True, metavar="FOLDER")
    parser.add_argument("--format", default="csv,parquet",
                        help="csv, parquet or both (default csv,parquet)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tables = generate(args.activities, args.seed, args.opportunities)
    paths = write(tables, args.out, tuple(args.format.split(",")))
    for path in paths:
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"{args.activities:,} activities in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
