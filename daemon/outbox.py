"""The database side of drafts: their states and every move between them.

    pending -> approved -> sending -> sent
                  ^           |-----> approved (4xx: retried after a back-off)
                  |           |-----> failed   (5xx, or too many 4xx)
                  |           '-----> unknown  (cut off after the final dot; or the
                  |                             process died mid-send)
    unknown/failed --resolve "resend"--> pending;  unknown --resolve "sent"--> sent
    pending/approved -> rejected

`claim_for_sending` is a compare-and-set (UPDATE ... WHERE state = 'approved') that the
caller commits before the SMTP conversation starts: whatever dies after that leaves the
draft in `sending`, which start-up turns into `unknown` for a person to decide. Nothing
here ever moves a draft from `sending` or `unknown` back to sending by itself.
Each function works inside the caller's unit of work and commits nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from daemon.config import Sending
from daemon.deals_record import our_mail_sent
from daemon.leases import ME
from daemon.errors import UsageError
from daemon.models import (
    Buyer, Draft, DraftState, Event, Inquiry, Message, MessageState, RawMessage, utcnow,
)
from daemon.store import mailbox_row

# A reply still undelivered after this long is stale: stop retrying and tell a person.
RETRY_HORIZON = timedelta(days=2)
OPEN = (DraftState.PENDING, DraftState.APPROVED)


@dataclass(frozen=True)
class Sent:
    """What mark_sent records: the bytes as sent and the server's reply."""

    message_bytes: bytes
    smtp_reply: str
    sender: str
    subject: str


def record_draft(session: Session, draft_id: str, kind: str, to_addr: str, subject: str,
                 outgoing_message_id: str, file_name: str, buyer_id: int | None = None,
                 inquiry_id: int | None = None, in_reply_to_message: int | None = None,
                 mailbox_name: str = "", body_sha256: str = "") -> Draft:
    """A new pending draft, as written to the review folder."""
    draft = Draft(id=draft_id, kind=kind, to_addr=to_addr, subject=subject,
                  outgoing_message_id=outgoing_message_id, file_name=file_name,
                  buyer_id=buyer_id, inquiry_id=inquiry_id,
                  in_reply_to_message=in_reply_to_message, mailbox_name=mailbox_name,
                  body_sha256=body_sha256, state=DraftState.PENDING)
    session.add(draft)
    session.flush()
    _event(session, "draft_written", draft, file=file_name)
    return draft


def get(session: Session, draft_id: str, *, lock: bool = False) -> Draft | None:
    """The draft; with `lock`, row-locked until the transaction ends, so that two
    instances judging the same approved file see each other's approval and claim."""
    return session.get(Draft, draft_id, with_for_update=lock or None)


def _set_state(draft: Draft, state: DraftState, now: datetime) -> None:
    draft.state = state
    draft.state_changed_at = now


def approve(session: Session, draft: Draft, edits: tuple[str, ...], subject: str,
            now: datetime | None = None) -> None:
    """pending -> approved (a retry stays approved), keeping what the reviewer changed."""
    now = now or utcnow()
    edited = ",".join(edits)
    if edited != draft.edits:
        draft.edits = edited
        draft.sent_subject = subject if "subject" in edits else None
        if edits:
            _event(session, "draft_edited", draft, edits=list(edits), subject=subject)
    if draft.state == DraftState.PENDING:
        _set_state(draft, DraftState.APPROVED, now)
        draft.approved_at = now
        draft.error = None
        _event(session, "draft_approved", draft)


