"""The sweep of the review folder: approved drafts judged, claimed, sent once and
recorded, rejected ones recorded, Sent copies filed. It ties the SMTP and Sent-folder
edges of send.py to the draft states of outbox.py and owns the transactions. The review
folder is whichever backend `[review]` configures (review.py): the same rules for both.
"""


from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import outbox
from daemon.config import Mailbox, Settings
from daemon.db import Database
from daemon.errors import ConfigError, MailboxError
from daemon.instance import running
from daemon.leases import ME, live_instances
from daemon.logs import kv
from daemon.models import Draft, DraftState, utcnow
from daemon.review import ReviewBackend, review_backends
from daemon.review_folder import (
    DRAFT_HEADER, STALE_SECONDS, ApprovedDraft, ReviewFileError, writer_tag,
)
from daemon.send import (
    SETTLE_SECONDS,
    SentFolder,
    SmtpConnection,
    SmtpUnavailable,
    attempt,
    expected_sender,
)

log = logging.getLogger(__name__)


# -- the sweep --------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What one sweep did; `error` says why it stopped early (e.g. no SMTP server)."""

    sent: int = 0
    retry_later: int = 0
    waiting: int = 0      # approved, its back-off not over yet
    failed: int = 0       # refused by the server, or too many temporary failures
    unknown: int = 0      # cut off after the dot: a person decides
    set_aside: int = 0    # moved to failed unsent (not ours, not pending, edited From)
    rejected: int = 0
    copies_filed: int = 0
    copy_errors: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What to do with one approved item: send, wait, finish, refuse (with reason)."""

    action: str
    reason: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    edits: tuple[str, ...] = ()


class Pacer:
    """At most `per_minute` sends a minute; the wait ends early when `stop` is set."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute
        self._next = 0.0

    def wait(self, stop: threading.Event) -> bool:
        delay = self._next - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return False
        self._next = time.monotonic() + self.interval
        return not stop.is_set()


_REFUSED = {
    DraftState.SENT: "draft {id} was already sent ({when}); this copy is not sent again",
    DraftState.REJECTED: "draft {id} was rejected; it is not sent",
    DraftState.FAILED: ("draft {id} failed ({error}); to try again: "
                        "inquiryd drafts resolve {id} resend"),
    DraftState.UNKNOWN: ("draft {id} may already have been delivered ({error}). It is not "
                         "sent again by itself: check, then run `inquiryd drafts resolve "
                         "{id} sent` or `... resend`"),
}


def _addresses(approved: ApprovedDraft, *headers: str) -> list[str]:
    return [address for _name, address in getaddresses(approved.header_values(*headers))]


def admission(draft: Draft | None, approved: ApprovedDraft, sender: str, now: datetime) -> Verdict:
    """Decide about one approved item, given its draft row (None: never drafted)."""
    if draft is None:
        return Verdict("refuse", f"no draft {approved.draft_id} was ever written by inquiryd "
                                 f"({DRAFT_HEADER}); it is not sent")
    if draft.state == DraftState.SENT and draft.file_name == approved.name:
        return Verdict("finish")  # sent, then stopped before the file was moved
    if draft.state in _REFUSED:
        when = draft.sent_at.isoformat(timespec="minutes") if draft.sent_at else ""
        return Verdict("refuse", _REFUSED[draft.state].format(id=draft.id, when=when,
                                                              error=draft.error))
    if draft.state == DraftState.SENDING or (draft.next_attempt_at or now) > now:
        return Verdict("wait")
    problem = _content_problem(draft, approved, sender)
    if problem:
        return Verdict("refuse", f"{problem}; it is not sent (fix it and move it back)")
    recipients = tuple(_addresses(approved, "To", "Cc"))
    edits = [name for name, changed in (
        ("subject", approved.subject != " ".join(draft.subject.split())),
        ("body", approved.body_changed(draft.body_sha256)),
        ("recipients", {a.lower() for a in recipients} != {draft.to_addr.lower()})) if changed]
    return Verdict("send", sender=sender, recipients=recipients, edits=tuple(edits))


def _content_problem(draft: Draft, approved: ApprovedDraft, sender: str) -> str:
    froms = [a.lower() for a in _addresses(approved, "From")]
    if froms != [sender.lower()]:
        return f"From was changed to {', '.join(froms) or 'nothing'}: it must be {sender}"
    if approved.header_values("Message-ID") != [draft.outgoing_message_id]:
        return (f"Message-ID was changed or removed: it must stay "
                f"{draft.outgoing_message_id} (replies are matched by it)")
    if approved.header_values("Bcc"):
        return "it has a Bcc header, which every recipient would see"
    recipients = _addresses(approved, "To", "Cc")
    if not recipients or any("@" not in a for a in recipients):
        return "To/Cc hold no valid recipient address"
    return ""


