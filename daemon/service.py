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
from datetime import datetime, timedelta
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
from daemon.logs import kv
from daemon.lock import StateLock
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

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; holds the state lock the whole time."""
        with StateLock(self.settings.paths.state, "run"):
            self.stages = self._load_stages()  # a mistake in the rules stops start-up
            self.db.ensure_schema()
            sweep.recover_at_startup(self.db)  # died mid-send: a person decides, never resent
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
            self.scheduler.add_job(self.poll_job, trig, id=f"poll-{i}", name="poll")
        self.scheduler.add_job(
            sweep.sweep_job, IntervalTrigger(seconds=self.settings.schedule.review_sweep_seconds),
            args=(self.settings, self.db, self.stop), id="review-sweep", name="review sweep")
        self.scheduler.add_job(
            followups_job.job, trigger(self.settings.schedule.followups, self.settings.schedule.tz),
            args=(self.settings, self.db, self.stop), id="followups", name="follow-ups")
        self.scheduler.add_job(  # campaigns whose send_at has come
            campaigns.campaign_job, IntervalTrigger(minutes=5), args=(self.settings, self.db,
                                                                     self.stop),
            id="campaigns", name="scheduled campaigns")
        self.scheduler.add_job(  # the monthly A-grade list: sends once, from the 1st working day
            a_list_job.job, trigger(self.settings.schedule.reports, self.settings.schedule.tz),
            args=(self.settings, self.db, self.stop), id="a-list", name="monthly A-grade list")
        if poll_was_missed(triggers, self._last_poll(), utcnow()):
            log.info("event=missed_poll action=poll_now")
            self.scheduler.add_job(self.poll_job, id="poll-at-start", name="poll")

    def _last_poll(self) -> datetime | None:
        with self.db.unit_of_work() as session:
            return session.scalar(select(func.min(Mailbox.last_poll_at)))

    def _main_loop(self) -> None:
        while not self.stop.wait(WATCHDOG_EVERY):
            sd_notify(f"WATCHDOG=1\nSTATUS={self.last_status}")
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
