"""Matching a message to a buyer (pure): which keys to look up, and what the hits mean.

domain.md: "When an unknown email arrives, first look the sender up." In order: the
exact address; else the company domain (free-mail domains such as gmail.com never group
buyers); else the same company name; else a new buyer. The lookups themselves are
indexed queries done by the caller (queries.buyer_candidates); this module only
decides, and says why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.errors import ConfigError
from daemon.types import Classification, Extracted, Kind, Mail, Reason

# Legal forms and filler dropped before comparing company names.
_LEGAL = re.compile(
    r"\b(co|company|corp|corporation|inc|incorporated|llc|l\.l\.c|ltd|limited|gmbh|ag|sa|"
    r"s\.a|sas|sarl|srl|s\.r\.l|spa|s\.p\.a|bv|b\.v|nv|oy|ab|as|plc|pty|pte|fze|fzco|fzc|"
    r"fz-llc|est|establishment|trading|import|export|imports|exports|group|"
    r"ltda|cia|sl|s\.l|ooo|зао|ооо|ип)\b\.?", re.IGNORECASE)
# Chinese legal forms stand at the end with no space before them.
_CJK_LEGAL = re.compile(r"(股份有限公司|有限责任公司|有限公司|公司|集团|商行|厂)$")


@dataclass(frozen=True, slots=True)
class MatchingRules:
    free_mail: frozenset[str]

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str) -> MatchingRules:
        domains = data.get("free_mail_domains")
        if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
            raise ConfigError(f"{source}: free_mail_domains must be a list of domains")
        unknown = set(data) - {"free_mail_domains"}
        if unknown:
            raise ConfigError([f"{source}: unknown key '{k}'" for k in sorted(unknown)])
        return cls(frozenset(d.strip().lower() for d in domains))


@dataclass(frozen=True, slots=True)
class Lookup:
    """What to look the buyer up by; empty strings mean "not by this"."""

    address: str = ""
    domain: str = ""
    company_key: str = ""
    company: str = ""
    contact_name: str = ""


@dataclass(frozen=True, slots=True)
class BuyerRef:
    id: int
    company: str = ""
    status: str = "active"


@dataclass(frozen=True, slots=True)
class Candidates:
    by_address: BuyerRef | None = None
    by_domain: tuple[BuyerRef, ...] = ()
    by_company: tuple[BuyerRef, ...] = ()


@dataclass(frozen=True, slots=True)
class BuyerMatch:
    buyer_id: int | None            # None: a new buyer is to be created
    how: str                        # address, domain, company, new, none
    lookup: Lookup
    reasons: tuple[Reason, ...]


def company_key(name: str) -> str:
    """Fold a company name for comparison: case, accents, legal forms, punctuation."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _CJK_LEGAL.sub("", _LEGAL.sub(" ", text).strip())
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def grouping_key(address: str, rules: MatchingRules) -> str:
    """What buyers are grouped by for this address: its domain, or the address itself
    at a free-mail domain. Instances sharing a database serialise on it, so that two
    mails from one new company never make two buyers."""
    address = address.lower()
    domain = address.rpartition("@")[2]
    return address if not domain or domain in rules.free_mail else domain


def lookup_for(mail: Mail, classification: Classification, extracted: Extracted,
               rules: MatchingRules, own_domains: Iterable[str]) -> Lookup:
    """The keys for this message; a bounce is about the address that failed."""
    own = {d.lower() for d in own_domains}
    address = _concerned_address(mail, classification)
    if not address or address.rpartition("@")[2] in own:
        address = ""
    domain = address.rpartition("@")[2] if address else ""
    if domain in rules.free_mail:
        domain = ""  # gmail.com groups nobody
    company = extracted.company
    contact = extracted.contact_name or (mail.from_.name if mail.from_ else "")
    if classification.platform is not None:
        company = classification.platform.buyer_company or company
        contact = classification.platform.buyer_name or contact
    return Lookup(address, domain, company_key(company) if company else "", company, contact)


def _concerned_address(mail: Mail, classification: Classification) -> str:
    if classification.kind is Kind.BOUNCE:
        return classification.bounced[0] if classification.bounced else ""
    if classification.kind is Kind.PLATFORM:
        return ""  # the sender is the platform, not the buyer
    if classification.kind in (Kind.INQUIRY, Kind.REPLY) and mail.reply_to:
        return mail.reply_to[0].email  # buyers who write from one address, answer to another
    return mail.from_.email if mail.from_ else ""


def decide(lookup: Lookup, candidates: Candidates, *, may_create: bool) -> BuyerMatch:
    """The buyer this message belongs to, or a new one, with the reason."""
    if candidates.by_address is not None:
        return BuyerMatch(candidates.by_address.id, "address", lookup,
                          (Reason("known-address", f"known address {lookup.address}"),))
    if len(candidates.by_domain) >= 1:
        hit = candidates.by_domain[0]
        return BuyerMatch(hit.id, "domain", lookup, (Reason(
            "company-domain", f"same company domain {lookup.domain} as buyer "
                              f"#{hit.id} {hit.company}".rstrip()),))
    if len(candidates.by_company) == 1:
        hit = candidates.by_company[0]
        return BuyerMatch(hit.id, "company", lookup, (Reason(
            "company-name", f"same company name as buyer #{hit.id} {hit.company}"),))
    if not may_create or not (lookup.address or lookup.company_key or lookup.contact_name):
        return BuyerMatch(None, "none", lookup, (Reason("no-buyer", "not matched to a buyer"),))
    who = lookup.address or lookup.company or lookup.contact_name
    why = f"new buyer {who}"
    if len(candidates.by_company) > 1:
        why += f" ({len(candidates.by_company)} buyers share that company name: not merged)"
    return BuyerMatch(None, "new", lookup, (Reason("new-buyer", why),))
