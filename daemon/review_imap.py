"""The review folder as IMAP folders of one company mailbox (I/O): `[review] backend = "imap"`.

    <prefix>/Pending   written here by the daemon: the draft (flagged \\Draft, unread)
                       and, beside it, a context note for the reviewer
    <prefix>/Approved  a reviewer moved the draft here in their mail client: send it
    <prefix>/Rejected  a reviewer moved it here: never send it
    <prefix>/Sent      sent (\\Draft cleared, \\Seen set); kept for the record
    <prefix>/Failed    not sent, with a note beside it saying why

The draft is byte for byte the .eml the folder backend writes: everything in it goes
to the buyer, so nothing for the reviewer can go inside it, not even as an attachment.
The reviewer's context is a separate small message, the *context note*: From
"inquiryd" <review@inquiryd.invalid>, Subject "[context <draft-id>] <the draft's
subject>", the draft's Date, In-Reply-To/References the draft's Message-ID (so a
threaded view shows it under its draft), headers X-Inquiryd-Note: context and
X-Inquiryd-Note-For: <draft-id>, flagged \\Seen so that the unread count is the number
of drafts waiting. Reviewers move only the draft; notes follow their draft at the next
sweep (`tidy`): a note in Pending or Approved whose draft has left both is moved to the
folder the draft is in now. A reason note (X-Inquiryd-Note: reason) is written the same
way beside each message the sweep puts in Failed. Notes never carry X-Inquiryd-Draft,
so a note dragged into Approved is skipped, never sent and never set aside.

Items are (folder, UID). Listings skip messages flagged \\Deleted: a client that saves
an edited copy appends it under a new UID and may leave the original flagged \\Deleted
but not expunged. When two live copies of one draft are in Approved, the newest (the
highest UID, i.e. the last saved) is judged first; the older is then refused as
already sent. Reading is BODY.PEEK, so \\Seen never changes by our reading; UIDs are
used within one session only, never stored. Hence the folder backend's "sent, then
stopped before the move: just move it" cannot be told from a copy here: a sent draft
found in Approved goes to Failed, unsent, with "already sent" as its reason.

A new draft waits in the state folder (`review-staged/<mailbox>/`) until its database row
is committed, and is APPENDed then: a process stopped in between leaves it there for the
sweep, which APPENDs it (once: it looks first) or discards it when the row never came.

Folder names are `imap_prefix` written with "/" and turned into the server's hierarchy,
below its personal namespace (e.g. "INBOX.Inquiries.Pending" on Courier); missing
folders are created and subscribed (many clients show subscribed folders only).
"""

from __future__ import annotations

import email.policy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.utils import format_datetime, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any, Self

from imapclient import DELETED, DRAFT, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientError

from daemon.config import Mailbox, Settings
from daemon.errors import MailboxError
from daemon.fetch.imap import NETWORK_ERRORS, ImapSource
from daemon.logs import kv
from daemon.review_folder import (
    DRAFT_HEADER, FOLDERS, ApprovedDraft, Staged, approved_from_bytes, check_draft_header,
    check_size, draft_file_name, eml_bytes, header_draft_id, safe_part, stage_files,
    staged_context, staged_in,
)

log = logging.getLogger(__name__)

NOTE_HEADER = "X-Inquiryd-Note"
NOTE_FOR_HEADER = "X-Inquiryd-Note-For"
NOTE_FROM = "inquiryd <review@inquiryd.invalid>"  # .invalid: a reply goes nowhere
_HEAD_FIELDS = f"BODY.PEEK[HEADER.FIELDS ({DRAFT_HEADER} {NOTE_HEADER} {NOTE_FOR_HEADER})]"
_ABOUT_FIELDS = "BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)]"
_BATCH = 500  # UIDs per FETCH: keeps command lines far below servers' limits


class ReviewItemGone(FileNotFoundError):
    """The message is no longer where it was listed: a person moved or deleted it."""


@dataclass(frozen=True)
class ImapItem:
    """One message of a review folder: logical folder, IMAP folder, UID (None: just
    moved, its new UID not asked for), its draft id ('' = none or several), size."""

    folder: str
    mailbox_folder: str
    uid: int | None
    draft_id: str = ""
    size: int = 0

    @property
    def name(self) -> str:
        return f"{self.mailbox_folder} UID {self.uid}" if self.uid else self.mailbox_folder

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class _Row:
    """What a listing reads of one message: its UID, size and our headers."""

    uid: int
    size: int
    draft_id: str
    note: str       # "" for a draft (or a stranger's message); "context" or "reason"
    note_for: str


