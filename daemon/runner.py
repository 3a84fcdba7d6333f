"""One poll cycle: fetch and store every mailbox, then process what was stored.

The runner owns the transactions: each fetched batch is stored together with its
cursor; each message is processed in its own unit of work (pipeline.py). A mailbox
that cannot be reached is retried with capped exponential back-off, then reported
and left for the next poll; the other mailboxes go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from daemon import pipeline, rulebook, store
from daemon.config import Mailbox as MailboxConfig
from daemon.config import Settings
from daemon.db import Database
from daemon.errors import MailboxError
from daemon.fetch import Ref, Source
from daemon.fetch.imap import ImapSource
from daemon.fetch.maildir import MaildirSource
from daemon.leases import ME, Leases
from daemon.logs import kv
from daemon.models import Mailbox, Poll, utcnow
from daemon.types import ParseLimits

log = logging.getLogger(__name__)


@dataclass
class MailboxReport:
    name: str
    fetched: int = 0
    stored: int = 0
    processed: int = 0
    failed: int = 0
    quarantined: int = 0
    error: str | None = None
    healthy: bool = True


@dataclass
class PollReport:
    mailboxes: list[MailboxReport] = field(default_factory=list)
    stopped: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"mailboxes": [vars(m) for m in self.mailboxes], "stopped": self.stopped}


def open_source(box: MailboxConfig, settings: Settings) -> Source:
    if box.kind == "maildir":
        return MaildirSource(box)
    return ImapSource(box, settings.secret(box))


def parse_limits(settings: Settings) -> ParseLimits:
    ingest = settings.ingest
    return ParseLimits(max_bytes=ingest.max_message_bytes, max_depth=ingest.max_depth,
                       max_parts=ingest.max_parts)


def poll(settings: Settings, db: Database, stop: threading.Event | None = None,
         stages: Sequence[pipeline.Stage] | None = None) -> PollReport:
    """Fetch and store every configured mailbox, then process everything stored.

    `stages` default to the full pipeline with the rules read from settings.paths.rules.
    """
    stop = stop or threading.Event()
    if stages is None:  # read the rules first: a mistake there stops before any fetch
        stages = pipeline.default_stages(settings, rulebook.load(settings.paths.rules))
    report = PollReport()
    by_id: dict[int, MailboxReport] = {}
    leases = Leases(db, ME, timedelta(seconds=settings.database.lease_seconds))
    for box in settings.mailbox:
        if stop.is_set():
            break
        if not leases.take(f"mailbox:{box.name}"):  # another instance is polling it now
            log.info("event=mailbox_skipped mailbox=%s reason=polled_by_another_instance",
                     box.name)
            continue
        try:
            mailbox_id, mreport = ingest_mailbox(settings, db, box, stop)
        finally:
            leases.release(f"mailbox:{box.name}")
        by_id[mailbox_id] = mreport
        report.mailboxes.append(mreport)
    outcomes = pipeline.process_pending(db, parse_limits(settings),
                                        settings.ingest.max_attempts, stages, stop)
    for outcome in outcomes:
        target = by_id.get(outcome.mailbox_id or -1)
        if target is not None:
            setattr(target, outcome.state.value, getattr(target, outcome.state.value) + 1)
    _record_processing(db, by_id)
    report.stopped = stop.is_set()
    return report


def _record_processing(db: Database, by_id: dict[int, MailboxReport]) -> None:
    with db.unit_of_work() as session:
        for mailbox_id, mreport in by_id.items():
            last = session.scalars(select(Poll).where(Poll.mailbox_id == mailbox_id)
                                   .order_by(Poll.id.desc()).limit(1)).first()
            if last is not None:
                last.processed = mreport.processed
                last.failed = mreport.failed + mreport.quarantined


def ingest_mailbox(settings: Settings, db: Database, box: MailboxConfig,
                   stop: threading.Event) -> tuple[int, MailboxReport]:
    """Fetch and store one mailbox, retrying lost connections; record the poll."""
    report = MailboxReport(box.name)
    with db.unit_of_work() as session:
        mailbox = store.mailbox_row(session, box.name)
        poll_row = Poll(mailbox_id=mailbox.id)
        session.add(poll_row)
        session.flush()
        mailbox_id, poll_id = mailbox.id, poll_row.id
    for delay in _backoff(settings):
        if delay:
            log.info("event=mailbox_retry mailbox=%s in_seconds=%.1f", box.name, delay)
            if stop.wait(delay):
                break
        try:
            _fetch_all(settings, db, box, mailbox_id, report, stop)
            report.error = None
            break
        except MailboxError as exc:
            report.error = str(exc)
            log.warning("event=mailbox_error mailbox=%s error=%s", box.name, kv(exc))
        except Exception as exc:  # noqa: BLE001 - a bug or a database fault in one mailbox
            report.error = f"{exc.__class__.__name__}: {exc}"  # must not stop the others
            log.exception("event=mailbox_failed mailbox=%s", box.name)
            break
    _record_poll(settings, db, mailbox_id, poll_id, report)
    return mailbox_id, report


def _backoff(settings: Settings) -> Iterator[float]:
    """0, then base, 2*base, 4*base ... capped: one try and the retries of one poll."""
    ingest = settings.ingest
    yield 0.0
    delay = ingest.retry_base_seconds
    for _ in range(ingest.failures_before_unhealthy):
        yield min(delay, ingest.retry_max_seconds)
        delay *= 2


def _fetch_all(settings: Settings, db: Database, box: MailboxConfig, mailbox_id: int,
               report: MailboxReport, stop: threading.Event) -> None:
    with open_source(box, settings) as source:
        for folder in box.folders:
            if stop.is_set():
                return
            _fetch_folder(settings, db, source, mailbox_id, folder, report, stop)


def _fetch_folder(settings: Settings, db: Database, source: Source, mailbox_id: int,
                  folder: str, report: MailboxReport, stop: threading.Event) -> None:
    info = source.open_folder(folder)
    with db.unit_of_work() as session:
        cursor = store.load_cursor(session, session.get_one(Mailbox, mailbox_id), info)
    refs = source.pending(info, cursor)
    if not refs:
        if info.uidvalidity and cursor.uidvalidity != info.uidvalidity:
            with db.unit_of_work() as session:  # remember the new folder or UIDVALIDITY
                store.advance_cursor(session, session.get_one(Mailbox, mailbox_id), info, 0)
        return
    size = settings.ingest.batch_size
    for start in range(0, len(refs), size):
        if stop.is_set():
            return
        batch: list[Ref] = refs[start:start + size]
        fetched = source.fetch(info, batch)
        with db.unit_of_work() as session:
            mailbox = session.get_one(Mailbox, mailbox_id)
            report.stored += store.save_batch(session, mailbox, info, fetched)
        report.fetched += len(fetched)


def _record_poll(settings: Settings, db: Database, mailbox_id: int, poll_id: int,
                 report: MailboxReport) -> None:
    with db.unit_of_work() as session:
        mailbox = session.get_one(Mailbox, mailbox_id)
        poll_row = session.get_one(Poll, poll_id)
        now = utcnow()
        poll_row.finished_at, poll_row.error = now, report.error
        poll_row.fetched, poll_row.stored = report.fetched, report.stored
        mailbox.last_poll_at = now
        if report.error:
            mailbox.failures_in_row += 1
            mailbox.last_error = report.error
        else:
            mailbox.failures_in_row, mailbox.last_error = 0, None
            mailbox.last_poll_ok_at = now
        report.healthy = mailbox.failures_in_row < settings.ingest.failures_before_unhealthy
    log.info("event=mailbox_polled mailbox=%s fetched=%d stored=%d healthy=%s error=%s",
             report.name, report.fetched, report.stored, report.healthy, kv(report.error or ""))
