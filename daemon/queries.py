"""Small read-only queries used by the command line and the service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.errors import ConfigError
from daemon.grade import History
from daemon.newsletter import AUTOMATIC_KINDS, CAP_WINDOW
from daemon.match_buyer import BuyerRef, Candidates, Lookup
from daemon.models import (
    Buyer,
    BuyerAddress,
    Campaign,
    Delivery,
    Draft,
    DraftState,
    FolderCursor,
    Inquiry,
    Lease,
    Mailbox,
    Message,
    MessageState,
    Poll,
    Stage,
    utcnow,
)


def counts_by(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column)).all()
    return {str(getattr(k, "value", k)): n for k, n in rows}


def status(session: Session, settings: Settings, now: datetime | None = None,
           limit: int = 50) -> dict[str, Any]:
    """What `inquiryd status` shows (and --json prints, these keys kept stable); times
    are ISO 8601 in the company's time zone, the next ones from the service's triggers."""
    from daemon.service import next_runs

    plan = next_runs(settings, now or utcnow())
    return {
        "timezone": plan["timezone"],
        "now": plan["now"],
        "mailboxes": _mailboxes(session, settings, plan["polls"][0] if plan["polls"] else None),
        "poll_every_minutes": plan["poll_every_minutes"],
        "messages": counts_by(session, Message.state),
        "drafts": counts_by(session, Draft.state),
        "unknown_sends": unknown_sends(session, settings.schedule.tz, limit),
        "failed": _set_aside(session, MessageState.FAILED, limit),
        "quarantine": _set_aside(session, MessageState.QUARANTINED, limit),
        "followups": {"next_run_at": plan["followups"],
                      **_followups_due_today(session, settings, plan["now"])},
        "leases": leases_held(session, settings.schedule.tz, now or utcnow()),
    }


def leases_held(session: Session, tz: tzinfo, now: datetime) -> list[dict[str, Any]]:
    """The leases instances hold now (finished job firings left out), and whether each
    holder is still renewing them (an expired one is free for another instance)."""
    rows = session.scalars(select(Lease).where(Lease.done_at.is_(None)).order_by(Lease.name))
    return [{"lease": r.name, "holder": r.holder,
             "since": r.acquired_at.astimezone(tz).isoformat(timespec="seconds"),
             "expires_at": r.expires_at.astimezone(tz).isoformat(timespec="seconds"),
             "expired": r.expires_at < now} for r in rows]


def _mailboxes(session: Session, settings: Settings,
               next_poll: str | None) -> list[dict[str, Any]]:
    """The configured mailboxes in config order, then any the database still remembers."""
    rows = {m.name: m for m in session.scalars(select(Mailbox))}
    configured = [b.name for b in settings.mailbox]
    names = configured + sorted(set(rows) - set(configured))
    unhealthy_after = settings.ingest.failures_before_unhealthy
    return [{"name": name, "configured": name in configured,
             "next_poll_at": next_poll if name in configured else None,
             **_mailbox_status(session, rows.get(name), settings.schedule.tz, unhealthy_after)}
            for name in names]


def health(mailbox: Mailbox | None, unhealthy_after: int) -> str:
    """ok, failing (the last polls failed), unhealthy (as many as the service tolerates)."""
    if mailbox is None or mailbox.last_poll_at is None:
        return "not polled yet"
    if mailbox.failures_in_row >= unhealthy_after:
        return "unhealthy"
    return "failing" if mailbox.failures_in_row else "ok"


def _mailbox_status(session: Session, mailbox: Mailbox | None, tz: tzinfo,
                    unhealthy_after: int) -> dict[str, Any]:
    last = None if mailbox is None else session.scalars(
        select(Poll).where(Poll.mailbox_id == mailbox.id).order_by(Poll.id.desc()).limit(1)
    ).first()
    cursors = [] if mailbox is None else session.scalars(
        select(FolderCursor).where(FolderCursor.mailbox_id == mailbox.id))
    return {
        "last_poll_at": _iso(mailbox and mailbox.last_poll_at, tz),
        "last_ok_at": _iso(mailbox and mailbox.last_poll_ok_at, tz),
        "health": health(mailbox, unhealthy_after),
        "failures_in_row": mailbox.failures_in_row if mailbox else 0,
        "last_error": mailbox.last_error if mailbox else None,
        "last_poll": None if last is None else {
            "started_at": _iso(last.started_at, tz),
            "finished_at": _iso(last.finished_at, tz),
            "fetched": last.fetched,
            "stored": last.stored,
            "processed": last.processed,
            "failed": last.failed,
            "error": last.error,
        },
        "folders": {c.folder: {"uidvalidity": c.uidvalidity, "last_uid": c.last_uid}
                    for c in cursors},
    }


def unknown_sends(session: Session, tz: tzinfo, limit: int = 50) -> list[dict[str, Any]]:
    """Drafts and newsletter deliveries that may or may not have gone out: a person
    decides, and each says how."""
    drafts = session.scalars(select(Draft).where(Draft.state == DraftState.UNKNOWN)
                             .order_by(Draft.state_changed_at, Draft.id).limit(limit))
    found = [{"type": "draft", "id": d.id, "to": d.to_addr, "subject": d.subject,
              "campaign": None, "since": _iso(d.state_changed_at, tz), "error": d.error,
              "action": f"inquiryd drafts resolve {d.id} sent|resend"} for d in drafts]
    deliveries = session.execute(
        select(Delivery, Campaign).join(Campaign, Delivery.campaign_id == Campaign.id)
        .where(Delivery.state == "unknown").order_by(Delivery.id).limit(limit))
    found += [{"type": "newsletter", "id": str(d.id), "to": d.address, "subject": c.subject,
               "campaign": c.name, "since": None, "error": d.error,
               "action": f"look for it in the mail server's log for {d.address}; "
                         "inquiryd never sends it again by itself"} for d, c in deliveries]
    return found


def _followups_due_today(session: Session, settings: Settings, now: str) -> dict[str, Any]:
    """How many buyers' follow-ups are due today: the query of followups_job.due_now."""
    from daemon import rulebook
    from daemon.followup import due
    from daemon.followups_job import buyer_states

    try:
        rules = rulebook.load(settings.paths.rules).followups
    except ConfigError as exc:  # status still shows the rest; `inquiryd check` says more
        return {"due_today": None, "error": exc.problems[0]}
    today = datetime.fromisoformat(now).date()
    states = buyer_states(session, settings.schedule.tz, rules)
    return {"due_today": len(due(states, rules, today, days=1)), "error": None}


def _set_aside(session: Session, state: MessageState, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Message).where(Message.state == state).order_by(Message.id).limit(limit)
    )
    return [
        {"id": m.id, "message_id": m.message_id, "from": m.from_addr, "subject": m.subject,
         "attempts": m.attempts, "error": m.error}
        for m in rows
    ]


def _iso(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(tz) if tz else value).isoformat(timespec="seconds")


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