def claim_for_sending(session: Session, draft_id: str, now: datetime | None = None) -> bool:
    """approved -> sending if, and only if, it is still approved; True when we hold it."""
    result = session.execute(
        update(Draft).where(Draft.id == draft_id, Draft.state == DraftState.APPROVED)
        .values(state=DraftState.SENDING, state_changed_at=now or utcnow(), sending_by=ME)
        .execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


def release_claim(session: Session, draft_id: str, now: datetime | None = None) -> None:
    """sending -> approved when the SMTP conversation never began (no server to talk to)."""
    session.execute(
        update(Draft).where(Draft.id == draft_id, Draft.state == DraftState.SENDING)
        .values(state=DraftState.APPROVED, state_changed_at=now or utcnow())
        .execution_options(synchronize_session=False))


def _held(session: Session, draft_id: str, *states: DraftState) -> Draft:
    draft = session.get(Draft, draft_id, populate_existing=True)
    if draft is None or draft.state not in states:
        found = "missing" if draft is None else draft.state.value
        raise RuntimeError(f"draft {draft_id} is {found}, not {'/'.join(states)}")
    return draft


def mark_sent(session: Session, draft_id: str, sent: Sent, now: datetime | None = None) -> Draft:
    """sending (or unknown, when another instance recovered it meanwhile) -> sent."""
    now = now or utcnow()
    draft = _held(session, draft_id, DraftState.SENDING, DraftState.UNKNOWN)
    _set_state(draft, DraftState.SENT, now)
    draft.sent_at, draft.smtp_reply, draft.error = now, sent.smtp_reply, None
    _record_outgoing(session, draft, sent, now)
    _event(session, "draft_sent", draft, reply=sent.smtp_reply)
    if draft.inquiry_id is not None:
        _quoted(session, draft, now)
    _followed_up(session, draft, now)
    return draft


def _followed_up(session: Session, draft: Draft, now: datetime) -> None:
    """A follow-up went out: one more unanswered, and the next date is computed anew
    from this contact by the follow-up job (daemon/followups_job.py)."""
    if draft.kind != "followup" or draft.buyer_id is None:
        return
    buyer = session.get(Buyer, draft.buyer_id)
    if buyer is not None:
        buyer.followups_unanswered += 1
        buyer.last_followup_at = now
        buyer.next_followup_at = None


def _quoted(session: Session, draft: Draft, now: datetime) -> None:
    """Our mail moves its inquiry (daemon/deals.py: our first answer quotes it, our
    contract makes it a contract); for the first answer, how fast we were is kept."""
    move = our_mail_sent(session, draft, now)
    if move is None or move.rule != "quotation-sent":
        return
    inquiry = session.get_one(Inquiry, draft.inquiry_id)
    minutes = int((now - inquiry.created_at).total_seconds() // 60)
    session.add(Event(name="first_reply", buyer_id=draft.buyer_id, draft_id=draft.id,
                      data={"inquiry": inquiry.id, "minutes": minutes}))


def _record_outgoing(session: Session, draft: Draft, sent: Sent, now: datetime) -> None:
    # Kept like incoming mail, so a buyer's reply is known as a reply to us and the
    # Sent-folder copy can be filed (again) later from these bytes.
    box = mailbox_row(session, draft.mailbox_name) if draft.mailbox_name else None
    data = sent.message_bytes
    session.add(Message(
        direction="out", mailbox_id=box.id if box else None,
        message_id=draft.outgoing_message_id,
        dedup_key=hashlib.sha256(b"message-id:" + draft.outgoing_message_id.encode()).hexdigest(),
        size=len(data), state=MessageState.PROCESSED, processed_at=now, sent_at=now,
        kind=draft.kind, from_addr=sent.sender, subject=sent.subject, buyer_id=draft.buyer_id,
        raw=RawMessage(sha256=hashlib.sha256(data).hexdigest(), data=data)))
    if draft.buyer_id is not None:
        buyer = session.get(Buyer, draft.buyer_id)
        if buyer is not None and (buyer.last_contact_at is None or buyer.last_contact_at < now):
            buyer.last_contact_at = now


def backoff(attempts: int, sending: Sending) -> timedelta:
    """The wait before attempt `attempts + 1`: doubling from the base, capped."""
    seconds = sending.retry_base_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, sending.retry_max_seconds))


def mark_temporary_failure(session: Session, draft_id: str, reason: str, sending: Sending,
                           now: datetime | None = None) -> DraftState:
    """sending -> approved with a later attempt, or -> failed once retrying is hopeless."""
    now = now or utcnow()
    draft = _held(session, draft_id, DraftState.SENDING)
    draft.attempts += 1
    draft.error = reason
    since = draft.approved_at or draft.created_at
    if draft.attempts >= sending.max_attempts or now - since > RETRY_HORIZON:
        draft.error = f"gave up after {draft.attempts} attempts; last: {reason}"
        _set_state(draft, DraftState.FAILED, now)
        draft.next_attempt_at = None
        _event(session, "draft_failed", draft, error=draft.error)
    else:
        _set_state(draft, DraftState.APPROVED, now)
        draft.next_attempt_at = now + backoff(draft.attempts, sending)
        _event(session, "draft_retry", draft, error=reason, attempts=draft.attempts)
    return draft.state


def mark_failed(session: Session, draft_id: str, reason: str,
                now: datetime | None = None) -> None:
    """sending -> failed: the server refused for good; `reason` holds its words."""
    draft = _held(session, draft_id, DraftState.SENDING)
    draft.attempts += 1
    draft.error = reason
    _set_state(draft, DraftState.FAILED, now or utcnow())
    _event(session, "draft_failed", draft, error=reason)


def mark_unknown(session: Session, draft_id: str, reason: str,
                 now: datetime | None = None) -> None:
    """sending -> unknown: it may have been delivered; only a person may send it again."""
    draft = _held(session, draft_id, DraftState.SENDING)
    draft.attempts += 1
    draft.error = reason
    _set_state(draft, DraftState.UNKNOWN, now or utcnow())
    _event(session, "draft_unknown", draft, error=reason)


def recover_sending(session: Session, live: frozenset[str],
                    now: datetime | None = None) -> list[str]:
    """Every draft left in `sending` by a process that is no longer live -> unknown;
    their ids. `live` are the instances whose heartbeat lease holds (this one among
    them): a draft another live instance is sending is left to it.
    """
    now = now or utcnow()
    stuck = list(session.scalars(select(Draft).where(
        Draft.state == DraftState.SENDING,
        or_(Draft.sending_by.is_(None), Draft.sending_by.not_in(sorted(live))))))
    for draft in stuck:
        draft.error = ("the process stopped while sending it: it may or may not have been "
                       "delivered; check, then `inquiryd drafts resolve "
                       f"{draft.id} sent|resend`")
        _set_state(draft, DraftState.UNKNOWN, now)
        _event(session, "draft_unknown", draft,
               error=f"found in sending, its instance {draft.sending_by or '-'} stopped")
    return [d.id for d in stuck]


