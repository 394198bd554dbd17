"""Who is who: addresses, domains, sides and accounts.

The rules of spec section 1 live here and nowhere else. ``classify`` derives
each person's key, side (us, them, excluded) and account from what the imports
stored and from the settings, so changing a setting and calling it again is all
it takes to re-read the whole store under the new rule.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from email.utils import getaddresses

import duckdb
import pyarrow as pa
from publicsuffixlist import PublicSuffixList

from rapport.settings import Settings

# Public mail services: their domains never create or match an account.
FREEMAIL = frozenset(
    """
    gmail.com googlemail.com outlook.com hotmail.com hotmail.co.uk live.com msn.com
    yahoo.com yahoo.co.uk yahoo.fr yahoo.de ymail.com aol.com icloud.com me.com
    mac.com proton.me protonmail.com gmx.com gmx.de gmx.net web.de mail.com
    zoho.com yandex.com yandex.ru mail.ru qq.com 163.com 126.com fastmail.com
    hey.com tutanota.com orange.fr free.fr laposte.net t-online.de libero.it
    comcast.net verizon.net att.net sbcglobal.net btinternet.com
    """.split()
)

# Shared hosts where each customer has a name of its own below the domain.
TENANT_DOMAINS = frozenset({"onmicrosoft.com", "mail.onmicrosoft.com", "sharepoint.com",
                            "my.salesforce.com", "hubspot.com"})

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@functools.lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # The list ships inside the publicsuffixlist package; nothing is fetched.
    return PublicSuffixList()


def normalize_email(text: str | None) -> str | None:
    """The lower-case bare address in *text*, or None when there is none."""
    if not text:
        return None
    text = text.strip()
    if "<" in text or "," in text or " " in text:
        pairs = [addr for _, addr in getaddresses([text]) if addr]
        text = pairs[0] if pairs else ""
    text = text.strip().strip("'\"").lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:"):]
    return text if _EMAIL.match(text) else None


def email_domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower().rstrip(".")


@functools.lru_cache(maxsize=100_000)
def registrable_domain(domain: str | None) -> str | None:
    """The domain a company registered: gen.pge.com -> pge.com."""
    if not domain:
        return None
    domain = domain.lower().strip().rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    found = _psl().privatesuffix(domain) or domain
    if found in TENANT_DOMAINS and domain != found:
        # contoso.onmicrosoft.com is Contoso's own, not one account for all tenants.
        found = domain[: -len(found) - 1].rsplit(".", 1)[-1] + "." + found
    return found


def domain_from_url(url: str | None) -> str | None:
    """The registrable domain of a website such as https://www.contoso.com/x."""
    if not url:
        return None
    host = re.sub(r"^[a-z]+://", "", url.strip().lower()).split("/")[0].split(":")[0]
    return registrable_domain(host) if "." in host else None


def in_domains(domain: str | None, domains: list[str]) -> bool:
    """True when *domain* is one of *domains* or a subdomain of one.

    ``eu.ourco.com`` is in ``ourco.com``; ``ourco.com.evil.io`` is not.
    """
    if not domain:
        return False
    return any(domain == d or domain.endswith("." + d) for d in domains)


def is_automated(address: str | None, pattern: str) -> bool:
    if not address:
        return False
    return re.match(pattern, address.split("@", 1)[0], re.IGNORECASE) is not None


def side_of(address: str | None, crm_kind: str, opted_out: bool, settings: Settings) -> str:
    """us, them or excluded for one person (spec section 1)."""
    domain = email_domain(address)
    if opted_out or (address and address in settings.excluded_addresses):
        return "excluded"
    if in_domains(domain, settings.excluded_domains):
        return "excluded"
    if is_automated(address, settings.automated_sender_pattern):
        return "excluded"
    if crm_kind == "user" or in_domains(domain, settings.internal_domains):
        return "us"
    return "them"