def sweep(settings: Settings, db: Database, review: ReviewBackend[Any],
          stop: threading.Event, *, settle_seconds: float = SETTLE_SECONDS) -> SweepReport:
    """One pass: rejections recorded, approved drafts sent, Sent copies filed."""
    report = SweepReport()
    try:
        with review:  # one session for the pass when the review folder is on a server
            _sweep_review(settings, db, review, stop, settle_seconds, report)
    except MailboxError as exc:  # the review mailbox is down: nothing claimed is lost
        report.error = str(exc)
        log.error("event=review_unavailable error=%s", kv(str(exc)))
    if not stop.is_set():
        report.copies_filed, report.copy_errors = file_sent_copies(settings, db, stop)
    if report != SweepReport():
        log.info("event=sweep_done %s",
                 " ".join(f"{k}={kv(v)}" for k, v in vars(report).items()))
    return report


def sweep_all(settings: Settings, db: Database, stop: threading.Event, *,
              settle_seconds: float = SETTLE_SECONDS) -> SweepReport:
    """One sweep of every review folder: the shared one and each salesperson's."""
    recover_stopped_sends(db)
    backends = review_backends(settings)
    if len(backends) == 1:
        return sweep(settings, db, backends[0], stop, settle_seconds=settle_seconds)
    total = SweepReport()
    for review in backends:
        if stop.is_set():
            break
        one = sweep(settings, db, review, stop, settle_seconds=settle_seconds)
        for key, value in vars(one).items():
            if key == "error":
                total.error = total.error or value
            elif key not in ("copies_filed", "copy_errors"):
                setattr(total, key, getattr(total, key) + value)
        total.copies_filed += one.copies_filed
        total.copy_errors += one.copy_errors
    return total


def _sweep_review(settings: Settings, db: Database, review: ReviewBackend[Any],
                  stop: threading.Event, settle_seconds: float, report: SweepReport) -> None:
    report.rejected = record_rejections(db, review)
    review.tidy()
    settle_staged(db, review)
    pacer = Pacer(settings.sending.per_minute)
    with SmtpConnection(settings) as smtp:
        for item in review.approved_items(min_age=settle_seconds):
            if stop.is_set():
                break
            try:
                _sweep_one(settings, db, review, smtp, pacer, stop, item, report)
            except SmtpUnavailable as exc:
                report.error = str(exc)
                log.error("event=smtp_unavailable error=%s", kv(str(exc)))
                break


def _sweep_one(settings: Settings, db: Database, review: ReviewBackend[Any],
               smtp: SmtpConnection, pacer: Pacer, stop: threading.Event, item: Any,
               report: SweepReport) -> None:
    approved, verdict = _judge(settings, db, review, item)
    if verdict.action in ("refuse", "finish"):
        _move(review, item, "failed" if verdict.reason else "sent", verdict.reason or None)
        report.set_aside += bool(verdict.reason)
        log.info("event=draft_set_aside file=%s reason=%s",
                 kv(item.name), kv(verdict.reason or "sent"))
    report.waiting += verdict.action == "wait"
    if approved is None or verdict.action != "send" or not pacer.wait(stop):
        return
    smtp.connect()  # before the claim: with no server, no draft is charged an attempt
    with db.unit_of_work() as session:
        if not outbox.claim_for_sending(session, approved.draft_id):
            return  # another sweep holds it
    outcome, words = _deliver(db, smtp, approved, verdict)
    with db.unit_of_work() as session:
        state = _record(session, settings, approved, verdict, outcome, words)
    log.info("event=draft_send outcome=%s state=%s draft=%s reply=%s",
             outcome, state.value, approved.draft_id, kv(words))
    key = {DraftState.SENT: "sent", DraftState.APPROVED: "retry_later",
           DraftState.UNKNOWN: "unknown"}.get(state, "failed")
    setattr(report, key, getattr(report, key) + 1)  # counted even if the move fails
    _file_away(review, item, approved.draft_id, state, words)


def _move(review: ReviewBackend[Any], item: Any, to: str, reason: str | None = None) -> None:
    """Move an item the sweep is done with; a person may have moved it first."""
    try:
        review.move(item, to, reason)
    except FileNotFoundError:
        log.warning("event=draft_file_gone file=%s wanted_in=%s", kv(item.name), to)


def _file_away(review: ReviewBackend[Any], item: Any, draft_id: str, state: DraftState,
               words: str) -> None:
    """Move the item after its outcome is committed; a retry stays in approved."""
    if state == DraftState.SENT:
        _move(review, item, "sent")
    elif state == DraftState.UNKNOWN:
        _move(review, item, "failed", _REFUSED[state].format(id=draft_id, error=words, when=""))
    elif state == DraftState.FAILED:
        _move(review, item, "failed", f"not sent: {words}")


