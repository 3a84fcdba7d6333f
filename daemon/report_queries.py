"""Rows for the reports, read from the database (I/O); report_stats.py does the sums."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.models import Buyer, BuyerAddress, Draft, Inquiry, Message
from daemon.report_stats import BuyerRow, InquiryRow, ReplyRow


@dataclass(frozen=True)
class Period:
    """[since, until): either end open when None."""

    since: datetime | None = None
    until: datetime | None = None

    def clauses(self, column: Any) -> list[Any]:
        out = []
        if self.since is not None:
            out.append(column >= self.since)
        if self.until is not None:
            out.append(column < self.until)
        return out


def buyer_rows(session: Session, period: Period) -> list[BuyerRow]:
    """Buyers added in the period (every buyer when the period is open)."""
    stmt = select(Buyer.source, Buyer.region, Buyer.country, Buyer.buyer_type).where(
        *period.clauses(Buyer.created_at))
    return [BuyerRow(*row) for row in session.execute(stmt)]


def _product_names(products: list[Any]) -> tuple[str, ...]:
    # One count per product per inquiry, however often the buyer names it.
    names: list[str] = []
    for p in products or []:
        name = (p.get("name") or p.get("sku") or "") if isinstance(p, dict) else str(p)
        if name and name not in names:
            names.append(name)
    return tuple(names)


def inquiry_rows(session: Session, period: Period) -> list[InquiryRow]:
    stmt = select(Inquiry.grade, Inquiry.stage, Inquiry.products).where(
        *period.clauses(Inquiry.created_at))
    return [InquiryRow(grade or "", str(getattr(stage, "value", stage)), _product_names(products))
            for grade, stage, products in session.execute(stmt)]


def reply_rows(session: Session, period: Period) -> list[ReplyRow]:
    """Each incoming message that arrived in the period and got a draft: its first draft."""
    stmt = (
        select(Message.id, Message.fetched_at, Draft.created_at, Draft.approved_at,
               Draft.sent_at, Buyer.owner)
        .join(Draft, Draft.in_reply_to_message == Message.id)
        .outerjoin(Buyer, Buyer.id == func.coalesce(Draft.buyer_id, Message.buyer_id))
        .where(Message.direction == "in", *period.clauses(Message.fetched_at))
        .order_by(Message.id, Draft.created_at)
    )
    rows: dict[int, ReplyRow] = {}
    for msg_id, arrived, drafted, approved, sent, owner in session.execute(stmt):
        rows.setdefault(msg_id, ReplyRow(owner or "", arrived, drafted, approved, sent))
    return list(rows.values())


def a_grade_rows(session: Session, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """A-grade buyers with their details, last activity and messages in [since, until)."""
    buyers = session.scalars(
        select(Buyer).where(Buyer.grade == "A").order_by(Buyer.company, Buyer.id)).all()
    out = []
    for b in buyers:
        last_msg = session.scalar(select(func.max(func.coalesce(Message.sent_at, Message.fetched_at)))
                                  .where(Message.buyer_id == b.id))
        in_month = session.scalar(select(func.count()).select_from(Message).where(
            Message.buyer_id == b.id, Message.fetched_at >= since, Message.fetched_at < until))
        inquiries = session.scalar(select(func.count()).select_from(Inquiry).where(
            Inquiry.buyer_id == b.id))
        addresses = session.scalars(select(BuyerAddress.address).where(
            BuyerAddress.buyer_id == b.id).order_by(BuyerAddress.id)).all()
        known = [t for t in (b.last_contact_at, last_msg) if t is not None]
        out.append({
            "id": b.id, "company": b.company, "contact": b.contact_name,
            "email": ", ".join(addresses), "country": b.country, "region": b.region,
            "city": b.city, "type": b.buyer_type, "source": b.source, "owner": b.owner,
            "status": b.status, "grade_source": b.grade_source, "phone": b.phone,
            "inquiries": inquiries or 0, "messages_in_month": in_month or 0,
            "first_contact": b.first_contact_at,
            "last_activity": max(known) if known else None,
            "next_followup": b.next_followup_at,
        })
    return out