class ImapReview:
    """The five review folders in one IMAP mailbox; see the module docstring."""

    def __init__(self, box: Mailbox, password: str, prefix: str = "Inquiries",
                 staging: Path | None = None):
        self.box = box
        self.staging = staging
        self.prefix = prefix.strip("/")
        self._password = password
        self._source: ImapSource | None = None
        self._depth = 0
        self._names: dict[str, str] = {}
        self._selected: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapReview:
        name = settings.review.imap_mailbox
        box = next((m for m in settings.mailbox if m.name == name and m.kind == "imap"), None)
        if box is None:  # config.load refuses this; a hand-made Settings may not
            raise ValueError(f"review.imap_mailbox: no imap mailbox named {name!r}")
        return cls(box, settings.secret(box), settings.review.imap_prefix,
                   settings.paths.state / "review-staged" / safe_part(box.name))

    # -- the session -------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._depth == 0:
            self._open()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            source, self._source, self._selected = self._source, None, None
            if source is not None:
                source.__exit__(None, None, None)

    def _open(self) -> None:
        source = ImapSource(self.box, self._password).__enter__()  # MailboxError if not
        try:
            self._names = _ensure_folders(source.client, self.prefix)
        except NETWORK_ERRORS as exc:
            source.__exit__(None, None, None)
            raise MailboxError(f"{self.box.name}: review folders under {self.prefix!r}: "
                               f"{_text(exc)}") from None
        self._source = source

    @contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        """The open session (one is opened for this call outside a `with`); a network
        failure becomes MailboxError, a vanished message stays ReviewItemGone."""
        with self:
            assert self._source is not None
            try:
                yield self._source.client
            except (ReviewItemGone, MailboxError):
                raise
            except NETWORK_ERRORS as exc:
                raise MailboxError(f"{self.box.name}: review folders: {_text(exc)}") from None

    def _select(self, client: IMAPClient, folder: str, *, fresh: bool = False) -> None:
        name = self._names[folder]
        if fresh or self._selected != name:
            self._selected = None
            client.select_folder(name)
            self._selected = name

    def folder_name(self, folder: str) -> str:
        """The IMAP name of a logical folder (known once a session was opened)."""
        return self._names[folder]

    # -- drafting ----------------------------------------------------------------------

    def file_name(self, draft_id: str, *, grade: str, buyer_label: str, when: datetime) -> str:
        """The same name the folder backend gives (kept in drafts.file_name, logged)."""
        return draft_file_name(draft_id, grade=grade, buyer_label=buyer_label, when=when)

    def write_pending(self, draft_id: str, message: EmailMessage, context: str, *,
                      grade: str, buyer_label: str, when: datetime) -> str:
        """APPEND the context note, then the draft (\\Draft), to Pending; the name."""
        check_draft_header(draft_id, message)
        self._append_pending(eml_bytes(message), context_note(draft_id, message, context),
                             when)
        return self.file_name(draft_id, grade=grade, buyer_label=buyer_label, when=when)

    def _append_pending(self, draft: bytes, note: bytes, when: datetime) -> None:
        with self._session() as client:
            pending = self._names["pending"]
            # The note first: once the draft shows, a reviewer finds its note beside it.
            client.append(pending, note, flags=[SEEN], msg_time=when)
            client.append(pending, draft, flags=[DRAFT], msg_time=when)

    # -- staging (see review.write_for_review) -----------------------------------------

    # An APPEND cannot be taken back once a reviewer may have seen it, so a draft waits
    # in the state folder (`staging`) until its row is committed, then is APPENDed. A
    # late publish (the writer stopped between commit and APPEND, or between APPEND and
    # removing the staged files) looks in every review folder first: a draft shows once.
    # Without a staging folder (a hand-made backend) a draft is APPENDed at once.
    def stage_pending(self, draft_id: str, message: EmailMessage, context: str, *,
                      grade: str, buyer_label: str, when: datetime, writer: str = "") -> str:
        if self.staging is None:
            return self.write_pending(draft_id, message, context, grade=grade,
                                      buyer_label=buyer_label, when=when)
        check_draft_header(draft_id, message)
        name = self.file_name(draft_id, grade=grade, buyer_label=buyer_label, when=when)
        self.staging.mkdir(parents=True, exist_ok=True)
        stage_files(self.staging, name, writer, context, eml_bytes(message))
        return name

    def publish(self, staged: Staged, *, late: bool = False) -> None:
        if self.staging is None:
            return  # never staged: APPENDed when written
        name = staged.name
        try:
            data = (self.staging / staged.hidden(name)).read_bytes()
            context = staged_context(staged, self.staging).read_text(encoding="utf-8",
                                                                     errors="replace")
        except FileNotFoundError:
            return  # published already, or cut off between the two writes (discarded)
        if not (late and self.locate(staged.draft_id, name, FOLDERS)):
            head = BytesParser(policy=email.policy.default).parsebytes(data, headersonly=True)
            assert isinstance(head, EmailMessage)
            self._append_pending(data, context_note(staged.draft_id, head, context),
                                 _date(head))
        self.discard(staged)

    def discard(self, staged: Staged) -> None:
        if self.staging is None:
            return
        staged_context(staged, self.staging).unlink(missing_ok=True)
        (self.staging / staged.hidden(staged.name)).unlink(missing_ok=True)

    def unpublished(self) -> list[Staged]:
        return staged_in(self.staging) if self.staging and self.staging.is_dir() else []

    # -- listings ----------------------------------------------------------------------

    def approved_items(self, min_age: float = 0.0) -> list[ImapItem]:
        """Drafts in Approved, oldest first, a draft's newest copy before older ones.

        `min_age` is not needed here: APPEND and MOVE are atomic, so a message is never
        seen half-arrived.
        """
        with self._session() as client:
            rows = [r for r in self._rows(client, "approved") if not r.note]
        return [self._item("approved", r) for r in _newest_copy_first(rows)]

    def rejected_items(self) -> list[ImapItem]:
        with self._session() as client:
            return [self._item("rejected", r) for r in self._rows(client, "rejected")
                    if not r.note]

    def named_draft_id(self, item: ImapItem) -> str:
        return item.draft_id  # read with the listing

    def header_draft_id(self, item: ImapItem) -> str:
        return item.draft_id

    def locate(self, draft_id: str, name: str, folders: tuple[str, ...]) -> ImapItem | None:
        """The newest live copy of the draft in the first of `folders` holding one."""
        with self._session() as client:
            for folder in folders:
                rows = [r for r in self._rows(client, folder, draft_id) if r.draft_id == draft_id]
                if rows:
                    return self._item(folder, max(rows, key=lambda r: r.uid))
        return None

    def _item(self, folder: str, row: _Row) -> ImapItem:
        return ImapItem(folder, self._names[folder], row.uid, row.draft_id, row.size)

    def _rows(self, client: IMAPClient, folder: str, draft_id: str = "") -> list[_Row]:
        """Every live message of a folder (or those whose header names `draft_id`)."""
        self._select(client, folder, fresh=True)  # fresh: see what arrived meanwhile
        criteria: list[Any] = ["NOT", "DELETED"]
        if draft_id:  # a substring search: the caller compares the id exactly
            criteria += ["HEADER", DRAFT_HEADER, draft_id]
        uids = sorted(client.search(criteria))
        rows: list[_Row] = []
        for start in range(0, len(uids), _BATCH):
            response = client.fetch(uids[start:start + _BATCH], ["RFC822.SIZE", _HEAD_FIELDS])
            rows += [_row(uid, data) for uid, data in sorted(response.items())]
        return rows

    # -- reading and moving ------------------------------------------------------------

    def read_approved(self, item: ImapItem) -> ApprovedDraft:
        """Fetch (BODY.PEEK) and check one message; ReviewFileError says why not to send."""
        check_size(item.size)
        with self._session() as client:
            self._select(client, item.folder)
            data = client.fetch([item.uid], ["BODY.PEEK[]"]).get(item.uid, {}).get(b"BODY[]")
        if data is None:
            raise ReviewItemGone(f"{item.name}: no longer there")
        return approved_from_bytes(item.name, bytes(data))

    def move(self, item: ImapItem, to: str, reason: str | None = None) -> ImapItem:
        """Move a message to folder `to`; in Failed, a reason note goes beside it.

        Moved to Sent, it loses \\Draft and is marked \\Seen. Moved out of Failed, the
        reason notes about its draft go (they would no longer be true).
        """
        if to not in FOLDERS:
            raise ValueError(f"no review folder {to!r}; one of {', '.join(FOLDERS)}")
        if to == item.folder:
            return item
        with self._session() as client:
            subject, message_id = self._about(client, item)
            if to == "failed" and reason:
                note = reason_note(item.draft_id, subject, message_id, reason)
                client.append(self._names["failed"], note, flags=[SEEN])
            if to == "sent":
                client.remove_flags([item.uid], [DRAFT], silent=True)
                client.add_flags([item.uid], [SEEN], silent=True)
            _move_uid(client, item.uid, self._names[to])
            if item.folder == "failed" and item.draft_id:
                self._drop_reasons(client, item.draft_id)
        return ImapItem(to, self._names[to], None, item.draft_id, item.size)

    def _about(self, client: IMAPClient, item: ImapItem) -> tuple[str, str]:
        """(Subject, Message-ID) of a live message; ReviewItemGone when it is not."""
        if item.uid is None:
            raise ReviewItemGone(f"{item.name}: its new UID is not known; list it again")
        self._select(client, item.folder)
        data = client.fetch([item.uid], ["FLAGS", _ABOUT_FIELDS]).get(item.uid)
        if data is None or DELETED in data.get(b"FLAGS", ()):
            raise ReviewItemGone(f"{item.name}: no longer there")
        head = BytesHeaderParser(policy=compat32).parsebytes(_header_block(data))
        return (" ".join(str(head.get("Subject", "")).split()),
                " ".join(str(head.get("Message-ID", "")).split()))

    def _drop_reasons(self, client: IMAPClient, draft_id: str) -> None:
        self._select(client, "failed")
        uids = client.search(["NOT", "DELETED", "HEADER", NOTE_FOR_HEADER, draft_id])
        rows = client.fetch(uids, ["RFC822.SIZE", _HEAD_FIELDS]) if uids else {}
        stale = [u for u, d in rows.items()
                 if (r := _row(u, d)).note == "reason" and r.note_for == draft_id]
        if stale:
            client.add_flags(stale, [DELETED], silent=True)
            _expunge(client, stale)

    # -- notes follow their drafts -----------------------------------------------------

    def tidy(self) -> None:
        """Move each context note whose draft left Pending and Approved to the draft."""
        with self._session() as client:
            listed = {f: self._rows(client, f) for f in ("pending", "approved")}
            live = {r.draft_id for rows in listed.values() for r in rows if not r.note}
            for folder, rows in listed.items():
                for row in rows:
                    if row.note == "context" and row.note_for and row.note_for not in live:
                        self._follow(client, folder, row)

    def _follow(self, client: IMAPClient, folder: str, note: _Row) -> None:
        target = next((f for f in ("rejected", "sent", "failed")
                       if any(r.draft_id == note.note_for
                              for r in self._rows(client, f, note.note_for))), None)
        if target is None:
            return  # the draft was deleted, or is elsewhere: leave the note be
        self._select(client, folder)
        _move_uid(client, note.uid, self._names[target])
        log.info("event=review_note_moved draft=%s to=%s", note.note_for, self._names[target])


