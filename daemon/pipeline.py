"""Runs each stored message through the stages, one unit of work per message.

The only module that calls both the pure stages and I/O. A message is claimed (its
attempt counted and committed) before it is processed, so one that kills the process
every time is still quarantined after `max_attempts`, not retried forever. A failure
never blocks the others: it is recorded on the message and the loop goes on.

The stages after parsing get the session, the stored Message row and the parsed Mail,
inside the message's transaction: understanding (classify, extract, match, grade),
recording, then the reply draft written to the review folder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta, tzinfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from daemon import campaigns, owners, templating
from daemon.config import Settings
from daemon.db import Database, advisory_lock
from daemon.drafting import Drafter, buyer_view
from daemon.errors import ConfigError, PermanentError
from daemon.leases import ME, live_instances
from daemon.logs import kv
from daemon.match_buyer import grouping_key
from daemon.models import Message, MessageState, utcnow
from daemon.newsletter import AddressRules
from daemon.parse import parse
from daemon.queries import DbLookups
from daemon.record import record
from daemon.review import review_backend
from daemon.rfq_record import record_rfqs
from daemon.send import expected_sender
from daemon.rules import Rulebook
from daemon.types import Mail, ParseLimits
from daemon.understand import understand

log = logging.getLogger(__name__)

Stage = Callable[[Session, Message, Mail], None]


def understanding_stage(book: Rulebook, own_domains: frozenset[str], tz: tzinfo,
                        drafter: Drafter | None = None,
                        addresses: AddressRules | None = None,
                        owner_rules: owners.OwnerRules | None = None) -> Stage:
    """Classify, extract, match and grade the message, record it, and draft the reply."""

    def stage(session: Session, message: Message, mail: Mail) -> None:
        now = utcnow()
        if mail.from_ is not None:  # another instance handling this company's mail waits
            advisory_lock(session, "buyer:" + grouping_key(mail.from_.email, book.matching))
        today = now.astimezone(tz).date()
        decision = understand(mail, book, DbLookups(session), today=today,
                              own_domains=own_domains)
        key = decision.match.lookup.company_key
        if decision.match.how == "new" and key and advisory_lock(session, "company:" + key):
            # A new buyer known by a company name that senders at other grouping keys
            # (free mail) may share: serialised on the name (always after the sender's
            # lock), then looked up again, so two instances never make the company twice.
            decision = understand(mail, book, DbLookups(session), today=today,
                                  own_domains=own_domains)
        before = buyer_view(session, decision)  # the history as it was before this message
        inquiry = record(session, message, mail, decision, now, addresses, owner_rules)
        record_rfqs(session, message, mail, decision, book)  # a digest's RFQs become leads
        if drafter is not None:
            drafter.draft(session, message, mail, decision, inquiry, before, now)

    return stage


def default_stages(settings: Settings, book: Rulebook) -> list[Stage]:
    """The full pipeline with these rules and the templates of settings.paths.templates."""
    own = frozenset(d.lower() for d in settings.company.own_domains)
    for box in settings.mailbox:  # a missing sender stops here, before any mail is touched
        expected_sender(settings, box.name)
    drafter = Drafter(settings, book, templating.environment(settings.paths.templates),
                      review_backend(settings))
    # Unsubscribe tokens and the soft-bounce limits (campaigns.py holds the token key).
    addresses = campaigns.address_rules(settings)
    return [understanding_stage(book, own, settings.schedule.tz, drafter, addresses,
                                owners.rules_from(settings))]


RETRYABLE = (MessageState.STORED, MessageState.FAILED)
# How long a claimed message is this instance's: far longer than one message takes.
CLAIM_TTL = timedelta(minutes=5)
_CLAIMED = object()


@dataclass(frozen=True)
class Outcome:
    message: int
    mailbox_id: int | None
    state: MessageState
    error: str | None = None


def process_pending(db: Database, limits: ParseLimits, max_attempts: int,
                    stages: Sequence[Stage], stop: threading.Event | None = None) -> list[Outcome]:
    """Process every stored or failed message, oldest first, until done or stopped."""
    outcomes = []
    live = live_instances(db)
    for message in _pending_ids(db):
        if stop is not None and stop.is_set():
            break
        outcome = process_one(db, message, limits, max_attempts, stages, live)
        if outcome is not None:  # None: another instance has it
            outcomes.append(outcome)
    return outcomes


def _pending_ids(db: Database) -> list[int]:
    with db.unit_of_work() as session:
        return list(session.scalars(
            select(Message.id).where(Message.state.in_(RETRYABLE)).order_by(Message.id)))


def process_one(db: Database, message_id: int, limits: ParseLimits, max_attempts: int,
                stages: Sequence[Stage], live: frozenset[str] = frozenset()) -> Outcome | None:
    """Claim and process one message; None when another instance holds it or did it."""
    claimed = _claim(db, message_id, max_attempts, live)
    if claimed is not _CLAIMED:
        return claimed
    try:
        with db.unit_of_work() as session:
            # Locked for the whole unit of work: an instance whose claim on it expired
            # waits here, then finds the message no longer claimed by it.
            message = session.get_one(Message, message_id, with_for_update=True)
            if message.claimed_by != ME or message.state not in RETRYABLE:
                return None
            mail = parse(message.raw.data if message.raw else b"", limits)
            _record_parsed(message, mail)
            for stage in stages:
                stage(session, message, mail)
            message.state, message.error = MessageState.PROCESSED, None
            message.processed_at = utcnow()
            message.claimed_by = message.claimed_until = None
            return Outcome(message_id, message.mailbox_id, MessageState.PROCESSED)
    except ConfigError as exc:
        # A broken template or rule is the desk's to fix, not this message's fault: give
        # the attempt back and stop the cycle so the mistake is seen, not spread.
        _unclaim(db, message_id, "; ".join(exc.problems))
        raise
    except PermanentError as exc:
        return _set_aside(db, message_id, str(exc), max_attempts, permanent=True)
    except Exception as exc:  # noqa: BLE001 - any bug in one message must not stop the rest
        log.exception("event=message_failed id=%d", message_id)
        return _set_aside(db, message_id, f"{exc.__class__.__name__}: {exc}", max_attempts,
                          permanent=False)


def _claim(db: Database, message_id: int, max_attempts: int,
           live: frozenset[str]) -> Outcome | object | None:
    """Count the attempt before trying and mark the message as this instance's until
    CLAIM_TTL; quarantine a message that has used all its attempts. _CLAIMED when we
    hold it, None when another live instance holds it (or it is done), else the Outcome.

    SKIP LOCKED lets instances pass over a row another is claiming at this moment. A
    claim is void once its instance is no longer live (its lease expired) or CLAIM_TTL
    passed, so a dead instance's message goes to the next instance that polls."""
    now = utcnow()
    with db.unit_of_work() as session:
        message = session.scalars(
            select(Message).where(Message.id == message_id, Message.state.in_(RETRYABLE),
                                  or_(Message.claimed_until.is_(None),
                                      Message.claimed_until < now,
                                      Message.claimed_by.not_in(sorted(live | {ME}))))
            .with_for_update(skip_locked=True)).first()
        if message is None:
            return None
        message.claimed_by = message.claimed_until = None
        if message.attempts >= max_attempts:
            message.state = MessageState.QUARANTINED
            message.error = (f"gave up after {message.attempts} attempts; last error: "
                             f"{message.error or 'the process stopped while handling it'}")
            _log_set_aside(message)
            return Outcome(message_id, message.mailbox_id, message.state, message.error)
        message.attempts += 1
        message.claimed_by, message.claimed_until = ME, now + CLAIM_TTL
    return _CLAIMED


