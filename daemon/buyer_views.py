"""Buyer history and the filtered buyer list (`inquiryd buyers show|list`), as plain dicts.

Read-only. Every filter of `list_buyers` runs in the database (with LIMIT/OFFSET), never
as a scan in Python; the product filter looks inside the inquiries' JSON product lists
with each engine's own JSON functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from daemon.models import (
    Buyer,
    BuyerAddress,
    Draft,
    Event,
    GradeChange,
    Inquiry,
    Message,
    StageChange,
)
from daemon.record import ADDRESS_EVENTS

MAX_LIMIT = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _skus(products: Any) -> list[str]:
    out = []
    for p in products or []:
        sku = p.get("sku") if isinstance(p, dict) else p
        if sku:
            out.append(str(sku))
    return out


def buyer_summary(buyer: Buyer) -> dict[str, Any]:
    return {
        "id": buyer.id, "company": buyer.company, "contact_name": buyer.contact_name,
        "country": buyer.country, "region": buyer.region, "city": buyer.city,
        "source": buyer.source, "type": buyer.buyer_type, "grade": buyer.grade,
        "grade_source": buyer.grade_source, "owner": buyer.owner, "status": buyer.status,
        "phone": buyer.phone, "language": buyer.language, "notes": buyer.notes,
        "created_at": _iso(buyer.created_at), "first_contact_at": _iso(buyer.first_contact_at),
        "last_contact_at": _iso(buyer.last_contact_at),
    }


def buyer_history(session: Session, buyer: Buyer) -> dict[str, Any]:
    """Everything about one buyer: addresses, grades, messages, inquiries, drafts, follow-up."""
    bid = buyer.id
    addresses = session.scalars(select(BuyerAddress).where(BuyerAddress.buyer_id == bid)
                                .order_by(BuyerAddress.id)).all()
    events = session.scalars(select(Event).where(Event.buyer_id == bid,
                                                 Event.name.in_(ADDRESS_EVENTS))
                             .order_by(Event.at, Event.id)).all()
    grades = session.scalars(select(GradeChange).where(GradeChange.buyer_id == bid)
                             .order_by(GradeChange.at, GradeChange.id)).all()
    when = func.coalesce(Message.sent_at, Message.fetched_at)
    messages = session.scalars(select(Message).where(Message.buyer_id == bid)
                               .order_by(when, Message.id)).all()
    inquiries = session.scalars(select(Inquiry).where(Inquiry.buyer_id == bid)
                                .order_by(Inquiry.created_at, Inquiry.id)).all()
    drafts = session.scalars(select(Draft).where(Draft.buyer_id == bid)
                             .order_by(Draft.created_at, Draft.id)).all()
    moves = _stage_changes(session, [i.id for i in inquiries])
    data = buyer_summary(buyer)
    data["addresses"] = [{
        "address": a.address, "status": a.status, "added_at": _iso(a.created_at),
        "history": [{"at": _iso(e.at), "name": e.name,
                     "why": (e.data or {}).get("why") or (e.data or {}).get("error", "")}
                    for e in events if (e.data or {}).get("address") in (None, a.address)],
    } for a in addresses]
    data["grades"] = [{"at": _iso(g.at), "grade": g.grade, "source": g.source, "by": g.by,
                       "inquiry_id": g.inquiry_id, "reasons": list(g.reasons or [])}
                      for g in grades]
    data["messages"] = [{"id": m.id, "date": _iso(m.sent_at or m.fetched_at),
                         "direction": m.direction, "kind": m.kind, "subject": m.subject,
                         "from": m.from_addr}
                        for m in messages]
    data["inquiries"] = [{"id": i.id, "created_at": _iso(i.created_at), "kind": i.kind,
                          "grade": i.grade, "products": _skus(i.products),
                          "stage": str(getattr(i.stage, "value", i.stage)),
                          "stage_changed_at": _iso(i.stage_changed_at),
                          "reasons": list(i.reasons or []),
                          "stage_changes": moves.get(i.id, [])}
                         for i in inquiries]
    data["drafts"] = [{"id": d.id, "kind": d.kind,
                       "state": str(getattr(d.state, "value", d.state)), "to": d.to_addr,
                       "subject": d.sent_subject or d.subject, "created_at": _iso(d.created_at),
                       "sent_at": _iso(d.sent_at), "inquiry_id": d.inquiry_id}
                      for d in drafts]
    data["followup"] = {"next_at": _iso(buyer.next_followup_at),
                        "unanswered": buyer.followups_unanswered,
                        "last_at": _iso(buyer.last_followup_at)}
    return data


def _stage_changes(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each inquiry's stage moves, oldest first: from, to, when, by whom and why."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return found
    for c in session.scalars(select(StageChange).where(StageChange.inquiry_id.in_(ids))
                             .order_by(StageChange.at, StageChange.id)):
        found.setdefault(c.inquiry_id, []).append({
            "at": _iso(c.at), "from": c.from_stage, "to": c.to_stage, "by": c.by,
            "reason": c.reason, "message_id": c.message_id, "draft_id": c.draft_id})
    return found


def _product_clause(session: Session, sku: str) -> ColumnElement[bool]:
    """Some inquiry of the buyer asked about `sku` (products are JSON lists of {"sku": ...})."""
    sku = sku.strip().upper()
    if session.get_bind().dialect.name == "postgresql":
        products = Inquiry.products.cast(JSONB)
        asked = or_(products.contains([{"sku": sku}]), products.contains([sku]))
    else:
        item = func.json_each(Inquiry.products).table_valued("value", "type").alias("p")
        value = case((item.c.type == "object", func.json_extract(item.c.value, "$.sku")),
                     else_=item.c.value)
        asked = exists(select(1).select_from(item).where(func.upper(value) == sku))
    return exists(select(Inquiry.id).where(Inquiry.buyer_id == Buyer.id, asked))


def _ilike_eq(column: Any, value: str) -> ColumnElement[bool]:
    return func.lower(column) == value.strip().lower()


def list_buyers(session: Session, *, grade: str | Sequence[str] | None = None,
                country: str | None = None, region: str | None = None,
                city: str | None = None, source: str | None = None, owner: str | None = None,
                status: str | None = None, product: str | None = None,
                last_contact_before: datetime | None = None,
                last_contact_after: datetime | None = None,
                limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Buyers matching every given filter, most recently contacted first (never-contacted last)."""
    where: list[ColumnElement[bool]] = []
    if grade:
        grades = [grade] if isinstance(grade, str) else list(grade)
        grades = [g.strip().upper() for gs in grades for g in gs.split(",") if g.strip()]
        where.append(Buyer.grade.in_(grades))
    if country:
        where.append(Buyer.country == country.strip().upper())
    if region:
        where.append(_ilike_eq(Buyer.region, region))
    if city:
        where.append(_ilike_eq(Buyer.city, city))
    if source:
        where.append(_ilike_eq(Buyer.source, source))
    if owner:
        where.append(_ilike_eq(Buyer.owner, owner))
    if status:
        where.append(Buyer.status == status.strip().lower())
    if last_contact_before is not None:
        where.append(Buyer.last_contact_at < last_contact_before)
    if last_contact_after is not None:
        where.append(Buyer.last_contact_at >= last_contact_after)
    if product:
        where.append(_product_clause(session, product))
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = (select(Buyer).where(*where)
             .order_by(Buyer.last_contact_at.desc().nulls_last(), Buyer.id)
             .limit(limit).offset(max(0, int(offset))))
    buyers = session.scalars(query).all()
    ids = [b.id for b in buyers]
    addresses: dict[int, list[str]] = {i: [] for i in ids}
    inquiry_counts: dict[int, int] = {}
    if ids:
        for bid, address in session.execute(
                select(BuyerAddress.buyer_id, BuyerAddress.address)
                .where(BuyerAddress.buyer_id.in_(ids)).order_by(BuyerAddress.id)):
            addresses[bid].append(address)
        inquiry_counts = dict(session.execute(
            select(Inquiry.buyer_id, func.count()).where(Inquiry.buyer_id.in_(ids))
            .group_by(Inquiry.buyer_id)).all())
    return [{
        "id": b.id, "company": b.company, "contact_name": b.contact_name,
        "addresses": addresses[b.id], "country": b.country, "region": b.region,
        "city": b.city, "source": b.source, "grade": b.grade, "owner": b.owner,
        "status": b.status, "last_contact_at": _iso(b.last_contact_at),
        "next_followup_at": _iso(b.next_followup_at),
        "inquiries": inquiry_counts.get(b.id, 0),
    } for b in buyers]