# -- notes ---------------------------------------------------------------------------------

def context_note(draft_id: str, draft: EmailMessage, context: str) -> bytes:
    """The reviewer's context for a draft, as a message of its own (never sent)."""
    subject = " ".join(str(draft.get("Subject", "")).split())
    return _note("context", draft_id, f"[context {draft_id}] {subject}",
                 str(draft.get("Message-ID", "")), context, str(draft.get("Date", "")))


def reason_note(draft_id: str, subject: str, about: str, reason: str) -> bytes:
    """Why the message beside it in Failed was not sent."""
    label = f"[not sent {draft_id}]" if draft_id else "[not sent]"
    text = (f"{reason.rstrip()}\n\nThe message this note is about lies beside it in "
            "this folder. It was not sent.\n")
    return _note("reason", draft_id, f"{label} {subject}".strip(), about, text)


def _note(kind: str, draft_id: str, subject: str, about: str, text: str, date: str = "") -> bytes:
    note = EmailMessage()
    note["From"] = NOTE_FROM
    note["Subject"] = subject
    note["Date"] = date or format_datetime(datetime.now().astimezone())
    note["Message-ID"] = make_msgid(kind, "inquiryd.invalid")
    if about:
        note["In-Reply-To"] = about
        note["References"] = about
    note["Auto-Submitted"] = "auto-generated"
    note[NOTE_HEADER] = kind
    if draft_id:
        note[NOTE_FOR_HEADER] = draft_id
    note.set_content(text)
    try:
        return eml_bytes(note)
    except UnicodeError:
        # A broken encoded word ("=?utf?q?=A0=C2=A0") the stdlib decodes but cannot
        # fold back: show the subject as written, no longer taken for an encoded word.
        note.replace_header("Subject", subject.replace("=?", "= ?"))
        return eml_bytes(note)


