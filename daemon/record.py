"""Recording what understanding decided (I/O, database), inside the message's unit of work.

Creates or updates the buyer and their address, records the inquiry with its grade and
reasons, keeps the buyer's grade history, and marks addresses that bounced or asked to
unsubscribe. A grade a salesperson set by hand is never silently replaced. A buyer's
mail in the thread of one of their deals continues that inquiry instead of starting a
new one: it is graded again and its stage moves as the mail says (daemon/deals.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import deals_record, newsletter, owners
from daemon.match_buyer import company_key
from daemon.models import Buyer, BuyerAddress, Event, GradeChange, Inquiry, Mailbox, Message
from daemon.types import Extracted, Kind, Mail, Reason
from daemon.understand import GRADED, Decision

# Events that change or explain an address's status (buyers show, buyers address).
ADDRESS_EVENTS = ("address_unsubscribed", "address_bounced", "address_active", "soft_bounce",
                  "newsletter_failed")


def record(session: Session, message: Message, mail: Mail, decision: Decision,
           now: datetime, addresses: newsletter.AddressRules | None = None,
           owner_rules: owners.OwnerRules | None = None) -> Inquiry | None:
    message.kind = decision.kind.value
    buyer = _buyer(session, decision, now)
    if buyer is not None and owner_rules is not None and not buyer.owner:
        _assign_owner(session, buyer, decision, owner_rules, message)
    message.buyer_id = buyer.id if buyer else None
    inquiry = None
    if buyer is not None and decision.kind in GRADED and decision.grade is not None:
        inquiry = _inquiry_of(session, message, mail, buyer, decision, now)
        _contact(buyer, decision, mail, now)
    if buyer is not None:
        _address_status(session, decision, message)
    rules = addresses or newsletter.AddressRules()
    _soft_bounces(session, message, decision, rules, now)
    _unsubscribe_by_token(session, message, mail, rules)
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


def _assign_owner(session: Session, buyer: Buyer, decision: Decision,
                  rules: owners.OwnerRules, message: Message) -> None:
    """A new or ownerless buyer gets an owner by the [owners] rules, with the reason."""
    skus = [p.sku for p in decision.extracted.products if p.sku]
    box = session.get(Mailbox, message.mailbox_id) if message.mailbox_id else None
    owner, why = owners.assign_owner(buyer.owner, buyer.region or decision.region, skus, rules,
                                     box.name if box else "")
    if owner:
        buyer.owner = owner
        session.add(Event(name="owner_assigned", buyer_id=buyer.id, message_id=message.id,
                          data={"owner": owner, "why": why}))


def _source(decision: Decision) -> str:
    lead = decision.classification.platform
    return lead.platform if lead is not None else "email"


def _inquiry_of(session: Session, message: Message, mail: Mail, buyer: Buyer,
                decision: Decision, now: datetime) -> Inquiry:
    """The buyer's deal this mail continues (moved as the mail says), else a new inquiry."""
    deal = deals_record.continued_deal(session, buyer.id, mail)
    if deal is None:
        return _inquiry(session, message, buyer, decision)
    inquiry, answered = deal
    _regraded(session, inquiry, buyer, decision)
    deals_record.buyer_wrote(session, inquiry, answered, message, mail,
                             decision.extracted.requests, now)
    return inquiry


def _inquiry(session: Session, message: Message, buyer: Buyer, decision: Decision) -> Inquiry:
    assert decision.grade is not None
    inquiry = Inquiry(buyer_id=buyer.id, message_id=message.id, grade=decision.grade.grade,
                      reasons=reasons_json(decision.grade.reasons),
                      products=products_json(decision.extracted),
                      terms=terms_json(decision.extracted), kind=decision.kind.value,
                      country=decision.country)
    session.add(inquiry)
    session.flush()
    _grade_buyer(session, buyer, inquiry)
    return inquiry


def _regraded(session: Session, inquiry: Inquiry, buyer: Buyer, decision: Decision) -> None:
    """The deal's grade is the latest mail's; new products join it; a term it did not
    state yet is taken from this mail (what was stated first stays until a person
    edits it, and a sample request's quantities are the samples', not the order's)."""
    assert decision.grade is not None
    x = decision.extracted
    inquiry.grade, inquiry.reasons = decision.grade.grade, reasons_json(decision.grade.reasons)
    known = {(p.get("sku") or p.get("name")) for p in inquiry.products if isinstance(p, dict)}
    added = [p for p in products_json(x) if (p["sku"] or p["name"]) not in known]
    if added:
        inquiry.products = [*inquiry.products, *added]
    terms, new = dict(inquiry.terms or {}), terms_json(x)
    terms["requests"] = sorted(set(terms.get("requests") or ()) | set(new["requests"]))
    fill = ["incoterms", "payment_terms", "target_prices", "delivery", "language"]
    fill += [] if "sample" in x.requests else ["quantities"]
    terms.update({k: new[k] for k in fill if not terms.get(k) and new.get(k)})
    inquiry.terms = terms
    if not inquiry.country and decision.country:
        inquiry.country = decision.country
    _grade_buyer(session, buyer, inquiry)


