"""This process as one instance among those sharing a database.

`running()` is what every command that does work holds: the state folder's lock, on
SQLite a lock on the database file (SQLite cannot be shared by two instances: a second
one is refused with the way out), and the instance's heartbeat lease, renewed by a
thread so that other instances know it is alive and take its work over once it stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import make_url

from daemon.config import Settings
from daemon.db import Database
from daemon.errors import LockedError
from daemon.leases import ME, Leases, instance_lease
from daemon.lock import StateLock
from daemon.models import Message

log = logging.getLogger(__name__)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


class Heartbeat(threading.Thread):
    """Renews this instance's leases every third of their lifetime until stopped."""

    def __init__(self, leases: Leases):
        super().__init__(name="lease-heartbeat", daemon=True)
        self.leases = leases
        self.stopped = threading.Event()

    def run(self) -> None:
        every = self.leases.ttl.total_seconds() / 3
        while not self.stopped.wait(every):
            try:
                self.leases.renew()
            except Exception as exc:  # noqa: BLE001 - a database hiccup: try again next beat
                log.warning("event=lease_renew_failed holder=%s error=%s", self.leases.holder,
                            exc.__class__.__name__)


@contextmanager
def running(settings: Settings, db: Database, purpose: str) -> Iterator[Leases]:
    """Hold the locks and the heartbeat of a working instance for the block."""
    with ExitStack() as stack:
        stack.enter_context(StateLock(settings.paths.state, purpose))
        shared = _lock_sqlite(stack, settings, purpose)
        db.ensure_schema()
        leases = Leases(db, ME, timedelta(seconds=settings.database.lease_seconds))
        if not shared:
            _forget_the_dead(db, leases)
        leases.prune()
        leases.take(instance_lease(ME))
        beat = Heartbeat(leases)
        beat.start()
        stack.callback(leases.release, instance_lease(ME))
        stack.callback(beat.stopped.set)
        log.debug("event=instance_started instance=%s purpose=%s", ME, purpose)
        yield leases


def _lock_sqlite(stack: ExitStack, settings: Settings, purpose: str) -> bool:
    """On SQLite, lock the database file for this instance; False when on SQLite."""
    path = sqlite_file(settings.database_url)
    if path is None:
        return True
    lock = StateLock(path.parent, purpose, name=f"{path.name}.instance-lock")
    try:
        stack.enter_context(lock)
    except LockedError as exc:
        raise LockedError(
            f"the SQLite database {path} is in use by another inquiryd ({exc.holder}): SQLite "
            "cannot be shared by two instances; give each its own database, or run them all "
            'on PostgreSQL ([database] url = "postgresql+psycopg://...")') from None
    return False


def _forget_the_dead(db: Database, leases: Leases) -> None:
    """The only instance on SQLite: every lease and claim left is a dead process's."""
    leases.expire_all_unfinished()
    with db.engine.begin() as conn:
        conn.execute(update(Message).where(Message.claimed_by.is_not(None))
                     .values(claimed_by=None, claimed_until=None))
