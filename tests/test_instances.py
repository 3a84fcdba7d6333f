"""Several instances on one database: leases, claims on messages, jobs once per firing,
and SQLite refusing to be shared. (The three-process run is in tests/reliability.)"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import time_machine
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from daemon import pipeline, runner
from daemon.db import Database
from daemon.errors import LockedError
from daemon.instance import running
from daemon.leases import ME, Leases, instance_lease, job_lease, live_instances
from daemon.models import Lease, Message, MessageState, RawMessage
from daemon.service import Service, last_fire_time, poll_triggers, trigger
from tests.db.fixtures import _reset_postgres
from tests.helpers import inquiry, settings_for

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
MAILDIR = """
[[mailbox]]
name = "sales"
kind = "maildir"
path = "{path}"
"""


# -- leases -------------------------------------------------------------------------------

def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    a = Leases(db, "host-a:1:aaaaaa", timedelta(seconds=60))
    b = Leases(db, "host-b:2:bbbbbb", timedelta(seconds=60))
    assert a.take("mailbox:sales", T0)
    assert a.take("mailbox:sales", T0 + timedelta(seconds=5))  # ours already
    assert not b.take("mailbox:sales", T0 + timedelta(seconds=30))
    assert a.renew(T0 + timedelta(seconds=50)) == 1  # now good until 01:50
    assert not b.take("mailbox:sales", T0 + timedelta(seconds=100))
    assert b.take("mailbox:sales", T0 + timedelta(seconds=111))  # a stopped renewing
    assert not a.take("mailbox:sales", T0 + timedelta(seconds=112))
    b.release("mailbox:sales")
    assert a.take("mailbox:sales", T0 + timedelta(seconds=113))


def test_a_finished_job_firing_is_never_run_again(db: Database) -> None:
    a = Leases(db, "host-a:1:aaaaaa")
    b = Leases(db, "host-b:2:bbbbbb")
    firing = job_lease("followups", T0)
    assert a.take(firing, T0)
    a.finish(firing, T0 + timedelta(seconds=3))
    assert not b.take(firing, T0 + timedelta(days=1))
    assert a.orphans(T0 + timedelta(days=1)) == []


def test_a_dead_holders_job_firing_is_an_orphan_for_the_others(db: Database) -> None:
    a = Leases(db, "host-a:1:aaaaaa", timedelta(seconds=60))
    b = Leases(db, "host-b:2:bbbbbb", timedelta(seconds=60))
    firing = job_lease("poll-0", T0)
    assert a.take(firing, T0)
    assert b.orphans(T0 + timedelta(seconds=30)) == []
    assert b.orphans(T0 + timedelta(seconds=61)) == [firing]
    assert b.take(firing, T0 + timedelta(seconds=61))


def test_live_instances_are_those_whose_heartbeat_holds(db: Database) -> None:
    a = Leases(db, "host-a:1:aaaaaa", timedelta(seconds=60))
    a.take(instance_lease(a.holder))
    assert a.holder in live_instances(db)
    with db.engine.begin() as conn:
        conn.execute(Lease.__table__.update().values(expires_at=T0 - timedelta(days=365)))
    assert a.holder not in live_instances(db)


# -- the firing a job belongs to ----------------------------------------------------------

@pytest.mark.parametrize(("spec", "now", "fired"), [
    ("08:30", "2026-11-24 08:30:02", "2026-11-24 08:30"),
    ("08:30", "2026-11-24 11:59:00", "2026-11-24 08:30"),  # run late, same firing
    ("08:30", "2026-11-24 08:29:00", "2026-11-23 08:30"),
    ("0 9 * * 1-5", "2026-11-24 09:00:01", "2026-11-24 09:00"),
])
def test_the_firing_is_the_latest_fire_time_at_or_before_now(spec: str, now: str,
                                                              fired: str) -> None:
    at = datetime.fromisoformat(now).replace(tzinfo=timezone.utc)
    got = last_fire_time(trigger(spec, timezone.utc), at)
    assert got == datetime.fromisoformat(fired).replace(tzinfo=timezone.utc)


def test_interval_firings_are_the_same_slots_on_every_instance() -> None:
    every = IntervalTrigger(minutes=15, timezone=timezone.utc)
    at = datetime(2026, 11, 24, 8, 44, 59, tzinfo=timezone.utc)
    assert last_fire_time(every, at) == datetime(2026, 11, 24, 8, 30, tzinfo=timezone.utc)


# -- scheduled jobs once per firing, over a compressed week ------------------------------

def test_each_firing_runs_once_across_instances_over_a_week(tmp_path: Path,
                                                            postgres_url: str) -> None:
    from tests.db.fixtures import _reset_postgres

    _reset_postgres(postgres_url)
    db = Database(postgres_url)
    db.upgrade()
    settings = settings_for(tmp_path, MAILDIR.format(path=tmp_path / "Maildir"),
                            extra='[schedule]\ntimezone = "Asia/Shanghai"\n'
                                  'polls = ["08:30", "12:30", "17:30"]\nfollowups = "09:00"\n')
    ran: list[tuple[str, datetime]] = []
    services = []
    for name in ("a", "b", "c"):
        service = Service(settings, db)
        service.leases = Leases(db, f"host-{name}:1:{name * 6}")
        for i, trig in enumerate(poll_triggers(settings)):
            service._add_once(f"poll-{i}", "poll", trig,
                              lambda i=i: ran.append((f"poll-{i}", _now())))
        services.append(service)
    triggers = {job.id: job.trigger for job in services[0].scheduler.get_jobs()}
    start = datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc)
    firings = sorted((t, job_id) for job_id, trig in triggers.items()
                     for t in _fire_times(trig, start, start + timedelta(days=7)))
    assert len(firings) == 21
    for k, (when, job_id) in enumerate(firings):
        order = services[k % 3:] + services[:k % 3]  # a different instance first each time
        with time_machine.travel(when + timedelta(seconds=1 + k % 5), tick=False):
            for service in order:
                service.scheduler.get_job(job_id).func()
    assert sorted(ran) == sorted((job_id, _minute(when)) for when, job_id in firings)
    db.dispose()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(second=0, microsecond=0)


def _minute(when: datetime) -> datetime:
    return when.astimezone(timezone.utc).replace(second=0, microsecond=0)


def _fire_times(trig: Any, start: datetime, end: datetime) -> list[datetime]:
    out, nxt = [], trig.get_next_fire_time(None, start)
    while nxt is not None and nxt < end:
        out.append(nxt)
        nxt = trig.get_next_fire_time(nxt, nxt + timedelta(seconds=1))
    return out


def test_a_firing_left_by_a_stopped_instance_is_taken_over(db: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, MAILDIR.format(path=tmp_path / "Maildir"),
                            extra="[database]\nlease_seconds = 10\n")
    calls: list[str] = []
    a, b = Service(settings, db), Service(settings, db)
    a.leases = Leases(db, "host-a:1:aaaaaa", timedelta(seconds=10))
    b.leases = Leases(db, "host-b:2:bbbbbb", timedelta(seconds=10))
    for service in (a, b):
        service._add_once("followups", "follow-ups", CronTrigger(hour=9, timezone=timezone.utc),
                          lambda: calls.append("followups"))
    firing = job_lease("followups", T0.replace(hour=9))
    assert a.leases.take(firing, T0.replace(hour=9))  # a starts it ... and is killed
    b._take_over_orphans()
    assert b.scheduler.get_job(f"takeover:{firing}") is None  # not yet: a's lease holds
    with time_machine.travel(T0.replace(hour=9) + timedelta(seconds=11), tick=False):
        b._take_over_orphans()
        job = b.scheduler.get_job(f"takeover:{firing}")
        assert job is not None
        job.func(*job.args)
    assert calls == ["followups"]
    assert b.leases.orphans(T0 + timedelta(days=1)) == []  # finished: never again


# -- claims on messages -------------------------------------------------------------------

def _stored(db: Database, n: int) -> list[int]:
    ids = []
    with db.unit_of_work() as s:
        for i in range(n):
            raw = inquiry(i)
            m = Message(direction="in", state=MessageState.STORED,
                        raw=RawMessage(data=raw, sha256=hashlib.sha256(raw).hexdigest()),
                        dedup_key=f"k{i}", size=len(raw))
            s.add(m)
            s.flush()
            ids.append(m.id)
    return ids


def test_a_message_another_live_instance_holds_is_left_to_it(db: Database) -> None:
    first, second = _stored(db, 2)
    other = Leases(db, "host-b:2:bbbbbb", timedelta(seconds=60))
    assert other.take(instance_lease(other.holder))
    with db.unit_of_work() as s:
        s.get_one(Message, first).claimed_by = other.holder
        s.get_one(Message, first).claimed_until = datetime.now(timezone.utc) + timedelta(minutes=5)
    limits = runner.ParseLimits(max_bytes=10**7, max_depth=50, max_parts=500)
    outcomes = pipeline.process_pending(db, limits, 3, [])
    assert [o.message for o in outcomes] == [second]
    other.release(instance_lease(other.holder))  # it stopped: its claim is void
    outcomes = pipeline.process_pending(db, limits, 3, [])
    assert [o.message for o in outcomes] == [first]
    with db.unit_of_work() as s:
        assert s.get_one(Message, first).attempts == 1  # the void claim counted no attempt
        assert s.scalar(select(func.count()).select_from(Message)
                        .where(Message.claimed_by.is_not(None))) == 0


def test_two_instances_never_make_one_company_twice(postgres_url: str) -> None:
    """Two free-mail senders signing for one new company, processed at once on two
    connections: the second waits for the first on the company's name, looks again and
    joins the buyer the first made."""
    from email.message import EmailMessage
    from threading import Thread

    from sqlalchemy import text

    from daemon import rulebook
    from daemon.match_buyer import company_key
    from daemon.models import Buyer
    from tests.helpers import ROOT

    _reset_postgres(postgres_url)
    db = Database(postgres_url)
    db.upgrade()
    ids = []
    with db.unit_of_work() as s:
        for n, sender in enumerate(("ahmed.khalil@gmail.com", "omar.noor@hotmail.com")):
            msg = EmailMessage()
            msg["From"], msg["To"] = sender, "sales@brightstar.example"
            msg["Subject"], msg["Message-ID"] = "Inquiry: necklaces", f"<co{n}@x.example>"
            msg.set_content("Dear Sir,\nPlease quote 5000 pcs BS-NK-101 FOB Ningbo.\n\n"
                            "Best regards\nAhmed Khalil\nAl Noor Trading LLC\nDubai, UAE\n")
            data = msg.as_bytes()
            row = Message(direction="in", state=MessageState.STORED, dedup_key=f"co{n}",
                          size=len(data), raw=RawMessage(data=data, sha256=f"{n:064d}"))
            s.add(row)
            s.flush()
            ids.append(row.id)
    stage = pipeline.understanding_stage(rulebook.load(ROOT / "rules"),
                                         frozenset({"brightstar.example"}), timezone.utc)
    limits = runner.ParseLimits(max_bytes=10**7, max_depth=50, max_parts=500)
    key = "company:" + company_key("Al Noor Trading LLC")
    holder = db.engine.connect()  # holds the company's name: both must wait behind it
    holder.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), {"k": key})
    threads = [Thread(target=pipeline.process_one, args=(db, i, limits, 3, [stage]))
               for i in ids]
    for thread in threads:
        thread.start()
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    end = time.monotonic() + 30
    while holder.execute(waiting).scalar() < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert holder.execute(waiting).scalar() == 2, "both found a new company and wait on it"
    holder.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": key})
    holder.commit()
    holder.close()
    for thread in threads:
        thread.join(30)
    with db.unit_of_work() as s:
        buyers = s.scalars(select(Buyer)).all()
        states = s.scalars(select(Message.state)).all()
        owners = set(s.scalars(select(Message.buyer_id)))
    assert states == [MessageState.PROCESSED] * 2
    assert [b.company for b in buyers] == ["Al Noor Trading LLC"] and owners == {buyers[0].id}
    db.dispose()


# -- SQLite is one instance's ------------------------------------------------------------

def test_sqlite_refuses_a_second_instance_and_says_what_to_do(tmp_path: Path) -> None:
    shared = tmp_path / "shared.db"
    one, two = (_instance_settings(tmp_path / name, f"sqlite:///{shared}")
                for name in ("one", "two"))
    db = Database(one.database_url)
    with running(one, db, "poll"):
        with pytest.raises(LockedError) as refused:
            with running(two, Database(two.database_url), "poll"):
                pass
    message = str(refused.value)
    assert str(shared) in message and "cannot be shared" in message and "PostgreSQL" in message
    with running(two, Database(two.database_url), "poll"):  # free again once the first stops
        pass
    db.dispose()


def _instance_settings(home: Path, url: str) -> Any:
    home.mkdir()
    return settings_for(home, MAILDIR.format(path=home / "Maildir"),
                        extra=f'[database]\nurl = "{url}"\n')


def test_the_only_sqlite_instance_frees_what_a_killed_one_held(sqlite_db: Database,
                                                               tmp_path: Path) -> None:
    settings = settings_for(tmp_path, MAILDIR.format(path=tmp_path / "Maildir"),
                            extra=f'[database]\nurl = "{sqlite_db.url}"\n')
    (first,) = _stored(sqlite_db, 1)
    dead = Leases(sqlite_db, "host-x:9:dddddd", timedelta(minutes=5))
    assert dead.take("mailbox:sales") and dead.take(instance_lease(dead.holder))
    with sqlite_db.unit_of_work() as s:
        s.get_one(Message, first).claimed_by = dead.holder
        s.get_one(Message, first).claimed_until = datetime.now(timezone.utc) + timedelta(minutes=5)
    interrupted = job_lease("followups", datetime.now(timezone.utc))
    assert dead.take(interrupted)  # killed in the middle of the day's follow-ups
    with running(settings, sqlite_db, "poll") as leases:
        assert leases.take("mailbox:sales")
        assert live_instances(sqlite_db) == {ME}
        assert leases.orphans() == [interrupted]  # to be run again by this instance
        with sqlite_db.unit_of_work() as s:
            assert s.get_one(Message, first).claimed_by is None


def test_status_shows_which_instance_holds_which_lease(db: Database, tmp_path: Path) -> None:
    from daemon import queries

    settings = settings_for(tmp_path, MAILDIR.format(path=tmp_path / "Maildir"))
    a = Leases(db, "host-a:1:aaaaaa", timedelta(seconds=60))
    assert a.take("mailbox:sales") and a.take(instance_lease(a.holder))
    finished = job_lease("poll-0", T0)
    assert a.take(finished)
    a.finish(finished)
    with db.unit_of_work() as s:
        report = queries.status(s, settings)
    held = {r["lease"]: r for r in report["leases"]}
    assert set(held) == {"mailbox:sales", "instance:host-a:1:aaaaaa"}  # finished ones left out
    assert held["mailbox:sales"]["holder"] == "host-a:1:aaaaaa"
    assert held["mailbox:sales"]["expired"] is False


def test_old_firings_and_stopped_instances_are_forgotten(db: Database) -> None:
    a = Leases(db, "host-a:1:aaaaaa", timedelta(seconds=60))
    now = datetime.now(timezone.utc)
    old, recent = job_lease("poll-0", now - timedelta(days=40)), job_lease("poll-0", now)
    for name in (old, recent):
        assert a.take(name, now - timedelta(days=40) if name == old else now)
        a.finish(name, now - timedelta(days=40) if name == old else now)
    assert a.take(instance_lease("gone:1:000000"), now - timedelta(hours=2))
    assert a.take(instance_lease(a.holder), now)
    assert a.prune(now) == 2
    with db.engine.connect() as conn:
        left = set(conn.scalars(select(Lease.name)))
    assert left == {recent, instance_lease(a.holder)}
