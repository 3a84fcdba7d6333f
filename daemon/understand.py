"""Understanding one message: classify → extract → match the buyer → grade.

Pure: the database lookups it needs come in as a `Lookups` object (the pipeline passes
real queries bound to its session; `explain` passes the same, read-only; tests pass
fakes). The result says what was decided and why; recording it is the pipeline's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from daemon import match_buyer
from daemon.classify import ClassifyContext, classify
from daemon.extract import extract
from daemon.grade import History, grade
from daemon.match_buyer import BuyerMatch, Candidates, Lookup
from daemon.rules import Rulebook
from daemon.types import Classification, Extracted, GradeResult, Kind, Mail

# Kinds that are a buyer talking about buying: extracted, graded, recorded as inquiries.
GRADED = (Kind.INQUIRY, Kind.PLATFORM, Kind.REPLY)


class Lookups(Protocol):
    def refers_to_us(self, message_ids: Sequence[str]) -> bool: ...
    def candidates(self, lookup: Lookup) -> Candidates: ...
    def history(self, buyer_id: int | None) -> History: ...


@dataclass(frozen=True, slots=True)
class Decision:
    classification: Classification
    extracted: Extracted
    match: BuyerMatch
    grade: GradeResult | None
    country: str
    region: str

    @property
    def kind(self) -> Kind:
        return self.classification.kind


def understand(mail: Mail, book: Rulebook, lookups: Lookups, *, today: date,
               own_domains: frozenset[str]) -> Decision:
    context = ClassifyContext(own_domains=own_domains,
                              refers_to_us=lookups.refers_to_us(_thread_ids(mail)))
    classification = classify(mail, book.classify, context)
    extracted = extract(mail, book.catalog, book.geo, today)
    lookup = match_buyer.lookup_for(mail, classification, extracted, book.matching, own_domains)
    about_a_buyer = _about_a_buyer(classification)
    match = match_buyer.decide(lookup, lookups.candidates(lookup), may_create=about_a_buyer)
    result = None
    if about_a_buyer:
        result = grade(mail, extracted, lookups.history(match.buyer_id), book.grading, today)
    country = extracted.country or _platform_country(classification, book)
    return Decision(classification, extracted, match, result, country,
                    book.geo.region_of(country) if country else "")


def _about_a_buyer(classification: Classification) -> bool:
    """A buyer speaking: an inquiry, a reply, or a platform lead (an RFQ digest is not)."""
    if classification.kind is Kind.PLATFORM:
        return classification.platform is not None
    return classification.kind in GRADED


def _thread_ids(mail: Mail) -> list[str]:
    return [i for i in (mail.in_reply_to, *mail.references) if i]


def _platform_country(classification: Classification, book: Rulebook) -> str:
    lead = classification.platform
    if lead is None or not lead.country:
        return ""
    code, _ = book.geo.country_from(lead.country, "", "")
    return code
