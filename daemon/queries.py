"""Small read-only queries used by the command line and the service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.grade import History
from daemon.newsletter import AUTOMATIC_KINDS, CAP_WINDOW
from daemon.match_buyer import BuyerRef, Candidates, Lookup
from daemon.models import (
    Buyer,
    BuyerAddress,
    Draft,
    DraftState,
    FolderCursor,
    Inquiry,
    Mailbox,
    Message,
    MessageState,
    Poll,
    Stage,
)


def counts_by(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column)).all()
    return {str(getattr(k, "value", k)): n for k, n in rows}


def status(session: Session, quarantine_limit: int = 50) -> dict[str, Any]:
    """What `inquiryd status` shows: polls per mailbox, messages, drafts, set-aside mail."""
    return {
        "mailboxes": [_mailbox_status(session, m) for m in session.scalars(select(Mailbox))],
        "messages": counts_by(session, Message.state),
        "drafts": counts_by(session, Draft.state),
        "unknown_sends": session.scalar(
            select(func.count()).where(Draft.state == DraftState.UNKNOWN)
        ) or 0,
        "failed": _set_aside(session, MessageState.FAILED, quarantine_limit),
        "quarantine": _set_aside(session, MessageState.QUARANTINED, quarantine_limit),
    }


def _mailbox_status(session: Session, mailbox: Mailbox) -> dict[str, Any]:
    last = session.scalars(
        select(Poll).where(Poll.mailbox_id == mailbox.id).order_by(Poll.id.desc()).limit(1)
    ).first()
    cursors = session.scalars(select(FolderCursor).where(FolderCursor.mailbox_id == mailbox.id))
    return {
        "name": mailbox.name,
        "last_poll_at": _iso(mailbox.last_poll_at),
        "last_ok_at": _iso(mailbox.last_poll_ok_at),
        "failures_in_row": mailbox.failures_in_row,
        "last_error": mailbox.last_error,
        "last_poll": None if last is None else {
            "started_at": _iso(last.started_at),
            "finished_at": _iso(last.finished_at),
            "fetched": last.fetched,
            "stored": last.stored,
            "processed": last.processed,
            "failed": last.failed,
            "error": last.error,
        },
        "folders": {c.folder: {"uidvalidity": c.uidvalidity, "last_uid": c.last_uid}
                    for c in cursors},
    }


def _set_aside(session: Session, state: MessageState, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Message).where(Message.state == state).order_by(Message.id).limit(limit)
    )
    return [
        {"id": m.id, "message_id": m.message_id, "from": m.from_addr, "subject": m.subject,
         "attempts": m.attempts, "error": m.error}
        for m in rows
    ]


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


class DbLookups:
    """The database lookups understanding needs, bound to one session (read-only)."""

    def __init__(self, session: Session):
        self.session = session

    def refers_to_us(self, message_ids: Sequence[str]) -> bool:
        ids = [i for i in message_ids if i][:50]
        if not ids:
            return False
        drafted = select(Draft.id).where(Draft.outgoing_message_id.in_(ids)).limit(1)
        sent = select(Message.id).where(Message.direction == "out",
                                        Message.message_id.in_(ids)).limit(1)
        return (self.session.scalar(drafted) or self.session.scalar(sent)) is not None

    def candidates(self, lookup: Lookup) -> Candidates:
        s = self.session
        by_address = None
        if lookup.address:
            row = s.execute(select(Buyer.id, Buyer.company, Buyer.status).join(BuyerAddress)
                            .where(BuyerAddress.address == lookup.address)).first()
            by_address = BuyerRef(*row) if row else None
        by_domain: tuple[BuyerRef, ...] = ()
        if lookup.domain and by_address is None:
            rows = s.execute(select(Buyer.id, Buyer.company, Buyer.status).join(BuyerAddress)
                             .where(BuyerAddress.domain == lookup.domain)
                             .order_by(Buyer.id).limit(5)).all()
            by_domain = tuple(dict.fromkeys(BuyerRef(*r) for r in rows))
        by_company: tuple[BuyerRef, ...] = ()
        if lookup.company_key and by_address is None and not by_domain:
            rows = s.execute(select(Buyer.id, Buyer.company, Buyer.status)
                             .where(Buyer.company_key == lookup.company_key)
                             .order_by(Buyer.id).limit(5)).all()
            by_company = tuple(BuyerRef(*r) for r in rows)
        return Candidates(by_address, by_domain, by_company)

    def history(self, buyer_id: int | None) -> History:
        if buyer_id is None:
            return History()
        buyer = self.session.get(Buyer, buyer_id)
        if buyer is None:
            return History()
        count = self.session.scalar(select(func.count()).select_from(Inquiry)
                                    .where(Inquiry.buyer_id == buyer_id)) or 0
        won = self.session.scalar(select(func.count()).select_from(Inquiry).where(
            Inquiry.buyer_id == buyer_id, Inquiry.stage == Stage.WON)) or 0
        return History(known=True, previous_grade=buyer.grade, inquiries=count,
                       customer=bool(won) or buyer.status == "customer")


def recent_automatic(session: Session, buyer_ids: list[int], now: datetime) -> Counter[int]:
    """Outgoing follow-ups and newsletters per buyer in the last 7 days (the cap's count)."""
    rows = session.execute(
        select(Message.buyer_id, func.count()).where(
            Message.direction == "out", Message.kind.in_(AUTOMATIC_KINDS),
            Message.sent_at >= now - CAP_WINDOW, Message.buyer_id.in_(buyer_ids))
        .group_by(Message.buyer_id))
    return Counter({b: n for b, n in rows})
