"""Storing fetched mail (I/O, database): raw bytes and the advanced cursor, together.

`save_batch` runs inside the caller's unit of work, so a batch's messages and the cursor
that says they are stored commit in one transaction: a kill at any moment loses nothing
and stores nothing twice.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from daemon.fetch import Cursor, Fetched, FolderInfo, identity
from daemon.models import FolderCursor, Mailbox, Message, RawMessage

log = logging.getLogger(__name__)


def mailbox_row(session: Session, name: str) -> Mailbox:
    box = session.scalars(select(Mailbox).where(Mailbox.name == name)).first()
    if box is None:
        box = Mailbox(name=name)
        session.add(box)
        session.flush()
    return box


def load_cursor(session: Session, mailbox: Mailbox, info: FolderInfo) -> Cursor:
    """Where to go on from; a changed UIDVALIDITY starts the folder again from UID 0."""
    row = _cursor_row(session, mailbox, info.name)
    if info.uidvalidity == 0:  # Maildir: the stored names are the cursor
        keys = session.scalars(
            select(Message.source_key).where(Message.mailbox_id == mailbox.id,
                                             Message.folder == info.name)
        )
        return Cursor(0, 0, frozenset(k for k in keys if k))
    if row is None:
        return Cursor(info.uidvalidity, 0)
    if row.uidvalidity != info.uidvalidity:
        log.warning("event=uidvalidity_changed mailbox=%s folder=%s old=%d new=%d "
                    "action=rescan_skipping_stored", mailbox.name, info.name,
                    row.uidvalidity, info.uidvalidity)
        return Cursor(info.uidvalidity, 0)
    return Cursor(row.uidvalidity, row.last_uid)


def save_batch(session: Session, mailbox: Mailbox, info: FolderInfo,
               batch: list[Fetched]) -> int:
    """Store the batch and advance the cursor past it; return how many were new."""
    rescan = _has_older_uidvalidity(session, mailbox, info)
    stored = 0
    for item in batch:
        message_id, key = identity(item.raw)
        if rescan and _stored_before(session, mailbox, info, key):
            continue
        session.add(Message(
            mailbox_id=mailbox.id, folder=info.name, uidvalidity=item.uidvalidity,
            uid=item.uid, source_key=item.key, message_id=message_id, dedup_key=key,
            size=len(item.raw),
            raw=RawMessage(sha256=hashlib.sha256(item.raw).hexdigest(), data=item.raw),
        ))
        stored += 1
    uids = [item.uid for item in batch if item.uid is not None]
    if uids or info.uidvalidity:
        advance_cursor(session, mailbox, info, max(uids, default=0))
    session.flush()
    return stored


def advance_cursor(session: Session, mailbox: Mailbox, info: FolderInfo, last_uid: int) -> None:
    row = _cursor_row(session, mailbox, info.name)
    if row is None:
        session.add(FolderCursor(mailbox_id=mailbox.id, folder=info.name,
                                 uidvalidity=info.uidvalidity, last_uid=last_uid))
    elif row.uidvalidity != info.uidvalidity:
        row.uidvalidity, row.last_uid = info.uidvalidity, last_uid
    elif last_uid > row.last_uid:
        row.last_uid = last_uid


def _cursor_row(session: Session, mailbox: Mailbox, folder: str) -> FolderCursor | None:
    return session.scalars(
        select(FolderCursor).where(FolderCursor.mailbox_id == mailbox.id,
                                   FolderCursor.folder == folder)
    ).first()


def _has_older_uidvalidity(session: Session, mailbox: Mailbox, info: FolderInfo) -> bool:
    # Read from the stored mail, not from the cursor, so a re-scan cut short by a crash
    # still de-duplicates when it goes on.
    if info.uidvalidity == 0:
        return False
    return bool(session.scalar(select(exists().where(
        Message.mailbox_id == mailbox.id, Message.folder == info.name,
        Message.uidvalidity != info.uidvalidity))))


def _stored_before(session: Session, mailbox: Mailbox, info: FolderInfo, key: str) -> bool:
    return bool(session.scalar(select(exists().where(
        Message.mailbox_id == mailbox.id, Message.folder == info.name,
        Message.uidvalidity != info.uidvalidity, Message.dedup_key == key))))
