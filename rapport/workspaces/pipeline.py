"""The sales-pipeline workspace: a public CRM pipeline with generated activity.

The records are real sample data: the accounts, sellers, managers, products
and 8,800 opportunities of the "CRM + Sales + Opportunities" data set copied
into ``data/samples/pipeline/`` (see its SOURCE.md). That data set has no
e-mails, meetings or calls, so this module **generates** them, together with
2 to 4 customer contacts per account. Everything generated follows from the
seed: the same seed gives the same database.

The activity is meant to look like a sales team's, not to encode the outcome.
Each deal draws a hidden *engagement* from a normal distribution whose mean is
a little higher for deals the data set marks as won than for lost ones (the
two distributions overlap widely), plus a per-seller and per-account habit.
Engagement moves the cadence of our e-mails and calls, how often and how fast
the customer replies, and how many meetings there are. Lost deals go quiet
before they close (the customer stops answering while the seller follows up);
some won deals have quiet stretches too. So activity tells something about
the outcome, as it does in real pipelines, but no count or ratio decides it.

``docs/pipeline.md`` describes what is generated and how.

Examples
--------
>>> from rapport.workspaces import pipeline
>>> summary = pipeline.build("data/pipeline.duckdb")      # doctest: +SKIP
>>> summary["opportunities"], summary["as_of"]             # doctest: +SKIP
(8800, '2017-12-31T23:59:59Z')
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import math
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ingest.base import Batch, write_batches
from rapport import store

Progress = Callable[[float, str], None]

SAMPLE_DIR = store.PROJECT_ROOT / "data" / "samples" / "pipeline"
CSV_FILES = ("accounts.csv", "products.csv", "sales_pipeline.csv", "sales_teams.csv")
LAYOUT = "pipeline workspace"
# Bump when the generator changes what it writes: the import checksum includes
# it, so a database built by an older generator is not mistaken for this one.
GENERATOR_VERSION = 1

OUR_DOMAIN = "hardware-co.example"
MEMORY_LIMIT = "2GB"  # DuckDB's working memory while the workspace is stored
# The data set's last date (the latest close date). Completed activities end
# here; only scheduled ones (the next steps of open deals) lie after it.
AS_OF = dt.datetime(2017, 12, 31, 23, 59, 59)
FIRST_DAY = dt.datetime(2016, 10, 1)

PRODUCT_ALIASES = {"GTXPro": "GTX Pro"}
SECTOR_FIXES = {"technolgy": "technology"}
COUNTRY_FIXES = {"Philipines": "Philippines"}

# Standard-time UTC offsets (hours) of the working day, by regional office
# and by the customer's country. Daylight saving is ignored.
REGION_OFFSETS = {"Central": -6, "East": -5, "West": -8}
COUNTRY_OFFSETS = {
    "United States": -6, "Kenya": 3, "Philippines": 8, "Japan": 9, "Italy": 1,
    "Norway": 1, "Korea": 9, "Jordan": 2, "Brazil": -3, "Germany": 1,
    "Panama": -5, "Belgium": 1, "Romania": 2, "Poland": 1, "China": 8,
}

FIRST_NAMES = (
    "Alex Amira Ben Carla Chen Dana Diego Elena Emeka Farah Grace Hana Ivan "
    "Jamal Jana Kai Laura Liam Lucia Maya Mateo Nadia Noah Olga Omar Priya "
    "Quinn Rosa Sam Sara Tariq Tom Uma Vera Wes Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Adler Baker Castro Dubois Eriksen Fischer Garcia Haddad Ito Jensen Kaur "
    "Kowalski Lambert Moreau Nakamura Novak Okafor Olsen Park Petrov Quinn "
    "Rossi Santos Schmidt Silva Tanaka Ueda Varga Weber Xu Yilmaz Zhang"
).split()

SUBJECTS = {
    "early": ("Introduction: {product} for {account}", "{account} and {product}: next steps",
              "Following our first conversation", "Your requirements for {product}"),
    "middle": ("{product} pricing", "Technical questions on {product}",
               "Proposal for {account}", "Updated quote for {product}",
               "Delivery timeline", "References from similar customers"),
    "late": ("Contract for {product}", "Final terms for {account}", "Purchase order"),
    "chase": ("Checking in", "Any update on {product}?", "Following up on our proposal"),
    "theirs": ("Question about {product}", "Budget approval", "Request: updated quote",
               "Internal review of {product}", "Who else should be involved?"),
    "won": ("Thank you, {account}", "Welcome aboard: delivery of {product}"),
    "lost": ("Thanks for letting us know",),
    "decision": ("Our decision on {product}",),
}
MEETINGS = {
    "kickoff": "Kickoff: {account}",
    "middle": ("{product} demo", "Requirements workshop", "Review of proposal",
               "Technical deep dive"),
    "won": ("Negotiation: {product}", "Contract signing"),
    "lost": ("Proposal presentation",),
}


@dataclass
class Seller:
    person_id: str
    name: str
    email: str
    manager_id: str | None
    region: str
    offset: int
    cadence: float = 0.0  # habit: log-multiplier of this seller's cadence


@dataclass
class Contact:
    person_id: str
    name: str
    email: str | None
    account_id: str | None


@dataclass
class Account:
    account_id: str
    name: str
    domain: str
    offset: int
    contacts: list[Contact] = field(default_factory=list)
    warmth: float = 0.0  # habit: how readily this customer answers


@dataclass
class Deal:
    opportunity_id: str
    state: str
    product: str
    owner: Seller
    account: Account | None
    created: dt.datetime
    closed: dt.datetime | None
    stakeholders: list[Contact]
    team: list[Seller]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _rng(seed: int, key: str) -> random.Random:
    # String seeds are hashed with SHA-512, so they do not depend on
    # PYTHONHASHSEED: the same seed and key give the same draws everywhere.
    return random.Random(f"{seed}:{key}")


def _read_csv(folder: Path, name: str) -> list[dict]:
    with open(folder / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _checksum(folder: Path, seed: int, limit: int | None) -> str:
    digest = hashlib.sha256(f"{LAYOUT}|{GENERATOR_VERSION}|{seed}|{limit}".encode())
    for name in CSV_FILES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _day(text: str) -> dt.datetime | None:
    return dt.datetime.strptime(text, "%Y-%m-%d") if text else None


# ---------------------------------------------------------------------------
# Records: accounts, people, opportunities


def _accounts(rows: list[dict], seed: int, batch: Batch) -> dict[str, Account]:
    ids = {row["account"]: "acct-" + _slug(row["account"]) for row in rows}
    accounts: dict[str, Account] = {}
    for row in rows:
        name = row["account"]
        country = COUNTRY_FIXES.get(row["office_location"], row["office_location"])
        account = Account(ids[name], name, _slug(name) + ".example",
                          COUNTRY_OFFSETS.get(country, 0))
        rng = _rng(seed, "account:" + name)
        account.warmth = rng.gauss(0.0, 0.35)
        account.contacts = _contacts(account, rng)
        accounts[name] = account
        batch.add("accounts", {
            "account_id": account.account_id, "name": name, "domain": account.domain,
            "industry": SECTOR_FIXES.get(row["sector"], row["sector"]),
            "employees": int(row["employees"]) if row["employees"] else None,
            "revenue": float(row["revenue"]) if row["revenue"] else None,
            "country": country, "parent_id": ids.get(row["subsidiary_of"]),
            "source": LAYOUT,
        })
        for contact in account.contacts:
            batch.add("people", {
                "person_id": contact.person_id, "name": contact.name,
                "email": contact.email, "crm_kind": "contact",
                "crm_account_id": account.account_id,
            })
    return accounts


def _contacts(account: Account, rng: random.Random) -> list[Contact]:
    contacts, used = [], set()
    for n in range(1, rng.randint(2, 4) + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        while (first, last) in used:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        used.add((first, last))
        email = f"{first}.{last}@{account.domain}".lower()
        contacts.append(Contact(f"{account.account_id.replace('acct-', 'contact-')}-{n}",
                                f"{first} {last}", email, account.account_id))
    return contacts


def _sellers(rows: list[dict], seed: int, batch: Batch) -> dict[str, Seller]:
    def person(name: str, manager_id: str | None, region: str) -> Seller:
        email = ".".join(_slug(part) for part in name.split()) + "@" + OUR_DOMAIN
        seller = Seller("user-" + _slug(name), name, email, manager_id, region,
                        REGION_OFFSETS.get(region, -6))
        seller.cadence = _rng(seed, "seller:" + name).gauss(0.0, 0.25)
        batch.add("people", {
            "person_id": seller.person_id, "name": name, "email": email,
            "crm_kind": "user", "manager_id": manager_id, "region": region,
        })
        return seller

    sellers: dict[str, Seller] = {}
    for row in rows:
        if row["manager"] not in sellers:
            sellers[row["manager"]] = person(row["manager"], None, row["regional_office"])
    for row in rows:
        manager = sellers[row["manager"]]
        sellers[row["sales_agent"]] = person(row["sales_agent"], manager.person_id,
                                             row["regional_office"])
    return sellers


def _deal(row: dict, seed: int, accounts, sellers, prices, batch: Batch) -> Deal:
    rng = _rng(seed, "deal:" + row["opportunity_id"])
    product = PRODUCT_ALIASES.get(row["product"], row["product"])
    owner = sellers[row["sales_agent"]]
    account = accounts.get(row["account"])
    state = {"Won": "won", "Lost": "lost"}.get(row["deal_stage"], "open")
    created = _day(row["engage_date"])
    if created is None:
        # Prospecting deals have no engage date; they were opened recently.
        created = dt.datetime(2017, 12, 31) - dt.timedelta(days=rng.randint(4, 75))
    closed = _day(row["close_date"]) if state != "open" else None
    if account is not None:
        count = rng.randint(1, min(3, len(account.contacts)))
        stakeholders = rng.sample(account.contacts, count)
    else:
        # No account in the CRM: a prospect known by name and phone only.
        stakeholders = [Contact("contact-prospect-" + row["opportunity_id"].lower(),
                                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                                None, None)]
        batch.add("people", {"person_id": stakeholders[0].person_id,
                             "name": stakeholders[0].name, "email": None,
                             "crm_kind": "contact"})
    team = [owner]
    manager = next((s for s in sellers.values() if s.person_id == owner.manager_id), None)
    big = prices.get(product, 0) >= 3000
    if manager and (product == "GTK 500" or (big and rng.random() < 0.3)):
        team.append(manager)
    # Won deals carry the closing value; open and lost ones the list price,
    # as a CRM's estimated revenue (the data set records 0 for lost deals).
    amount = float(row["close_value"]) if state == "won" else float(prices.get(product, 0))
    deal = Deal(row["opportunity_id"], state, product, owner, account, created, closed,
                stakeholders, team)
    name = f"{account.name}: {product}" if account else f"{product} (prospect)"
    batch.add("opportunities", {
        "opportunity_id": deal.opportunity_id, "name": name,
        "account_id": account.account_id if account else None,
        "contact_id": stakeholders[0].person_id, "owner_id": owner.person_id,
        "state": state, "amount": amount, "product": product,
        "created_at": created, "closed_at": closed,
    })
    for member in team:
        batch.add("opportunity_members", {"opportunity_id": deal.opportunity_id,
                                          "person_id": member.person_id, "role": "team"})
    for contact in stakeholders:
        batch.add("opportunity_members", {"opportunity_id": deal.opportunity_id,
                                          "person_id": contact.person_id,
                                          "role": "stakeholder"})
    return deal


# ---------------------------------------------------------------------------
# Activity: one deal's e-mails, meetings and calls


@dataclass
class _Mail:
    message_id: str
    refs: str
    at: dt.datetime


class _DealStory:
    """Generates the activity of one deal into a batch.

    Our cadence and the customer's replies depend on a hidden engagement drawn
    per deal; see the module docstring. Every activity lies between the
    deal's creation and the end of its close day (open deals: ``AS_OF``),
    except a last e-mail in the few days after a close and the scheduled next
    steps of open deals.
    """

    def __init__(self, deal: Deal, rng: random.Random, batch: Batch):
        self.deal, self.rng, self.batch = deal, rng, batch
        self.count = 0
        self.start = deal.created
        if deal.closed is not None:
            self.limit = min(deal.closed + dt.timedelta(days=1, microseconds=-1), AS_OF)
            self.end = min(deal.closed + dt.timedelta(hours=18 - deal.owner.offset), AS_OF)
        else:
            self.limit = self.end = AS_OF
        self.life = max((self.end - self.start).total_seconds() / 86400, 0.5)
        fate = deal.state
        if fate == "open":  # where it is heading
            fate = "won" if rng.random() < 0.6 else "lost"
        self.engagement = rng.gauss({"won": 0.35, "lost": -0.35}[fate], 1.0)
        warmth = deal.account.warmth if deal.account else -0.3
        self.p_reply = _sigmoid(-0.1 + 0.9 * self.engagement + warmth)
        self.reply_hours = math.exp(math.log(5.0) - 0.35 * self.engagement)
        self.silence = self._silence(fate)
        # Open deals stall: after their active weeks both sides write less.
        self.active_until = (self.start + dt.timedelta(days=rng.uniform(30, 90))
                             if deal.state == "open" else self.end)

    def _silence(self, fate: str) -> tuple[dt.datetime, dt.datetime, float] | None:
        """A stretch where the customer rarely answers: (from, to, factor)."""
        rng = self.rng
        if self.deal.state == "lost":
            days = min(max(rng.uniform(0.2, 0.6) * self.life, 3.0), 40.0, self.life * 0.8)
            return self.end - dt.timedelta(days=days), self.end + dt.timedelta(days=5), 0.12
        if self.deal.state == "won" and rng.random() < 0.3:
            days = rng.uniform(0.1, 0.3) * self.life
            begin = self.start + dt.timedelta(days=rng.uniform(0.1, 0.6) * self.life)
            return begin, begin + dt.timedelta(days=days), 0.45
        return None

    # -- helpers -------------------------------------------------------------

    def _customer_factor(self, t: dt.datetime) -> float:
        factor = 1.0 if t <= self.active_until else 0.25
        if self.silence and self.silence[0] <= t <= self.silence[1]:
            factor *= self.silence[2]
        return factor

    def _our_factor(self, t: dt.datetime) -> float:
        return 1.0 if t <= self.active_until else 0.25

    def _times(self, per_week: float, factor) -> list[dt.datetime]:
        """Moments of a Poisson process over the deal's life, thinned by *factor*."""
        rng, moments = self.rng, []
        t = self.start
        while True:
            t += dt.timedelta(days=rng.expovariate(per_week / 7.0))
            if t >= self.end:
                return moments
            if rng.random() < factor(t):
                moments.append(t)

    def _at_work(self, t: dt.datetime, offset: int) -> dt.datetime:
        """A random moment of the working day (8-18 local) of *t*'s local date."""
        local = (t + dt.timedelta(hours=offset)).date()
        while local.weekday() >= 5:
            local += dt.timedelta(days=1)
        minutes = self.rng.randint(8 * 60, 18 * 60 - 1)
        midnight = dt.datetime.combine(local, dt.time())
        return midnight + dt.timedelta(minutes=minutes, hours=-offset)

    def _next_open(self, t: dt.datetime, offset: int) -> dt.datetime:
        """*t* when it falls in working hours, else the next working morning."""
        local = t + dt.timedelta(hours=offset)
        if local.weekday() < 5 and 8 <= local.hour < 18:
            return t
        day = local.date() if local.hour < 8 else local.date() + dt.timedelta(days=1)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        morning = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(
            minutes=self.rng.randint(0, 90))
        return morning - dt.timedelta(hours=offset)

    def _subject(self, kind: str, t: dt.datetime | None = None) -> str:
        if kind == "ours" and t is not None:
            share = (t - self.start).total_seconds() / 86400 / self.life
            if self.silence and self.silence[0] <= t and self.deal.state == "lost":
                kind = "chase"
            else:
                kind = "early" if share < 0.25 else "middle" if share < 0.75 else "late"
        options = SUBJECTS.get(kind) or MEETINGS[kind]
        text = options if isinstance(options, str) else self.rng.choice(options)
        account = self.deal.account.name if self.deal.account else "your team"
        return text.format(product=self.deal.product, account=account)

    def _regarding(self) -> tuple[str | None, str | None]:
        if self.rng.random() < 0.85:
            return "opportunity", self.deal.opportunity_id
        return None, None

    def _add(self, kind: str, at, state="completed", *, limit=None, **columns) -> str | None:
        """One activity row; None when *at* falls outside the deal's bounds."""
        if state == "completed" and not (self.start <= at <= (limit or self.limit)):
            return None
        if state == "completed" and at > AS_OF:
            return None
        self.count += 1
        activity_id = columns.pop("activity_id", None) or (
            f"{kind[:4]}-{self.deal.opportunity_id.lower()}-{self.count}")
        regarding_type, regarding_id = self._regarding()
        row = {
            "activity_id": activity_id, "type": kind, "subject": None, "start_at": at,
            "end_at": at, "duration_minutes": None, "state": state, "direction": None,
            "initiator_id": None, "regarding_type": regarding_type,
            "regarding_id": regarding_id, "message_id": None, "in_reply_to": None,
            "refs": None, "conversation_id": None,
        }
        row.update(columns)
        self.batch.add("activities", row)
        return activity_id

    def _party(self, activity_id: str, person_id: str, role: str) -> None:
        self.batch.add("activity_parties",
                       {"activity_id": activity_id, "person_id": person_id, "role": role})

    # -- activity kinds ------------------------------------------------------

    def _email(self, at, ours: bool, contact: Contact, subject: str,
               parent: _Mail | None = None, limit=None) -> _Mail | None:
        rng, deal = self.rng, self.deal
        sender = deal.owner.person_id if ours else contact.person_id
        if ours and len(deal.team) > 1 and rng.random() < 0.1:
            sender = deal.team[1].person_id
        domain = OUR_DOMAIN if ours else contact.email.split("@", 1)[1]
        token = f"{rng.getrandbits(32):08x}"
        message_id = f"{deal.opportunity_id}.{self.count + 1}.{token}@{domain}".lower()
        refs = f"{parent.refs} {parent.message_id}".strip() if parent else ""
        activity_id = self._add(
            "email", at, limit=limit, activity_id="msg:" + message_id, subject=subject,
            direction="outgoing" if ours else "incoming", initiator_id=sender,
            message_id=message_id, in_reply_to=parent.message_id if parent else None,
            refs=refs or None)
        if activity_id is None:
            return None
        self._party(activity_id, sender, "sender")
        self._party(activity_id, deal.owner.person_id if not ours else contact.person_id, "to")
        others = [c for c in deal.stakeholders if c is not contact and c.email]
        if others and rng.random() < 0.2:
            self._party(activity_id, rng.choice(others).person_id, "cc")
        return _Mail(message_id, refs, at)

    def _conversation(self, at, ours: bool, contact: Contact, subject: str) -> None:
        """A thread: the first mail and the replies that follow it."""
        rng, deal = self.rng, self.deal
        customer_offset = deal.account.offset if deal.account else deal.owner.offset
        parent, t = None, at
        for turn in range(6):
            text = subject if parent is None else "Re: " + subject
            mail = self._email(t, ours, contact, text, parent)
            if mail is None:
                return
            parent = mail
            if ours:  # will the customer answer?
                chance = self.p_reply * self._customer_factor(t) * (0.6 ** (turn // 2))
                if rng.random() >= chance:
                    return
                delay = rng.lognormvariate(math.log(self.reply_hours), 1.0)
                t = self._next_open(t + dt.timedelta(hours=delay), customer_offset)
            else:  # will we?
                if rng.random() >= (0.88 if turn == 0 else 0.45):
                    return
                delay = rng.lognormvariate(math.log(2.5), 0.9)
                t = self._next_open(t + dt.timedelta(hours=delay), deal.owner.offset)
            ours = not ours

    def _meeting(self, at, subject: str, state="completed", ours: bool | None = None) -> None:
        rng, deal = self.rng, self.deal
        at = at.replace(minute=0 if at.minute < 30 else 30, second=0, microsecond=0)
        minutes = rng.choice((30, 45, 60, 60, 90))
        ours = rng.random() < 0.85 if ours is None else ours
        guests = rng.sample(deal.stakeholders, rng.randint(1, min(2, len(deal.stakeholders))))
        organizer = deal.owner.person_id if ours else guests[0].person_id
        if state == "completed" and rng.random() < 0.05:
            state = "canceled"
        activity_id = self._add(
            "meeting", at, state, subject=subject, end_at=at + dt.timedelta(minutes=minutes),
            duration_minutes=float(minutes), direction="outgoing" if ours else "incoming",
            initiator_id=organizer)
        if activity_id is None:
            return
        self._party(activity_id, organizer, "organizer")
        required = [deal.owner.person_id] + [g.person_id for g in guests]
        for person_id in required:
            if person_id != organizer:
                self._party(activity_id, person_id, "required")
        if len(deal.team) > 1 and rng.random() < 0.4:
            self._party(activity_id, deal.team[1].person_id, "optional")

    def _call(self, at, ours: bool, contact: Contact, state="completed") -> None:
        rng, deal = self.rng, self.deal
        answered = rng.random() < _sigmoid(0.4 + 0.5 * self.engagement) or not ours
        minutes = max(2, round(rng.lognormvariate(math.log(12), 0.6))) if answered else 1
        caller, callee = ((deal.owner.person_id, contact.person_id) if ours
                          else (contact.person_id, deal.owner.person_id))
        subject = (f"Call with {contact.name}" if answered or state != "completed"
                   else f"Voicemail for {contact.name}")
        activity_id = self._add(
            "call", at, state, subject=subject, end_at=at + dt.timedelta(minutes=minutes),
            duration_minutes=float(minutes) if state == "completed" else None,
            direction="outgoing" if ours else "incoming", initiator_id=caller)
        if activity_id is not None:
            self._party(activity_id, caller, "caller")
            self._party(activity_id, callee, "callee")

    # -- the story -----------------------------------------------------------

    def tell(self) -> None:
        rng, deal, e = self.rng, self.deal, self.engagement
        owner_offset = deal.owner.offset
        customer_offset = deal.account.offset if deal.account else owner_offset
        mailable = [c for c in deal.stakeholders if c.email]
        if self.life >= 3 and rng.random() < _sigmoid(0.3 + 0.6 * e):
            day = self.start + dt.timedelta(days=rng.uniform(1, min(12, self.life / 2)))
            self._meeting(self._at_work(day, owner_offset), self._subject("kickoff"),
                          ours=True)
        per_week = 1.0 * math.exp(0.25 * e + deal.owner.cadence)
        for t in self._times(per_week, self._our_factor):
            at, contact = self._at_work(t, owner_offset), rng.choice(deal.stakeholders)
            if mailable and rng.random() < 0.72:
                self._conversation(at, True, rng.choice(mailable), self._subject("ours", t))
            else:
                self._call(at, True, contact)
        per_week = 0.3 * math.exp(0.6 * e + (deal.account.warmth if deal.account else 0))
        for t in self._times(per_week, self._customer_factor):
            at, contact = self._at_work(t, customer_offset), rng.choice(deal.stakeholders)
            if contact.email and rng.random() < 0.85:
                self._conversation(at, False, contact, self._subject("theirs"))
            else:
                self._call(at, False, contact)
        per_week = 0.14 * math.exp(0.45 * e)
        for t in self._times(per_week, self._customer_factor):
            self._meeting(self._at_work(t, owner_offset), self._subject("middle"))
        self._closing(mailable, owner_offset, customer_offset)
        if deal.state == "open":
            self._next_steps(owner_offset)

    def _closing(self, mailable, owner_offset, customer_offset) -> None:
        """Meetings near the close and the mails right after it."""
        rng, deal = self.rng, self.deal
        if deal.closed is None or self.life < 2:
            return
        if deal.state == "won" and rng.random() < 0.55:
            day = self.end - dt.timedelta(days=rng.uniform(0.5, min(10, self.life * 0.4)))
            self._meeting(self._at_work(day, owner_offset), self._subject("won"))
        if deal.state == "lost" and rng.random() < 0.3:
            before = self.silence[0] if self.silence else self.end
            day = before - dt.timedelta(days=rng.uniform(1, 7))
            self._meeting(self._at_work(day, owner_offset), self._subject("lost"))
        if not mailable:
            return
        contact = rng.choice(mailable)
        if deal.state == "lost" and rng.random() < 0.3:
            at = self._at_work(deal.closed, customer_offset)
            if at <= self.limit:
                self._email(at, False, contact, self._subject("decision"))
        late = deal.closed + dt.timedelta(days=4)
        if rng.random() < (0.7 if deal.state == "won" else 0.3):
            day = deal.closed + dt.timedelta(days=rng.uniform(0.5, 2.5))
            kind = "won" if deal.state == "won" else "lost"
            mail = self._email(self._at_work(day, owner_offset), True, contact,
                               self._subject(kind), limit=late)
            if mail and deal.state == "won" and rng.random() < 0.5:
                at = self._next_open(mail.at + dt.timedelta(hours=rng.uniform(1, 30)),
                                     customer_offset)
                self._email(at, False, contact, "Re: " + self._subject("won"), mail,
                            limit=late)

    def _next_steps(self, owner_offset: int) -> None:
        """Scheduled activities of open deals, in the weeks after ``AS_OF``."""
        rng, deal = self.rng, self.deal
        if rng.random() >= _sigmoid(0.2 + 0.8 * self.engagement) * 0.8:
            return
        at = self._at_work(AS_OF + dt.timedelta(days=rng.uniform(1, 21)), owner_offset)
        kind = rng.choice(("meeting", "meeting", "call", "call", "task"))
        if kind == "meeting":
            self._meeting(at, self._subject("middle"), state="scheduled", ours=True)
        elif kind == "call":
            self._call(at, True, rng.choice(deal.stakeholders), state="scheduled")
        else:
            activity_id = self._add("task", at, "scheduled",
                                    subject=f"Send updated quote for {deal.product}",
                                    initiator_id=deal.owner.person_id)
            self._party(activity_id, deal.owner.person_id, "owner")


# ---------------------------------------------------------------------------
# Building


def generate(seed: int = 7, limit: int | None = None, *, folder: Path = SAMPLE_DIR,
             progress: Progress | None = None) -> Batch:
    """The workspace's rows as one import batch, nothing written yet.

    Parameters
    ----------
    seed : int, default=7
        Seed of every generated value; the same seed gives the same rows.
    limit : int or None
        Use only the first *limit* opportunities of ``sales_pipeline.csv``
        (accounts, sellers and contacts are always complete).
    folder : Path
        Where the four CSV files are.
    progress : callable(fraction, text) or None
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be 1 or more, or None; got {limit}")
    batch = Batch(file=f"{folder.name} (generated, seed {seed})", layout=LAYOUT,
                  checksum=_checksum(folder, seed, limit))
    tables = {name: _read_csv(folder, name) for name in CSV_FILES}
    prices = {row["product"]: float(row["sales_price"]) for row in tables["products.csv"]}
    accounts = _accounts(tables["accounts.csv"], seed, batch)
    sellers = _sellers(tables["sales_teams.csv"], seed, batch)
    rows = tables["sales_pipeline.csv"][:limit]
    batch.rows_read = len(rows)
    step = max(len(rows) // 20, 1)
    for i, row in enumerate(rows):
        if progress and i % step == 0:
            progress(0.6 * i / len(rows), f"Generating activity: deal {i + 1} of {len(rows)}")
        deal = _deal(row, seed, accounts, sellers, prices, batch)
        _DealStory(deal, _rng(seed, "story:" + deal.opportunity_id), batch).tell()
    return batch


def build(path, seed: int = 7, progress: Progress | None = None, *,
          limit: int | None = None) -> dict:
    """Build the pipeline workspace into the database at *path*.

    Everything is written in one transaction (``ingest.base.write_batches``),
    as one import. Building into a database that already holds the same
    workspace (same seed and limit) adds nothing.

    Returns a summary: path, as_of (the data set's last date, ISO-8601 UTC),
    counts of opportunities, activities and people, import_id, and the
    seconds taken in all, to generate the rows and to store them (storing
    includes the import's own work: classifying people and refreshing the
    figure tables).
    """
    started = time.perf_counter()
    batch = generate(seed, limit, progress=progress)
    generated = time.perf_counter()
    con = store.connect(path)
    try:
        # The import's own work (the figure tables) can hold a lot in memory
        # at once on a pipeline this size; past this DuckDB spills to disk.
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        def storing(fraction: float, text: str) -> None:
            if progress:
                progress(0.6 + 0.4 * fraction, text)

        result = write_batches(con, [batch], progress=storing)[0]
        counts = store.table_counts(con)
    finally:
        con.close()
    return {
        "path": str(path), "as_of": AS_OF.isoformat() + "Z", "seed": seed,
        "outcome": result.outcome, "import_id": result.import_id,
        "opportunities": counts["opportunities"], "activities": counts["activities"],
        "people": counts["people"], "accounts": counts["accounts"],
        "seconds": round(time.perf_counter() - started, 1),
        "generate_seconds": round(generated - started, 1),
        "store_seconds": round(time.perf_counter() - generated, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rapport.workspaces.pipeline",
        description="Build the sales-pipeline workspace: the public CRM pipeline "
                    "with generated e-mails, meetings and calls.")
    parser.add_argument("path", help="database file to create or add to")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated activity")
    parser.add_argument("--limit", type=int, help="only the first N opportunities")
    args = parser.parse_args(argv)

    def report(fraction: float, text: str) -> None:
        print(f"\r[{fraction:6.1%}] {text[:60]:<60}", end="", file=sys.stderr, flush=True)

    summary = build(args.path, seed=args.seed, limit=args.limit, progress=report)
    print(file=sys.stderr)
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
