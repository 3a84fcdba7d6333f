"""Deal stages in the database (I/O): which inquiry a thread belongs to, and moving an
inquiry from stage to stage with the move recorded.

Every move, automatic or by hand, goes through `move_stage`, so the history in
`stage_changes` is complete: what the stage was, what it became, who moved it and why,
and the mail (ours or the buyer's) that caused it. Which move is due is decided by
daemon/deals.py; the functions here apply it inside the caller's unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import deals
from daemon.errors import UsageError
from daemon.logs import kv
from daemon.models import (
    Draft, DraftState, Inquiry, Message, Sample, Stage, StageChange, utcnow,
)
from daemon.types import Mail

log = logging.getLogger(__name__)

AUTOMATIC = "inquiryd"


def thread_inquiry(session: Session, message_ids: Sequence[str]) -> tuple[Inquiry, Draft] | None:
    """The inquiry a buyer's mail answers, and our draft it answers: found through
    In-Reply-To/References naming one of our drafts' Message-IDs (the newest wins)."""
    ids = [i for i in message_ids if i][:50]
    if not ids:
        return None
    row = session.execute(
        select(Inquiry, Draft).join(Draft, Draft.inquiry_id == Inquiry.id)
        .where(Draft.outgoing_message_id.in_(ids))
        .order_by(Draft.created_at.desc(), Draft.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def move_stage(session: Session, inquiry: Inquiry, to: Stage, reason: str, *,
               by: str = AUTOMATIC, message_id: int | None = None,
               draft_id: str | None = None, now: datetime | None = None) -> bool:
    """Move `inquiry` to `to` and record why; False (nothing recorded) when already there."""
    if inquiry.stage == to:
        return False
    now = now or utcnow()
    session.add(StageChange(inquiry_id=inquiry.id, from_stage=str(inquiry.stage),
                            to_stage=str(to), reason=reason, by=by, at=now,
                            message_id=message_id, draft_id=draft_id))
    log.info("event=stage_moved inquiry=%d from=%s to=%s by=%s reason=%s", inquiry.id,
             inquiry.stage, to, kv(by), kv(reason))
    inquiry.stage, inquiry.stage_changed_at = to, now
    return True


def apply(session: Session, inquiry: Inquiry, move: deals.Move | None, *,
          by: str = AUTOMATIC, message_id: int | None = None, draft_id: str | None = None,
          now: datetime | None = None) -> bool:
    """Record `move` (a decision of daemon/deals.py) on `inquiry`; False when None."""
    if move is None:
        return False
    return move_stage(session, inquiry, Stage(move.to), move.reason, by=by,
                      message_id=message_id, draft_id=draft_id, now=now)


# ------------------------------------------------------------------ a buyer's mail


def continued_deal(session: Session, buyer_id: int, mail: Mail) -> tuple[Inquiry, Draft] | None:
    """The inquiry this buyer's mail continues (it answers our draft for it), and that
    draft; None for a mail outside any deal's thread, another buyer's, or a closed deal's."""
    found = thread_inquiry(session, [mail.in_reply_to, *mail.references])
    if found is None or found[0].buyer_id != buyer_id or not deals.continues(str(found[0].stage)):
        return None
    return found


def buyer_wrote(session: Session, inquiry: Inquiry, answered: Draft, message: Message,
                mail: Mail, requests: frozenset[str], now: datetime) -> None:
    """A buyer's mail in the inquiry's thread: a dormant deal wakes, then the mail's own
    move (answered the quotation, asked for samples, confirmed the letter) applies."""
    if inquiry.stage is Stage.DORMANT:
        apply(session, inquiry, deals.woken(_before_dormant(session, inquiry)),
              message_id=message.id, now=now)
    move = deals.after_buyer_mail(deals.BuyerMail(
        stage=str(inquiry.stage), answers=answered.kind, requests=requests, text=mail.text,
        letter_sent=_letter_sent(session, inquiry)))
    apply(session, inquiry, move, message_id=message.id, now=now)


def _letter_sent(session: Session, inquiry: Inquiry) -> bool:
    """Our confirmation letter for the inquiry went out (a follow-up after it may be
    what the buyer answers with their confirmation)."""
    return session.scalars(select(Draft.id).where(
        Draft.inquiry_id == inquiry.id, Draft.kind == "confirmation",
        Draft.state == DraftState.SENT).limit(1)).first() is not None


def _before_dormant(session: Session, inquiry: Inquiry) -> str | None:
    return session.scalars(select(StageChange.from_stage).where(
        StageChange.inquiry_id == inquiry.id, StageChange.to_stage == str(Stage.DORMANT))
        .order_by(StageChange.at.desc(), StageChange.id.desc()).limit(1)).first()


# ------------------------------------------------------------------ our mail, the follow-up job


def our_mail_sent(session: Session, draft: Draft, now: datetime) -> deals.Move | None:
    """Our draft went out: the move it makes on its inquiry (recorded), or None."""
    inquiry = session.get(Inquiry, draft.inquiry_id) if draft.inquiry_id else None
    if inquiry is None:
        return None
    move = deals.after_our_mail(draft.kind, str(inquiry.stage))
    return move if apply(session, inquiry, move, draft_id=draft.id, now=now) else None


def buyer_went_quiet(session: Session, buyer_id: int, unanswered: int, now: datetime) -> int:
    """The buyer went dormant: each of their open inquiries too; how many moved."""
    moved = 0
    for inquiry in session.scalars(select(Inquiry).where(
            Inquiry.buyer_id == buyer_id, Inquiry.stage.in_([Stage(s) for s in deals.ROAD]))
            .order_by(Inquiry.id)):
        moved += apply(session, inquiry, deals.gone_quiet(str(inquiry.stage), unanswered),
                       now=now)
    return moved


# ------------------------------------------------------------------ by hand


def set_by_hand(session: Session, inquiry_id: int, stage: str, why: str, by: str,
                now: datetime | None = None) -> tuple[Inquiry, deals.Move | None]:
    """`inquiryd deals set`: UsageError for an unknown inquiry or stage; the move made
    (None when the inquiry already is at that stage)."""
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise UsageError(f"no inquiry {inquiry_id}")
    try:
        move = deals.by_hand(str(inquiry.stage), stage.strip().lower(), why, by)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    apply(session, inquiry, move, by=by or "someone", now=now)
    return inquiry, move


# ------------------------------------------------------------------ samples on their way


def samples_awaited(session: Session, buyer_ids: Sequence[int]) -> dict[int, list[Sample]]:
    """Per buyer, the samples of their open inquiries not yet known to have arrived nor
    asked about, earliest expected first (those without an expected date are left out)."""
    open_stages = [Stage(s) for s in deals.ROAD]
    rows = session.scalars(select(Sample).join(Inquiry, Inquiry.id == Sample.inquiry_id).where(
        Sample.buyer_id.in_(list(buyer_ids)), Sample.expected_at.is_not(None),
        Sample.arrived_at.is_(None), Sample.followed_up_at.is_(None),
        Inquiry.stage.in_(open_stages)).order_by(Sample.expected_at, Sample.id))
    found: dict[int, list[Sample]] = {}
    for sample in rows:
        found.setdefault(sample.buyer_id, []).append(sample)
    return found


def buyers_with_samples_sent(session: Session, buyer_ids: Sequence[int]) -> set[int]:
    """Buyers with a physical sample recorded for one of their open inquiries."""
    return set(session.scalars(select(Sample.buyer_id).join(
        Inquiry, Inquiry.id == Sample.inquiry_id).where(
        Sample.buyer_id.in_(list(buyer_ids)), Inquiry.stage.in_([Stage(s) for s in deals.ROAD]))))