# -- IMAP helpers ---------------------------------------------------------------------------

def _ensure_folders(client: IMAPClient, prefix: str) -> dict[str, str]:
    """The IMAP names of the five folders, each created (and subscribed) if missing."""
    namespace, delimiter = _hierarchy(client)
    base = prefix.replace("/", delimiter)
    if namespace and not base.startswith(namespace):
        base = namespace + base
    names = {f: f"{base}{delimiter}{f.capitalize()}" for f in FOLDERS}
    existing = {str(n) for _flags, _d, n in client.list_folders("", f"{base}{delimiter}%")}
    for name in names.values():
        if name not in existing:
            _create(client, name)
    return names


def _hierarchy(client: IMAPClient) -> tuple[str, str]:
    """(personal namespace prefix, hierarchy delimiter) of the account."""
    if client.has_capability("NAMESPACE"):
        personal = client.namespace().personal
        if personal:
            prefix, delimiter = personal[0]
            return str(prefix), _text(delimiter or "/")
    listed = client.list_folders("", "")
    return "", _text(listed[0][1]) if listed and listed[0][1] else "/"


def _create(client: IMAPClient, name: str) -> None:
    try:
        client.create_folder(name)
    except IMAPClientError:
        if not client.folder_exists(name):  # else another session made it just now
            raise
    try:
        client.subscribe_folder(name)  # many clients show subscribed folders only
    except IMAPClientError as exc:
        log.warning("event=review_subscribe_failed folder=%s error=%s",
                    name, kv(_text(exc)))
    log.info("event=review_folder_created folder=%s", name)