def _unclaim(db: Database, message_id: int, reason: str) -> None:
    with db.unit_of_work() as session:
        message = session.get_one(Message, message_id)
        message.claimed_by = message.claimed_until = None
        message.attempts = max(0, message.attempts - 1)
        message.error = f"waiting for a configuration fix: {reason}"


def _record_parsed(message: Message, mail: Mail) -> None:
    message.from_addr = mail.from_.email[:320] if mail.from_ else None
    message.subject = mail.subject
    if mail.message_id and not message.message_id:
        message.message_id = mail.message_id[:998]


def _set_aside(db: Database, message_id: int, reason: str, max_attempts: int, *,
               permanent: bool) -> Outcome:
    with db.unit_of_work() as session:
        message = session.get_one(Message, message_id)
        message.claimed_by = message.claimed_until = None
        give_up = permanent or message.attempts >= max_attempts
        message.state = MessageState.QUARANTINED if give_up else MessageState.FAILED
        message.error = reason
        _log_set_aside(message)
        return Outcome(message_id, message.mailbox_id, message.state, reason)


def _log_set_aside(message: Message) -> None:
    log.warning("event=message_%s id=%d attempts=%d reason=%s", message.state.value,
                message.id, message.attempts, kv(message.error))


def reprocess(db: Database, ids: Sequence[int] = (), *, all_failed: bool = False) -> int:
    """Put failed or quarantined messages back in line with fresh attempts."""
    with db.unit_of_work() as session:
        query = select(Message).where(
            Message.state.in_((MessageState.FAILED, MessageState.QUARANTINED)))
        if not all_failed:
            query = query.where(Message.id.in_(list(ids)))
        rows = session.scalars(query).all()
        for message in rows:
            message.state, message.attempts = MessageState.STORED, 0
        return len(rows)
