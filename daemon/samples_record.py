"""Physical samples in the database (I/O): record one sent, list them, mark one arrived.

Recording a sample moves its inquiry to stage `sample` through
daemon.deals_record.move_stage, with the sample in the reason, so the deal's history
says what was sent, how and who pays. The follow-up job reads `expected_at` and
`followed_up_at` to ask the buyer once it should have arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import samples
from daemon.catalog import Catalog
from daemon.deals_record import move_stage
from daemon.errors import ConfigError, UsageError
from daemon.models import Buyer, Event, Inquiry, Sample, Stage, utcnow
from daemon.rulebook import read_toml

POLICY_FILE = "samples.toml"


def load_policy(rules: Path) -> samples.SamplePolicy:
    """rules/samples.toml, or the built-in policy when a desk has none."""
    path = rules / POLICY_FILE
    if not path.exists():
        return samples.SamplePolicy()
    try:
        data = read_toml(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return samples.SamplePolicy.from_toml(data, str(path))


def check_policy(rules: Path) -> list[str]:
    """Every mistake in rules/samples.toml (for `inquiryd check`)."""
    try:
        load_policy(rules)
    except ConfigError as exc:
        return exc.problems
    return []


@dataclass(frozen=True, slots=True)
class Added:
    sample: Sample
    payment_reason: str
    transit: str
    moved: bool
    stage: str


def add(session: Session, inquiry_id: int, sku: str, *, quantity: int, courier: str,
        tracking: str, payment: str | None, sent_at: datetime, policy: samples.SamplePolicy,
        catalog: Catalog, by: str) -> Added:
    """Record a sample sent for an inquiry; UsageError for an unknown inquiry or SKU."""
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise UsageError(f"inquiry {inquiry_id} not found (inquiryd deals list shows them)")
    product = catalog.get(sku)
    if product is None:
        raise UsageError(f"SKU {sku!r} is not in the catalogue (rules/catalog.csv)")
    buyer = session.get(Buyer, inquiry.buyer_id)
    region = buyer.region if buyer is not None else ""
    paid, why = samples.payment(policy, quantity, product.price_for(region), payment)
    days, transit = samples.transit(policy, courier)
    row = Sample(inquiry_id=inquiry.id, buyer_id=inquiry.buyer_id, sku=product.sku,
                 quantity=quantity, courier=courier, tracking=tracking, payment=paid,
                 sent_at=sent_at, expected_at=samples.expected_arrival(policy, courier, sent_at),
                 note=f"{why}; transit {transit}")
    session.add(row)
    session.flush()
    moved = samples.moves_to_sample(str(inquiry.stage)) and move_stage(
        session, inquiry, Stage.SAMPLE,
        samples.stage_reason(product.sku, quantity, courier, tracking, paid), by=by)
    session.add(Event(name="sample_sent", buyer_id=inquiry.buyer_id,
                      data={"sample": row.id, "inquiry": inquiry.id, "sku": product.sku,
                            "quantity": quantity, "courier": courier, "tracking": tracking,
                            "payment": paid, "by": by}))
    return Added(row, why, transit, moved, str(inquiry.stage))


def listing(session: Session, *, due: bool = False,
            now: datetime | None = None) -> list[dict[str, Any]]:
    """Samples, newest first; `due`: those that should have arrived and are not marked."""
    now = now or utcnow()
    query = select(Sample, Buyer).join(Buyer, Buyer.id == Sample.buyer_id)
    if due:
        query = query.where(Sample.arrived_at.is_(None), Sample.expected_at <= now)
    rows = session.execute(query.order_by(Sample.sent_at.desc(), Sample.id.desc())).all()
    return [as_row(sample, buyer, now) for sample, buyer in rows]


def as_row(s: Sample, buyer: Buyer, now: datetime) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    if s.arrived_at is not None:
        state = "arrived"
    elif s.expected_at is not None and s.expected_at <= now:
        state = "due"
    else:
        state = "in transit"
    return {"id": s.id, "inquiry_id": s.inquiry_id, "buyer_id": s.buyer_id,
            "buyer": buyer.company or buyer.contact_name or f"buyer {buyer.id}",
            "sku": s.sku, "quantity": s.quantity, "courier": s.courier,
            "tracking": s.tracking, "payment": s.payment, "state": state,
            "sent_at": iso(s.sent_at), "expected_at": iso(s.expected_at),
            "arrived_at": iso(s.arrived_at), "followed_up_at": iso(s.followed_up_at),
            "note": s.note}


def arrived(session: Session, sample_id: int, when: datetime, by: str) -> Sample:
    """Mark a sample arrived (the buyer said so, or tracking shows it)."""
    row = session.get(Sample, sample_id)
    if row is None:
        raise UsageError(f"sample {sample_id} not found (inquiryd samples list shows them)")
    if row.arrived_at is not None:
        raise UsageError(f"sample {sample_id} was already marked arrived on "
                         f"{row.arrived_at:%Y-%m-%d}")
    if row.sent_at is not None and when < row.sent_at:
        if row.sent_at - when > timedelta(days=1):
            raise UsageError(f"sample {sample_id} was sent on {row.sent_at:%Y-%m-%d}: it "
                             f"cannot have arrived before")
        when = row.sent_at  # the day it was sent: a same-day delivery
    row.arrived_at = when
    session.add(Event(name="sample_arrived", buyer_id=row.buyer_id,
                      data={"sample": row.id, "inquiry": row.inquiry_id, "by": by}))
    return row
