"""The long-running shell: scheduled polls, signals, systemd notifications.

Polls run at the configured times in the company's time zone; the review folder is
swept for approved drafts every `review_sweep_seconds`. A poll that was due while
the process was busy or down is coalesced and run late, never skipped; one missed while
the machine was off runs at start-up. Jobs run one at a time on a single worker, so a
poll never overlaps another. SIGTERM lets the current message finish and commit, then
exits; SIGHUP reloads rules and templates.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from daemon import a_list_job, campaigns, followups_job, pipeline, rulebook, runner, sweep
from daemon.config import Settings
from daemon.db import Database
from daemon.errors import ConfigError
from daemon.instance import running
from daemon.leases import Leases, job_lease, parse_job_lease
from daemon.logs import kv
from daemon.models import Mailbox, utcnow

log = logging.getLogger(__name__)

# A late poll still runs when it is this late; beyond, the next one is soon anyway.
MISFIRE_GRACE = timedelta(hours=12)
WATCHDOG_EVERY = 10.0



_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_weekdays(field: str) -> str:
    """A crontab weekday field with numbers as crontab means them (0 and 7 Sunday, 1
    Monday), written as names: APScheduler reads bare numbers with 0 as Monday."""
    return re.sub(r"(?<![/\d])\d+", lambda m: _CRON_DAYS[int(m.group()) % 8], field)


def trigger(spec: str, tz: Any) -> CronTrigger:
    """A cron trigger from "HH:MM" (every day) or a five-field crontab line."""
    if ":" in spec and " " not in spec.strip():
        hour, minute = spec.split(":")
        return CronTrigger(hour=int(hour), minute=int(minute), timezone=tz)
    minute, hour, day, month, weekday = spec.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=cron_weekdays(weekday), timezone=tz)


def poll_triggers(settings: Settings) -> list[BaseTrigger]:
    sched = settings.schedule
    triggers: list[BaseTrigger] = [trigger(spec, sched.tz) for spec in sched.polls]
    if sched.poll_interval_minutes:
        triggers.append(IntervalTrigger(minutes=sched.poll_interval_minutes, timezone=sched.tz))
    return triggers


def last_fire_time(trig: BaseTrigger, now: datetime) -> datetime:
    """The firing a job started `now` belongs to: the trigger's latest fire time at or
    before now (every instance computes the same one, so it names the firing's lease)."""
    if isinstance(trig, IntervalTrigger):  # fixed slots, the same on every instance
        step = int(trig.interval.total_seconds())
        return datetime.fromtimestamp(int(now.timestamp()) // step * step, timezone.utc)
    last, start = None, now - timedelta(days=2)
    nxt = trig.get_next_fire_time(None, start)
    while nxt is not None and nxt <= now:
        last, nxt = nxt, trig.get_next_fire_time(nxt, nxt + timedelta(seconds=1))
    return last or now.replace(second=0, microsecond=0)


def daily_triggers(settings: Settings) -> dict[str, CronTrigger]:
    """The follow-ups and the reports (monthly A-grade list) at their configured times."""
    sched = settings.schedule
    return {"followups": trigger(sched.followups, sched.tz),
            "reports": trigger(sched.reports, sched.tz)}


# How many coming polls `status` and `doctor` show.
NEXT_POLLS = 3


def fire_times(triggers: Sequence[BaseTrigger], now: datetime, count: int) -> list[datetime]:
    """The next `count` times any clock-time trigger fires, from `now` on, in order.

    Interval triggers are left out: they count from when the service started."""
    found: list[datetime] = []
    for trig in triggers:
        if not isinstance(trig, CronTrigger):
            continue
        previous, start = None, now
        for _ in range(count):
            nxt = trig.get_next_fire_time(previous, start)
            if nxt is None:
                break
            found.append(nxt)
            previous = start = nxt  # APScheduler: strictly after a previous fire time
    return sorted(found)[:count]


def next_runs(settings: Settings, now: datetime) -> dict[str, Any]:
    """When the service runs what next, in the company's time zone (ISO 8601)."""
    sched = settings.schedule
    tz = sched.tz

    def first(trig: CronTrigger) -> str | None:
        times = fire_times([trig], now, 1)
        return times[0].isoformat() if times else None

    daily = daily_triggers(settings)
    return {
        "timezone": sched.timezone,
        "now": now.astimezone(tz).isoformat(timespec="seconds"),
        "polls": [t.isoformat() for t in fire_times(poll_triggers(settings), now, NEXT_POLLS)],
        "poll_every_minutes": sched.poll_interval_minutes or None,
        "review_sweep_seconds": sched.review_sweep_seconds,
        "followups": first(daily["followups"]),
        "reports": first(daily["reports"]),
    }


def poll_was_missed(triggers: list[BaseTrigger], last_poll: datetime | None,
                    now: datetime) -> bool:
    """True when a poll time fell between the last poll and now (machine was off)."""
    if last_poll is None:
        return True
    return any(
        (nxt := t.get_next_fire_time(None, last_poll)) is not None and last_poll < nxt <= now
        for t in triggers if isinstance(t, CronTrigger)
    )


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) how we are; a no-op when not started by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("event=sd_notify_failed error=%s", exc)


class Service:
    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(MISFIRE_GRACE.total_seconds())},
            timezone=settings.schedule.tz,
        )
        self.last_status = "starting"
        self.stages: list[pipeline.Stage] = []
        self.leases = Leases(db)  # replaced by the running instance's in run()
        self._jobs: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; holds the state lock the whole time."""
        self.stages = self._load_stages()  # a mistake in the rules stops start-up
        with running(self.settings, self.db, "run") as self.leases:
            sweep.recover_stopped_sends(self.db)  # died mid-send: a person decides
            self._install_signals()
            self._schedule()
            self.scheduler.start()
            sd_notify("READY=1\nSTATUS=waiting for the next poll")
            log.info("event=service_started mailboxes=%d polls=%s timezone=%s",
                     len(self.settings.mailbox), ",".join(self.settings.schedule.polls),
                     self.settings.schedule.timezone)
            self._main_loop()
            sd_notify("STOPPING=1")
            self.scheduler.shutdown(wait=True)  # the running poll finishes its message
            log.info("event=service_stopped")

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

    def _schedule(self) -> None:
        triggers = poll_triggers(self.settings)
        for i, trig in enumerate(triggers):
            self._add_once(f"poll-{i}", "poll", trig, self.poll_job)
        self.scheduler.add_job(
            sweep.sweep_job, IntervalTrigger(seconds=self.settings.schedule.review_sweep_seconds),
            args=(self.settings, self.db, self.stop), id="review-sweep", name="review sweep")
        daily = daily_triggers(self.settings)
        self._add_once("followups", "follow-ups", daily["followups"],
                       followups_job.job, self.settings, self.db, self.stop)
        self._add_once(  # campaigns whose send_at has come; one instance prepares each
            "campaigns", "scheduled campaigns", IntervalTrigger(minutes=5),
            campaigns.campaign_job, self.settings, self.db, self.stop)
        self._add_once(  # the monthly A-grade list: sends once, from the 1st working day
            "a-list", "monthly A-grade list", daily["reports"],
            a_list_job.job, self.settings, self.db, self.stop)
        if poll_was_missed(triggers, self._last_poll(), utcnow()):
            log.info("event=missed_poll action=poll_now")
            self.scheduler.add_job(self.poll_job, id="poll-at-start", name="poll")

    def _add_once(self, job_id: str, name: str, trig: BaseTrigger, fn: Callable[..., Any],
                  *args: Any) -> None:
        """A scheduled job that runs once per firing across all instances sharing the
        database: the firing's lease goes to the first instance that asks."""
        self._jobs[job_id] = (fn, args)

        def fire() -> None:
            self.run_leased(job_lease(job_id, last_fire_time(trig, utcnow())), fn, *args)

        self.scheduler.add_job(fire, trig, id=job_id, name=name)

    def run_leased(self, lease: str, fn: Callable[..., Any], *args: Any) -> None:
        if not self.leases.take(lease):
            log.info("event=job_skipped lease=%s reason=run_by_another_instance", lease)
            return
        try:
            fn(*args)
        finally:
            self.leases.finish(lease)

    def _take_over_orphans(self) -> None:
        """Job firings whose instance stopped before finishing them: run them here."""
        for lease in self.leases.orphans():
            job = self._jobs.get(parse_job_lease(lease) or "")
            if job is not None:
                log.warning("event=job_taken_over lease=%s", lease)
                self.scheduler.add_job(self.run_leased, args=(lease, job[0], *job[1]),
                                       id=f"takeover:{lease}", replace_existing=True)

    def _last_poll(self) -> datetime | None:
        with self.db.unit_of_work() as session:
            return session.scalar(select(func.min(Mailbox.last_poll_at)))

    def _main_loop(self) -> None:
        while not self.stop.wait(WATCHDOG_EVERY):
            sd_notify(f"WATCHDOG=1\nSTATUS={self.last_status}")
            try:
                self._take_over_orphans()
            except Exception as exc:  # noqa: BLE001 - the database may be back next time
                log.warning("event=takeover_check_failed error=%s", exc.__class__.__name__)
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()

    def _load_stages(self) -> list[pipeline.Stage]:
        return pipeline.default_stages(self.settings, rulebook.load(self.settings.paths.rules))

    def reload(self) -> None:
        """SIGHUP: read rules and templates again; on a mistake keep the ones in use."""
        try:
            self.stages = self._load_stages()
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("event=reload_failed problem=%s", kv(problem))
            return
        log.info("event=reloaded rules=%s", self.settings.paths.rules)

    def poll_job(self) -> None:
        if self.stop.is_set():
            return
        try:
            report = runner.poll(self.settings, self.db, self.stop, self.stages)
        except Exception:  # noqa: BLE001 - a bad cycle must not end the service
            log.exception("event=poll_crashed")
            return
        stored = sum(m.stored for m in report.mailboxes)
        self.last_status = f"last poll {utcnow():%Y-%m-%d %H:%M}Z: {stored} new"
        sd_notify(f"STATUS={self.last_status}")
