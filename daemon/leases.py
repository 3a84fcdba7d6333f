"""Leases in the database: how several instances share one PostgreSQL without any other
coordination.

A lease is a row named for what it guards, with its holder and an expiry:

  instance:<id>            the instance is alive (renewed by its heartbeat)
  mailbox:<name>           the mailbox is being polled (one poller at a time)
  job:<job>@<fire time>    one firing of a scheduled job (kept, with done_at, once run)

A holder renews everything it holds on every heartbeat; a lease whose holder died expires
after `ttl` and the next instance that asks takes it over. Taking a lease is one
conditional INSERT or UPDATE, so two instances can never both hold it. Instances compare
expiry times written by their own clocks: run them with NTP, and keep `ttl` well above
the clock difference (the default is a minute).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from daemon.db import Database
from daemon.models import Lease, utcnow

log = logging.getLogger(__name__)

# This process among the instances: host, pid and a random tag (a pid is reused).
ME = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def instance_lease(holder: str) -> str:
    return f"instance:{holder}"


def job_lease(job_id: str, fire_time: datetime) -> str:
    return f"job:{job_id}@{fire_time.astimezone(timezone.utc):%Y-%m-%dT%H:%MZ}"


def parse_job_lease(name: str) -> str | None:
    """The job id of a job firing's lease name; None for other leases."""
    if not name.startswith("job:") or "@" not in name:
        return None
    return name[4:].rsplit("@", 1)[0]


class Leases:
    """The leases one holder takes, renews, finishes and gives back."""

    def __init__(self, db: Database, holder: str = ME, ttl: timedelta = timedelta(seconds=60)):
        self.db, self.holder, self.ttl = db, holder, ttl

    def take(self, name: str, now: datetime | None = None) -> bool:
        """True when this holder now holds `name`: it was free, expired, or ours already.
        A finished job firing (done_at set) is never taken again."""
        now = now or utcnow()
        try:
            with self.db.engine.begin() as conn:
                conn.execute(insert(Lease).values(name=name, holder=self.holder, acquired_at=now,
                                                  expires_at=now + self.ttl))
            return True
        except IntegrityError:
            pass
        with self.db.engine.begin() as conn:
            result = conn.execute(
                update(Lease).where(Lease.name == name, Lease.done_at.is_(None),
                                    or_(Lease.holder == self.holder, Lease.expires_at < now))
                .values(holder=self.holder, acquired_at=now, expires_at=now + self.ttl))
        taken = result.rowcount == 1
        if taken:
            log.info("event=lease_taken lease=%s holder=%s", name, self.holder)
        return taken

    def renew(self, now: datetime | None = None) -> int:
        """Push back the expiry of everything this holder holds; how many leases."""
        now = now or utcnow()
        with self.db.engine.begin() as conn:
            result = conn.execute(update(Lease).where(Lease.holder == self.holder,
                                                      Lease.done_at.is_(None))
                                  .values(expires_at=now + self.ttl))
        return result.rowcount

    def release(self, name: str) -> None:
        """Give `name` back at once (a mailbox polled, an instance stopping)."""
        with self.db.engine.begin() as conn:
            conn.execute(delete(Lease).where(Lease.name == name, Lease.holder == self.holder))

    def finish(self, name: str, now: datetime | None = None) -> None:
        """A job firing ran: keep the row so no instance runs that firing again."""
        with self.db.engine.begin() as conn:
            conn.execute(update(Lease).where(Lease.name == name, Lease.holder == self.holder)
                         .values(done_at=now or utcnow()))

    def orphans(self, now: datetime | None = None) -> list[str]:
        """Job firings whose holder died before finishing them: to be run by another."""
        now = now or utcnow()
        with self.db.engine.connect() as conn:
            return list(conn.scalars(select(Lease.name).where(
                Lease.name.like("job:%"), Lease.done_at.is_(None), Lease.expires_at < now)
                .order_by(Lease.acquired_at)))

    def live_instances(self, now: datetime | None = None) -> set[str]:
        now = now or utcnow()
        with self.db.engine.connect() as conn:
            names = conn.scalars(select(Lease.name).where(Lease.name.like("instance:%"),
                                                          Lease.expires_at >= now))
            return {n.removeprefix("instance:") for n in names}

    def expire_all_unfinished(self, now: datetime | None = None) -> int:
        """At the start of the only instance (SQLite): every lease left is a dead
        process's. Expired, not deleted: a job firing it left unfinished is an orphan
        this instance then takes over and runs again."""
        now = now or utcnow()
        with self.db.engine.begin() as conn:
            return conn.execute(update(Lease).where(Lease.done_at.is_(None),
                                                    Lease.expires_at >= now)
                                .values(expires_at=now - timedelta(seconds=1))).rowcount

    def prune(self, now: datetime | None = None) -> int:
        """Forget finished job firings after a month and the heartbeats of instances
        that stopped over an hour ago (the table stays small)."""
        now = now or utcnow()
        with self.db.engine.begin() as conn:
            return conn.execute(delete(Lease).where(or_(
                Lease.done_at < now - timedelta(days=30),
                Lease.name.like("instance:%") & (Lease.expires_at < now - timedelta(hours=1)))
            )).rowcount


def live_instances(db: Database) -> frozenset[str]:
    """The instances whose heartbeat lease has not expired."""
    return frozenset(Leases(db).live_instances())