def resolve(session: Session, draft_id: str, decision: str, sent: Sent | None = None,
            now: datetime | None = None) -> Draft:
    """A person's decision on an unknown (or failed) draft: "sent" or "resend"."""
    now = now or utcnow()
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise UsageError(f"no draft {draft_id}")
    allowed = {"sent": (DraftState.UNKNOWN,),
               "resend": (DraftState.UNKNOWN, DraftState.FAILED)}.get(decision)
    if allowed is None:
        raise UsageError(f"decide 'sent' or 'resend', not {decision!r}")
    if draft.state not in allowed:
        raise UsageError(f"draft {draft_id} is {draft.state.value}: only "
                         f"{' or '.join(s.value for s in allowed)} drafts can be marked {decision}")
    if decision == "sent":
        _set_state(draft, DraftState.SENT, now)
        draft.sent_at, draft.error = draft.sent_at or now, None
        if sent is not None:
            _record_outgoing(session, draft, sent, now)
        else:
            draft.sent_copy_at = now  # no bytes to file: do not keep trying
        if draft.inquiry_id is not None:
            _quoted(session, draft, now)
        _followed_up(session, draft, now)
    else:
        _set_state(draft, DraftState.PENDING, now)  # the file's move to approved/ re-approves
        draft.attempts, draft.next_attempt_at, draft.error = 0, None, None
    _event(session, "draft_resolved", draft, decision=decision)
    return draft


def mark_rejected(session: Session, draft_id: str, now: datetime | None = None) -> bool:
    """pending/approved -> rejected; False when it was not open (recorded once only)."""
    draft = session.get(Draft, draft_id)
    if draft is None or draft.state not in OPEN:
        return False
    _set_state(draft, DraftState.REJECTED, now or utcnow())
    draft.next_attempt_at = None
    _event(session, "draft_rejected", draft)
    return True


def note_problem(session: Session, draft_id: str, reason: str) -> None:
    """Keep why a draft's file was set aside, without changing its state."""
    draft = session.get(Draft, draft_id)
    if draft is not None:
        draft.error = reason


def states_of(session: Session, ids: list[str]) -> dict[str, DraftState]:
    """The state of each of these drafts that exists."""
    if not ids:
        return {}
    rows = session.execute(select(Draft.id, Draft.state).where(Draft.id.in_(ids)))
    return {r[0]: r[1] for r in rows}


def sent_copies_due(session: Session,
                    limit: int = 500) -> list[tuple[str, str, datetime | None, bytes]]:
    """(draft id, mailbox name, sent at, bytes) of sent drafts not yet in a Sent folder."""
    rows = session.execute(
        select(Draft.id, Draft.mailbox_name, Draft.sent_at, RawMessage.data)
        .join(Message, (Message.message_id == Draft.outgoing_message_id)
              & (Message.direction == "out"))
        .join(RawMessage, RawMessage.message_id == Message.id)
        .where(Draft.state == DraftState.SENT, Draft.sent_copy_at.is_(None))
        .order_by(Draft.sent_at).limit(limit))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def mark_copied(session: Session, draft_id: str, error: str | None = None,
                now: datetime | None = None) -> None:
    """The Sent-folder copy is filed (error None), or why it could not be, for later."""
    draft = session.get(Draft, draft_id)
    if draft is None:
        return
    if error is None:
        draft.sent_copy_at, draft.sent_copy_error = now or utcnow(), None
    else:
        draft.sent_copy_error = error


def drafts_list(session: Session, state: str | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
    """Drafts, newest first, as plain dicts for `inquiryd drafts list [--json]`."""
    query = select(Draft).order_by(Draft.created_at.desc(), Draft.id)
    if state is not None:
        try:
            query = query.where(Draft.state == DraftState(state))
        except ValueError:
            names = ", ".join(s.value for s in DraftState)
            raise UsageError(f"no draft state {state!r}; one of {names}") from None
    return [_as_row(d) for d in session.scalars(query.limit(limit))]


def _as_row(d: Draft) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat(timespec="seconds") if v else None
    return {"id": d.id, "state": d.state.value, "kind": d.kind, "to": d.to_addr,
            "subject": d.sent_subject or d.subject, "file": d.file_name, "edits": d.edits,
            "created_at": iso(d.created_at), "approved_at": iso(d.approved_at),
            "attempts": d.attempts, "next_attempt_at": iso(d.next_attempt_at),
            "sent_at": iso(d.sent_at), "sent_copy_at": iso(d.sent_copy_at),
            "error": d.error, "smtp_reply": d.smtp_reply}


def _event(session: Session, name: str, draft: Draft, **data: Any) -> None:
    session.add(Event(name=name, draft_id=draft.id, buyer_id=draft.buyer_id, data=data))
