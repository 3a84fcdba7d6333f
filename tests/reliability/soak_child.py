"""The soak's child process: the real inquiryd service on a simulated clock.

    python -m tests.reliability.soak_child CONFIG RECORDS GO START UNTIL

Runs `daemon.service.Service` (its BackgroundScheduler, job functions and triggers) with
time.time and datetime.now moved by time_machine to START, a moment of the simulated
week. A driver thread makes the week pass quickly: whenever the single worker is idle,
it moves the clock to the next `next_run_time` among the scheduler's jobs and wakes the
scheduler, which then finds those jobs due and runs them as it would on a real clock.
time.monotonic is left alone, so socket timeouts, waits and the send pacer stay real;
the clock also ticks in real time while a job runs.

Every job the scheduler hands to the worker, every job that ended, each company-time
midnight and the end go to RECORDS, one JSON object a line, each with the simulated
time `now` and the process's VmRSS in kB: the parent reads from it what ran, where a
killed child stopped, and the memory curve. Before crossing a midnight the driver waits
until the file GO holds that day's date (or a later one), so the parent acts between days.
At UNTIL the service is stopped as by SIGTERM and the child exits 0.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import time_machine
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)

from daemon import config, logs
from daemon.db import Database
from daemon.service import Service

# Jobs due within this much of the earliest one run in the same step: interval jobs made
# one after the other at start-up fall microseconds apart.
CLUSTER = timedelta(seconds=1)
ENDED = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED


def rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Records:
    """RECORDS, appended one line per write(): a SIGKILL keeps every line written."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        line = {"ev": event, "now": datetime.now(timezone.utc).isoformat(),
                "rss": rss_kb(), **fields}
        with self.lock:
            os.write(self.fd, (json.dumps(line) + "\n").encode())


class Driver:
    """Moves the clock from one due job to the next, one step at a time."""

    def __init__(self, service: Service, traveller: Any, records: Records, go: Path,
                 until: datetime):
        self.service, self.scheduler = service, service.scheduler
        self.traveller, self.records, self.go, self.until = traveller, records, go, until
        self.tz = service.settings.schedule.tz
        self.changed = threading.Condition()
        self.in_flight: dict[tuple[str, str], int] = {}
        self.began: dict[tuple[str, str], float] = {}
        self.started = threading.Event()
        self.scheduler.add_listener(self.on_start, EVENT_SCHEDULER_STARTED)
        self.scheduler.add_listener(self.on_job, EVENT_JOB_SUBMITTED | ENDED)

    def on_start(self, _event: SchedulerEvent) -> None:
        """Told before the scheduler looks for due jobs: its first plan, as made."""
        jobs = {j.id: {"next": j.next_run_time.isoformat(),
                       "every": getattr(j.trigger, "interval_length", None)}
                for j in self.scheduler.get_jobs() if j.next_run_time}
        self.records.write("start", pid=os.getpid(), jobs=jobs)
        self.started.set()

    def on_job(self, event: JobSubmissionEvent | JobExecutionEvent) -> None:
        times = (event.scheduled_run_times if isinstance(event, JobSubmissionEvent)
                 else [event.scheduled_run_time])
        with self.changed:
            for at in times:
                key = (event.job_id, at.isoformat())
                if event.code == EVENT_JOB_SUBMITTED:
                    self.began[key] = time.monotonic()
                    self.records.write("submitted", job=event.job_id, at=key[1])
                else:
                    took = time.monotonic() - self.began.pop(key, time.monotonic())
                    self.records.write("done", job=event.job_id, at=key[1], took=round(took, 3),
                                       ok=event.code == EVENT_JOB_EXECUTED,
                                       missed=event.code == EVENT_JOB_MISSED)
                # Submission and end are told from two threads, in either order.
                self.in_flight[key] = self.in_flight.get(key, 0) + (
                    1 if event.code == EVENT_JOB_SUBMITTED else -1)
                if not self.in_flight[key]:
                    del self.in_flight[key]
            self.changed.notify_all()

    def idle(self, target: datetime) -> bool:
        """Every job due by `target` handed to the worker and ended, and nothing running."""
        # The executor counts a job from before the scheduler moves its next run time on
        # until after it ends, before either event is told: with the events, no gap is left
        # in which a job due by `target` looks neither waiting nor running.
        busy = any(self.scheduler._lookup_executor("default")._instances.values())
        waiting = any(j.next_run_time is not None and j.next_run_time <= target
                      for j in self.scheduler.get_jobs())
        return not (busy or waiting or self.in_flight)

    def settle(self, target: datetime) -> None:
        with self.changed:
            while not self.idle(target):
                self.changed.wait(0.05)

    def next_target(self) -> datetime | None:
        times = sorted(j.next_run_time for j in self.scheduler.get_jobs() if j.next_run_time)
        if not times:
            return None
        return max(t for t in times if t <= times[0] + CLUSTER)

    def run(self) -> None:
        self.started.wait()
        target = datetime.now(self.tz)
        while True:
            self.settle(target)
            nxt = self.next_target()
            if nxt is None or nxt > self.until:
                break
            self.wait_at_midnights(nxt)
            ahead = nxt - datetime.now(self.tz)
            if ahead > timedelta(0):
                self.traveller.shift(ahead)  # shift, not move_to: the clock keeps ticking
            target = nxt
            self.scheduler.wakeup()
        self.records.write("end", hwm=rss_kb("VmHWM"))
        self.service.stop.set()

    def wait_at_midnights(self, nxt: datetime) -> None:
        """Before the clock passes a company-time midnight, wait for the parent's go."""
        local = datetime.now(self.tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(),
                                    self.tz)
        while midnight <= nxt:
            self.records.write("midnight", day=midnight.date().isoformat())
            while self.go.read_text().strip() < midnight.date().isoformat():
                time.sleep(0.01)
            midnight = datetime.combine(midnight.date() + timedelta(days=1),
                                        datetime.min.time(), self.tz)


def main(config_path: str, records_path: str, go: str, start: str, until: str) -> None:
    traveller = time_machine.travel(datetime.fromisoformat(start), tick=True).start()
    logs.setup("INFO")
    settings = config.load(config_path)
    service = Service(settings, Database(settings.database_url))
    driver = Driver(service, traveller, Records(Path(records_path)), Path(go),
                    datetime.fromisoformat(until))
    threading.Thread(target=driver.run, name="soak-clock", daemon=True).start()
    service.run()


if __name__ == "__main__":
    main(*sys.argv[1:])
