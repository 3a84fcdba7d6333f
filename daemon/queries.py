"""Small read-only queries used by the command line and the service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.models import Draft, DraftState, FolderCursor, Mailbox, Message, MessageState, Poll


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
