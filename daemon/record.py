"""Recording what understanding decided (I/O, database), inside the message's unit of work.

Creates or updates the buyer and their address, records the inquiry with its grade and
reasons, keeps the buyer's grade history, and marks addresses that bounced or asked to
unsubscribe. A grade a salesperson set by hand is never silently replaced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.match_buyer import company_key
from daemon.models import Buyer, BuyerAddress, Event, GradeChange, Inquiry, Message
from daemon.types import Extracted, Kind, Mail, Reason
from daemon.understand import GRADED, Decision


def record(session: Session, message: Message, mail: Mail, decision: Decision,
           now: datetime) -> Inquiry | None:
    message.kind = decision.kind.value
    buyer = _buyer(session, decision, now)
    message.buyer_id = buyer.id if buyer else None
    inquiry = None
    if buyer is not None and decision.kind in GRADED and decision.grade is not None:
        inquiry = _inquiry(session, message, buyer, decision)
        _contact(buyer, decision, mail, now)
    if buyer is not None:
        _address_status(session, decision)
    session.add(Event(name=f"message_{decision.kind.value}", message_id=message.id,
                      buyer_id=message.buyer_id,
                      data={"reasons": reasons_json(decision.classification.reasons)}))
    return inquiry


def _buyer(session: Session, decision: Decision, now: datetime) -> Buyer | None:
    match = decision.match
    if match.buyer_id is not None:
        buyer = session.get_one(Buyer, match.buyer_id)
    elif match.how == "new":
        lookup = match.lookup
        buyer = Buyer(company=lookup.company, company_key=lookup.company_key,
                      contact_name=lookup.contact_name, first_contact_at=now,
                      source=_source(decision))
        session.add(buyer)
        session.flush()
    else:
        return None
    if match.lookup.address and match.how in ("new", "domain", "company"):
        session.add(BuyerAddress(buyer_id=buyer.id, address=match.lookup.address,
                                 domain=match.lookup.address.rpartition("@")[2]))
    if not buyer.country and decision.country:
        buyer.country, buyer.region = decision.country, decision.region
    if not buyer.company and match.lookup.company:
        buyer.company, buyer.company_key = match.lookup.company, company_key(match.lookup.company)
    return buyer


def _source(decision: Decision) -> str:
    lead = decision.classification.platform
    return lead.platform if lead is not None else "email"


def _inquiry(session: Session, message: Message, buyer: Buyer, decision: Decision) -> Inquiry:
    assert decision.grade is not None
    inquiry = Inquiry(buyer_id=buyer.id, message_id=message.id, grade=decision.grade.grade,
                      reasons=reasons_json(decision.grade.reasons),
                      products=[{"sku": p.sku, "name": p.name, "matched": p.matched}
                                for p in decision.extracted.products],
                      terms=terms_json(decision.extracted), kind=decision.kind.value,
                      country=decision.country)
    session.add(inquiry)
    session.flush()
    if buyer.grade_source != "override" and buyer.grade != decision.grade.grade:
        buyer.grade = decision.grade.grade
        session.add(GradeChange(buyer_id=buyer.id, grade=buyer.grade, source="auto",
                                inquiry_id=inquiry.id, reasons=inquiry.reasons))
    return inquiry


def _contact(buyer: Buyer, decision: Decision, mail: Mail, now: datetime) -> None:
    when = min(mail.date, now) if mail.date else now
    if buyer.first_contact_at is None or when < buyer.first_contact_at:
        buyer.first_contact_at = when
    if buyer.last_contact_at is None or when > buyer.last_contact_at:
        buyer.last_contact_at = when
    if not buyer.language and decision.extracted.language:
        buyer.language = decision.extracted.language


def _address_status(session: Session, decision: Decision) -> None:
    status = {Kind.UNSUBSCRIBE: "unsubscribed"}.get(decision.kind)
    if decision.kind is Kind.BOUNCE and decision.classification.permanent_failure:
        status = "bounced"
    address = decision.match.lookup.address
    if status and address:
        row = session.scalars(select(BuyerAddress).where(BuyerAddress.address == address)).first()
        if row is not None:
            row.status = status


def set_grade(session: Session, buyer: Buyer, grade: str, *, by: str, why: str) -> None:
    """A salesperson's grade: kept until they change it again."""
    buyer.grade, buyer.grade_source = grade, "override"
    session.add(GradeChange(buyer_id=buyer.id, grade=grade, source="override", by=by,
                            reasons=[{"rule": "override", "text": why}]))


def reasons_json(reasons: tuple[Reason, ...]) -> list[dict[str, str]]:
    return [{"rule": r.rule, "text": r.text} for r in reasons]


def terms_json(x: Extracted) -> dict[str, Any]:
    return {
        "quantities": [{"amount": q.amount, "unit": q.unit, "sku": q.sku} for q in x.quantities],
        "target_prices": [{"amount": str(m.amount), "currency": m.currency}
                          for m in x.target_prices],
        "incoterms": [{"term": i.term, "place": i.place} for i in x.incoterms],
        "delivery": x.delivery.isoformat() if x.delivery else x.delivery_text or None,
        "payment_terms": list(x.payment_terms),
        "requests": sorted(x.requests),
        "language": x.language,
    }