def infer_internal_domains(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """Internal domains as the importer infers them while no person set them.

    The users' domains of a CRM export, plus the most common sender domain of
    the mailbox imports.
    """
    domains: Counter[str] = Counter()
    for (email,) in con.execute(
        "SELECT email FROM people WHERE crm_kind = 'user' AND email IS NOT NULL"
    ).fetchall():
        reg = registrable_domain(email_domain(email))
        if reg and reg not in FREEMAIL:
            domains[reg] += 1_000_000
    rows = con.execute(
        """
        SELECT p.email, count(*) AS n
        FROM activity_parties ap JOIN people p USING (person_id)
        JOIN activities a USING (activity_id)
        WHERE ap.role = 'sender' AND a.type = 'email' AND p.email IS NOT NULL
          AND a.activity_id LIKE 'msg:%'
        GROUP BY p.email
        """
    ).fetchall()
    senders: Counter[str] = Counter()
    for email, n in rows:
        reg = registrable_domain(email_domain(email))
        if reg and reg not in FREEMAIL:
            senders[reg] += n
    if senders:
        top, _ = senders.most_common(1)[0]
        domains[top] += 1
    return sorted(domains)


def classify(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Recompute person_key, side and account_id of every person.

    Also rebuilds the accounts that exist only because of a domain (source
    'domain'), so a changed internal or excluded domain takes effect at once.
    """
    crm_accounts = con.execute(
        "SELECT account_id, domain FROM accounts WHERE source <> 'domain'"
    ).fetchall()
    by_domain = {d: a for a, d in crm_accounts if d}
    people = con.execute(
        "SELECT person_id, email, crm_kind, crm_account_id, opted_out FROM people"
    ).fetchall()
    updates = []
    new_accounts: dict[str, str] = {}
    for person_id, email, crm_kind, crm_account_id, opted_out in people:
        side = side_of(email, crm_kind, bool(opted_out), settings)
        key = email.lower() if email else person_id
        account = None
        if side == "them":
            account = crm_account_id
            reg = registrable_domain(email_domain(email))
            if account is None and reg and reg not in FREEMAIL:
                account = by_domain.get(reg)
                if account is None:
                    account = "domain:" + reg
                    new_accounts[account] = reg
        updates.append((person_id, key, side, account))
    # One human, one account: rows sharing a key (a CRM contact and the bare
    # address a mailbox brought) take the account the CRM names.
    crm_account_of_key = {
        key: account for (person_id, key, side, account), row in zip(updates, people)
        if row[3] is not None and side == "them"
    }
    updates = [
        (person_id, key, side, crm_account_of_key.get(key, account) if side == "them" else None)
        for person_id, key, side, account in updates
    ]
    con.execute("DELETE FROM accounts WHERE source = 'domain'")
    if new_accounts:
        con.executemany(
            "INSERT INTO accounts (account_id, name, domain, source) VALUES (?, ?, ?, 'domain')",
            [(acc, dom, dom) for acc, dom in sorted(new_accounts.items())],
        )
    if updates:
        columns = list(zip(*updates))
        frame = pa.table(
            {name: pa.array(col, pa.string()) for name, col in
             zip(("person_id", "person_key", "side", "account_id"), columns)}
        )
        con.register("_classified", frame)
        con.execute(
            """
            UPDATE people SET person_key = c.person_key, side = c.side,
                              account_id = c.account_id
            FROM _classified c WHERE people.person_id = c.person_id
            """
        )
        con.unregister("_classified")


def refresh(con: duckdb.DuckDBPyConnection) -> Settings:
    """Infer internal domains where no person set them, then classify."""
    from rapport import settings as settings_mod

    current = settings_mod.load(con)
    if current.internal_domains_inferred:
        inferred = infer_internal_domains(con, current)
        if inferred != current.internal_domains:
            current = settings_mod.save(
                con, internal_domains=inferred, internal_domains_inferred=True
            )
    classify(con, current)
    return current