def _judge(settings: Settings, db: Database, review: ReviewBackend[Any],
           item: Any) -> tuple[ApprovedDraft | None, Verdict]:
    try:
        approved = review.read_approved(item)
    except FileNotFoundError:
        return None, Verdict("gone")  # moved away by a person meanwhile
    except ReviewFileError as exc:
        return None, Verdict("refuse", str(exc))
    with db.unit_of_work() as session:
        draft = outbox.get(session, approved.draft_id, lock=True)
        sender = expected_sender(settings, draft.mailbox_name if draft else "")
        verdict = admission(draft, approved, sender, utcnow())
        if verdict.action == "send" and draft is not None:
            outbox.approve(session, draft, verdict.edits, approved.subject)
        elif verdict.action == "refuse" and draft is not None and draft.state in outbox.OPEN:
            outbox.note_problem(session, draft.id, verdict.reason)
    return approved, verdict


def _deliver(db: Database, smtp: SmtpConnection, approved: ApprovedDraft,
             verdict: Verdict) -> tuple[str, str]:
    """("sent"|"retry"|"failed"|"unknown", the server's words) for one claimed draft."""

    def release() -> None:
        with db.unit_of_work() as session:  # the conversation never began
            outbox.release_claim(session, approved.draft_id)

    return attempt(lambda: smtp.send(verdict.sender, list(verdict.recipients),
                                     approved.message_bytes),
                   release=release, what=f"draft {approved.draft_id}")


def _record(session: Session, settings: Settings, approved: ApprovedDraft, verdict: Verdict,
            outcome: str, words: str) -> DraftState:
    draft_id = approved.draft_id
    if outcome == "sent":
        outbox.mark_sent(session, draft_id, outbox.Sent(
            approved.message_bytes, words, verdict.sender, approved.subject))
        return DraftState.SENT
    if outcome == "retry":
        return outbox.mark_temporary_failure(session, draft_id, words, settings.sending)
    if outcome == "failed":
        outbox.mark_failed(session, draft_id, words)
        return DraftState.FAILED
    outbox.mark_unknown(session, draft_id, words)
    return DraftState.UNKNOWN


def settle_staged(db: Database, review: ReviewBackend[Any]) -> tuple[int, int]:
    """Publish each staged draft whose row was committed (its writer stopped just
    after the commit) and discard each one whose row never came and never will: its
    writer is no longer running and it is older than any unit of work (the message is
    drafted again). (published, discarded)."""
    staged = review.unpublished()
    if not staged:
        return 0, 0
    with db.unit_of_work() as session:
        recorded = set(session.scalars(
            select(Draft.id).where(Draft.id.in_({s.draft_id for s in staged}))))
    running = {writer_tag(i) for i in live_instances(db) | {ME}}
    published = discarded = 0
    for one in staged:
        if one.draft_id in recorded:
            review.publish(one, late=True)
            published += 1
            log.info("event=draft_published_late draft=%s file=%s", one.draft_id, kv(one.name))
        elif one.writer not in running and one.age_seconds > STALE_SECONDS:
            review.discard(one)
            discarded += 1
            log.warning("event=draft_discarded file=%s reason=%s", kv(one.name),
                        kv("never recorded: the process writing it stopped first"))
    return published, discarded


def record_rejections(db: Database, review: ReviewBackend[Any]) -> int:
    """Mark the drafts whose items are in rejected rejected (once); how many were new."""
    files = [(review.named_draft_id(p), p) for p in review.rejected_items()]
    with db.unit_of_work() as session:
        known = outbox.states_of(session, [i for i, _p in files if i])
        # A renamed file says nothing by its name: read its header (rare, and small).
        ids = set(known) | {review.header_draft_id(p) for i, p in files if i not in known}
        states = outbox.states_of(session, sorted(i for i in ids if i))
        newly = [i for i, state in states.items() if state in outbox.OPEN]
        for draft_id in newly:
            outbox.mark_rejected(session, draft_id)
    for draft_id in newly:
        log.info("event=draft_rejected draft=%s", draft_id)
    return len(newly)


def _mailbox_for(settings: Settings, name: str) -> Mailbox:
    return next((m for m in settings.mailbox if m.name == name), settings.mailbox[0])


def file_sent_copies(settings: Settings, db: Database, stop: threading.Event) -> tuple[int, int]:
    """File the Sent copies still due, one session per mailbox; (filed, failed).

    A failure is logged and kept on the draft; the next sweep tries again. Nothing
    here can send mail again: the bytes come from the database, not the outbox.
    """
    filed = failed = 0
    while not (stop.is_set() or failed):
        with db.unit_of_work() as session:
            due = outbox.sent_copies_due(session, limit=500)
        if not due:
            break
        groups: dict[str, list[tuple[str, datetime | None, bytes]]] = {}
        for draft_id, name, when, data in due:
            groups.setdefault(_mailbox_for(settings, name).name, []).append((draft_id, when, data))
        for name, items in groups.items():
            done, error = _file_group(settings, db, _mailbox_for(settings, name), items, stop)
            filed += done
            failed += error
    return filed, failed


