"""What the one-shot commands do, apart from argument parsing and printing."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from daemon import pipeline, record, rulebook, runner
from daemon.config import Settings
from daemon.db import Database
from daemon.errors import UsageError
from daemon.instance import running
from daemon.models import Buyer, BuyerAddress, Message


@contextmanager
def stoppable() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT, so the current message can finish first."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def poll_once(settings: Settings, db: Database) -> runner.PollReport:
    with running(settings, db, "poll"), stoppable() as stop:
        return runner.poll(settings, db, stop)


def reprocess_messages(settings: Settings, db: Database, ids: Sequence[str], *,
                       all_failed: bool) -> int:
    with running(settings, db, "reprocess"), stoppable() as stop:
        numbers = _message_numbers(db, ids)
        count = pipeline.reprocess(db, numbers, all_failed=all_failed)
        stages = pipeline.default_stages(settings, rulebook.load(settings.paths.rules))
        pipeline.process_pending(db, runner.parse_limits(settings),
                                 settings.ingest.max_attempts, stages, stop)
        return count


def _message_numbers(db: Database, ids: Sequence[str]) -> list[int]:
    """Our numeric ids, given either them or Message-ID headers."""
    numbers = [int(i) for i in ids if i.isdigit()]
    headers = [i for i in ids if not i.isdigit()]
    if headers:
        with db.unit_of_work() as session:
            found = session.scalars(select(Message.id).where(or_(
                Message.message_id.in_(headers),
                Message.message_id.in_([f"<{h.strip('<>')}>" for h in headers]))))
            numbers.extend(found)
    if not numbers and ids:
        raise UsageError(f"no stored message matches {', '.join(ids)}")
    return numbers


def override_grade(db: Database, who: str, grade: str, *, by: str, why: str) -> int:
    db.ensure_schema()
    with db.unit_of_work() as session:
        buyer = find_buyer(session, who)
        record.set_grade(session, buyer, grade, by=by, why=why)
        return buyer.id


def find_buyer(session: Session, who: str) -> Buyer:
    """A buyer by id or by one of their addresses; UsageError when none."""
    buyer = None
    if who.isdigit():
        buyer = session.get(Buyer, int(who))
    else:
        buyer = session.scalars(select(Buyer).join(BuyerAddress)
                                .where(BuyerAddress.address == who.strip().lower())).first()
    if buyer is None:
        raise UsageError(f"no buyer with id or address {who!r}")
    return buyer