def _grade_buyer(session: Session, buyer: Buyer, inquiry: Inquiry) -> None:
    if buyer.grade_source != "override" and buyer.grade != inquiry.grade:
        buyer.grade = inquiry.grade
        session.add(GradeChange(buyer_id=buyer.id, grade=buyer.grade, source="auto",
                                inquiry_id=inquiry.id, reasons=inquiry.reasons))


def _contact(buyer: Buyer, decision: Decision, mail: Mail, now: datetime) -> None:
    when = min(mail.date, now) if mail.date else now
    if buyer.first_contact_at is None or when < buyer.first_contact_at:
        buyer.first_contact_at = when
    if buyer.last_contact_at is None or when > buyer.last_contact_at:
        buyer.last_contact_at = when
    _answered(buyer)
    if not buyer.language and decision.extracted.language:
        buyer.language = decision.extracted.language


def _answered(buyer: Buyer) -> None:
    """The buyer (or a colleague) wrote: the follow-up clock starts again, dormant wakes.

    An auto-reply never gets here (not a graded kind), so it neither stops nor answers
    a cadence. The next date is left for the follow-up job to compute from the new last
    contact (daemon/followup.py); None until then.
    """
    buyer.followups_unanswered = 0  # even crossing in the post, they are talking to us
    buyer.next_followup_at = None
    if buyer.status == "dormant":
        buyer.status = "active"


def _address_status(session: Session, decision: Decision, message: Message) -> None:
    """An unsubscribe reply marks its sender; a hard (5.x.x) bounce every failed address."""
    status, why, addresses = "", "", tuple[str, ...]()
    if decision.kind is Kind.UNSUBSCRIBE:
        status, why, addresses = "unsubscribed", "asked by reply", (decision.match.lookup.address,)
    elif decision.kind is Kind.BOUNCE and decision.classification.permanent_failure:
        status, why, addresses = "bounced", "permanent bounce", decision.classification.bounced
    for address in filter(None, addresses):
        row = session.scalars(select(BuyerAddress).where(BuyerAddress.address == address)).first()
        if row is not None and row.status != status:
            _mark(session, row, status, message, why)


def _soft_bounces(session: Session, message: Message, decision: Decision,
                  rules: newsletter.AddressRules, now: datetime) -> None:
    """A temporary (4.x.x) bounce is counted per address; enough within the window and
    the address is bounced. The count is the `soft_bounce` events, no extra column."""
    if decision.kind is not Kind.BOUNCE or decision.classification.permanent_failure:
        return
    for address in decision.classification.bounced:
        row = session.scalars(select(BuyerAddress).where(BuyerAddress.address == address)).first()
        if row is None or row.status != "active":
            continue
        session.add(Event(name="soft_bounce", buyer_id=row.buyer_id, message_id=message.id,
                          at=now, data={"address": address}))
        session.flush()
        rows = session.execute(select(Event.at, Event.data).where(
            Event.name == "soft_bounce", Event.buyer_id == row.buyer_id,
            Event.at >= now - rules.soft_bounce_window)).all()
        seen = [at for at, data in rows if (data or {}).get("address") == address]
        if newsletter.soft_bounces_exhausted(seen, now, rules):
            _mark(session, row, "bounced", message, f"{len(seen)} temporary bounces within "
                                                    f"{rules.soft_bounce_window.days} days")


def _unsubscribe_by_token(session: Session, message: Message, mail: Mail,
                          rules: newsletter.AddressRules) -> None:
    """A valid token (subject "unsubscribe TOKEN" or a +unsubscribe-TOKEN recipient)
    unsubscribes the address the newsletter went to, whoever sends the request."""
    if rules.secret is None:
        return
    recipients = [a.email for a in (*mail.to, *mail.cc)]
    for token in newsletter.find_tokens(mail.subject, recipients):
        address_id = newsletter.verify_token(rules.secret, token)
        row = session.get(BuyerAddress, address_id) if address_id is not None else None
        if row is None:
            session.add(Event(name="unsubscribe_token_refused", message_id=message.id,
                              data={"token": token}))
        elif row.status != "unsubscribed":
            _mark(session, row, "unsubscribed", message, "unsubscribe link (token)")


def _mark(session: Session, row: BuyerAddress, status: str, message: Message, why: str) -> None:
    """An address's new status, with an event a person can read (and reverse)."""
    session.add(Event(name=f"address_{status}", buyer_id=row.buyer_id, message_id=message.id,
                      data={"address": row.address, "was": row.status, "why": why}))
    row.status = status


def set_grade(session: Session, buyer: Buyer, grade: str, *, by: str, why: str) -> None:
    """A salesperson's grade: kept until they change it again."""
    buyer.grade, buyer.grade_source = grade, "override"
    session.add(GradeChange(buyer_id=buyer.id, grade=grade, source="override", by=by,
                            reasons=[{"rule": "override", "text": why}]))


def reasons_json(reasons: tuple[Reason, ...]) -> list[dict[str, str]]:
    return [{"rule": r.rule, "text": r.text} for r in reasons]


def products_json(x: Extracted) -> list[dict[str, Any]]:
    return [{"sku": p.sku, "name": p.name, "matched": p.matched} for p in x.products]


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