def _file_group(settings: Settings, db: Database, box: Mailbox,
                items: list[tuple[str, datetime | None, bytes]],
                stop: threading.Event) -> tuple[int, int]:
    done = 0
    current = items[0][0]
    try:
        with SentFolder(settings, box) as folder:
            for current, when, data in items:
                if stop.is_set():
                    break
                folder.append(data, when)
                with db.unit_of_work() as session:
                    outbox.mark_copied(session, current)
                done += 1
    except Exception as exc:  # noqa: BLE001 - the mail is out; a copy that fails waits
        log.warning("event=sent_copy_failed mailbox=%s draft=%s error=%s",
                    box.name, current, kv(f"{exc.__class__.__name__}: {exc}"))
        with db.unit_of_work() as session:
            outbox.mark_copied(session, current, error=str(exc))
        return done, 1
    return done, 0


# -- entry points for the service and the command line ------------------------------------

def recover_stopped_sends(db: Database) -> list[str]:
    """Drafts an instance that stopped (killed, or its lease expired) left in `sending`
    become `unknown` (logged): a person decides, they are never resent by themselves.
    Run at start and before every sweep, so another instance's are found within one
    lease period."""
    live = live_instances(db) | {ME}
    with db.unit_of_work() as session:
        ids = outbox.recover_sending(session, live)
    for draft_id in ids:
        log.warning("event=draft_unknown draft=%s reason=found_sending_after_stop "
                    "action=needs_decision", draft_id)
    return ids


def sweep_job(settings: Settings, db: Database, stop: threading.Event) -> SweepReport | None:
    """The service's scheduled sweep: never raises, logs instead."""
    try:
        return sweep_all(settings, db, stop)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("event=sweep_refused problem=%s", kv(problem))
    except Exception:  # noqa: BLE001 - one bad sweep must not end the service
        log.exception("event=sweep_crashed")
    return None


def send_now(settings: Settings, db: Database, stop: threading.Event | None = None,
             *, settle_seconds: float = SETTLE_SECONDS) -> SweepReport:
    """`inquiryd send`: as a working instance, one sweep (recovering stopped sends first)."""
    with running(settings, db, "send"):
        return sweep_all(settings, db, stop or threading.Event(), settle_seconds=settle_seconds)


def resolve_draft(settings: Settings, db: Database, draft_id: str, decision: str) -> str:
    """`inquiryd drafts resolve ID sent|resend`: record it, move the file; a summary."""
    with db.unit_of_work() as session:
        draft = outbox.get(session, draft_id)
        name, box = (draft.file_name, draft.mailbox_name) if draft else ("", "")
    with _holding(settings, draft_id, name) as review:
        item = review.locate(draft_id, name, ("failed", "approved")) if draft else None
        sent = _as_sent(settings, review, item, box) if decision == "sent" else None
        with db.unit_of_work() as session:
            outbox.resolve(session, draft_id, decision, sent)
        if item is None:
            where = "sent/" if decision == "sent" else "approved/ to send it again"
            return f"draft {draft_id}: {decision}; its file was not found: move it to {where}"
        moved = review.move(item, "sent" if decision == "sent" else "approved")
    return f"draft {draft_id}: {decision}; its file is now in {_where(moved)}"


def _holding(settings: Settings, draft_id: str, name: str) -> ReviewBackend[Any]:
    """The review folder holding a draft in failed/ or approved/ (the shared one when
    there is only one, or when none holds it)."""
    backends = review_backends(settings)
    for review in backends[1:]:  # salespeople's folders: plain folders, nothing to open
        if review.locate(draft_id, name, ("failed", "approved")) is not None:
            return review
    return backends[0]


def _as_sent(settings: Settings, review: ReviewBackend[Any], item: Any,
             box: str) -> outbox.Sent | None:
    """The draft as a person says it was sent, so its copy goes to the Sent folder too."""
    if item is None:
        return None
    try:
        approved = review.read_approved(item)
    except (ReviewFileError, FileNotFoundError):
        return None  # no bytes to file: the draft is marked copied
    return outbox.Sent(approved.message_bytes, "", expected_sender(settings, box),
                       approved.subject)


def _where(item: Any) -> str:
    """`approved/<file>` for a file, the IMAP folder (and UID) for a message."""
    parent = getattr(item, "parent", None)
    return f"{parent.name}/{item.name}" if parent is not None else str(item)