def _move_uid(client: IMAPClient, uid: int | None, target: str) -> None:
    """UID MOVE, or COPY + \\Deleted + EXPUNGE where the server has no MOVE."""
    if client.has_capability("MOVE"):
        client.move([uid], target)
        return
    client.copy([uid], target)
    client.add_flags([uid], [DELETED], silent=True)
    _expunge(client, [uid])


def _expunge(client: IMAPClient, uids: list[Any]) -> None:
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()  # without UIDPLUS: every \Deleted message of this folder


def _row(uid: int, data: dict[bytes, Any]) -> _Row:
    head = _header_block(data)
    parsed = BytesHeaderParser(policy=compat32).parsebytes(head)
    return _Row(uid, int(data.get(b"RFC822.SIZE") or 0), header_draft_id(head),
                str(parsed.get(NOTE_HEADER, "")).strip().lower(),
                str(parsed.get(NOTE_FOR_HEADER, "")).strip())


def _header_block(data: dict[bytes, Any]) -> bytes:
    # The server names the part as it likes (case, quoting): take the one header part.
    for key, value in data.items():
        if isinstance(key, bytes) and key.upper().startswith(b"BODY[HEADER.FIELDS"):
            return bytes(value or b"") + b"\r\n"
    return b""


def _newest_copy_first(rows: list[_Row]) -> list[_Row]:
    """Drafts in the order they arrived, but each draft's copies newest first."""
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        groups.setdefault(row.draft_id or f"uid:{row.uid}", []).append(row)
    ordered = sorted(groups.values(), key=lambda g: min(r.uid for r in g))
    return [r for group in ordered for r in sorted(group, key=lambda r: -r.uid)]


def _date(message: EmailMessage) -> datetime:
    """The draft's Date (the APPEND's internal date), or now when it has none."""
    try:
        when = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError, IndexError):
        return datetime.now(timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode(errors="replace")
    return str(value) or value.__class__.__name__
