"""What the soak's children recorded (soak_child.py), and the checks test_soak.py makes
on it and on the state they left: the schedule kept, mail stored once, drafts and
newsletter deliveries explained by what the SMTP server saw, memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from daemon import config, service
from daemon.db import Database
from daemon.models import Delivery, Draft, Message, MessageState
from daemon.review_folder import ReviewFolder

Answers = dict[str, list[str | None]]  # Message-ID -> the server's replies (None: hung up)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def job_kind(job: str) -> str:
    return "poll" if job.startswith("poll") else job


@dataclass
class Run:
    """One child process: where its clock started and what it recorded."""

    start: datetime
    records: list[dict[str, Any]] = field(default_factory=list)
    killed: bool = False

    def of(self, event: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.records if r["ev"] == event)

    def last_now(self) -> datetime:
        return max((at(r["now"]) for r in self.records), default=self.start)

    def unended(self) -> list[datetime]:
        ended = {(r["job"], r["at"]) for r in self.of("done")}
        return sorted(at(r["at"]) for r in self.of("submitted")
                      if (r["job"], r["at"]) not in ended)

    def dead_from(self) -> datetime:
        """Where a killed child's work stopped: the scheduled time of the jobs it was still
        running, else its last record. Jobs run one at a time, in the order they fell due,
        and the clock moves on only when none runs: a job unended but due before the last
        one that ended was not cut off by the kill, but lost (see `lost`)."""
        last = max((at(r["at"]) for r in self.of("done")), default=self.start)
        return min((t for t in self.unended() if t >= last), default=self.last_now())

    def lost(self) -> list[datetime]:
        """Jobs handed to the worker that never ended, the kill aside."""
        return [t for t in self.unended() if not self.killed or t < self.dead_from()]

    def plan(self) -> dict[str, Any]:
        return next(self.of("start"))["jobs"]


# -- the schedule ----------------------------------------------------------------------

def cron_jobs(settings: config.Settings) -> dict[str, Any]:
    """The service's cron triggers by job id, made by its own functions."""
    sched = settings.schedule
    jobs: dict[str, Any] = {f"poll-{i}": t for i, t in enumerate(service.poll_triggers(settings))}
    jobs["followups"] = service.trigger(sched.followups, sched.tz)
    jobs["a-list"] = service.trigger(sched.reports, sched.tz)
    return jobs


def fire_times(trigger: Any, start: datetime, end: datetime) -> Iterator[datetime]:
    when = trigger.get_next_fire_time(None, start)
    while when is not None and when <= end:
        yield when
        when = trigger.get_next_fire_time(when, when + timedelta(seconds=1))


def schedule_kept(runs: list[Run], settings: config.Settings, start: datetime,
                  end: datetime) -> tuple[list[str], Counter[str]]:
    """Fire times from start to end not run as test_soak's docstring says; what was seen."""
    done = [(r["job"], at(r["at"]), i) for i, run in enumerate(runs) for r in run.of("done")]
    assert all(r["ok"] for run in runs for r in run.of("done")), "a job raised or was missed"
    on_time = {(job, when) for job, when, _ in done}
    dead = [(run.dead_from(), nxt.start, i + 1)  # (died, restarted, the run restarted)
            for i, (run, nxt) in enumerate(zip(runs, runs[1:]))]
    problems, seen = interval_misses(runs, end)
    problems += [f"a job due {when} never ended" for run in runs for when in run.lost()]
    for job, trigger in cron_jobs(settings).items():
        for when in fire_times(trigger, start, end):
            gap = next(((restart, i) for died, restart, i in dead if died <= when < restart), None)
            seen["on time" if (job, when) in on_time else "made up" if gap else "missed"] += 1
            if (job, when) in on_time:
                continue
            if gap is None:
                problems.append(f"{job} due {when} did not run, and the child was up")
            elif not any(job_kind(j) == job_kind(job) and i >= gap[1] and w >= gap[0]
                         for j, w, i in done):
                problems.append(f"{job} due {when} (child down) never ran after the restart")
    return problems, seen


def interval_misses(runs: list[Run], end: datetime) -> tuple[list[str], Counter[str]]:
    """Each child's interval jobs: start + k * interval, every one until it died."""
    problems, seen = [], Counter[str]()
    for run in runs:
        stop = run.dead_from() if run.killed else end + timedelta(microseconds=1)
        ran = {(r["job"], round(at(r["at"]).timestamp(), 2)) for r in run.of("done")}
        for job, plan in run.plan().items():
            when = at(plan["next"])
            while plan["every"] and when < stop:
                seen["interval runs"] += 1
                if (job, round(when.timestamp(), 2)) not in ran:
                    problems.append(f"{job} due {when} did not run, and the child was up")
                when += timedelta(seconds=plan["every"])
    return problems, seen


def rss_days(last: Run, end: datetime) -> tuple[int, int]:
    """Highest VmRSS (kB) of the last child's first and last simulated days."""
    assert not last.killed and last.start <= end - timedelta(days=3)
    samples = [(at(r["now"]), r["rss"]) for r in last.records]
    first = max(rss for when, rss in samples if when <= last.start + timedelta(days=1))
    final = max(rss for when, rss in samples if when >= end - timedelta(days=1))
    return first, final


# -- the state left --------------------------------------------------------------------

def stored_mail(db: Database, user: Any, sent_in: int) -> Counter[str]:
    """Every message on the server stored once and settled; the states by count."""
    uids = user.server.uids(user.name, "INBOX")
    assert len(uids) == sent_in
    with db.unit_of_work() as s:
        rows = s.execute(select(Message.folder, Message.uid, Message.state, Message.error)
                         .where(Message.direction == "in")).all()
    stored = [(folder, uid) for folder, uid, _, _ in rows]
    assert len(stored) == len(set(stored)), "a message stored twice"
    assert set(stored) == {("INBOX", uid) for uid in uids}, "a message lost"
    states = Counter(state.value for _, _, state, _ in rows)
    assert set(states) <= {MessageState.PROCESSED, MessageState.QUARANTINED}, states
    assert all(error for _, _, state, error in rows if state == MessageState.QUARANTINED)
    return states


def answers_by_message_id(received: list[Any]) -> Answers:
    answers: Answers = {}
    for m in received:
        answers.setdefault(str(m.message["Message-ID"]), []).append(m.reply)
    return answers


def end_state(state: str, error: str, replies: list[str | None]) -> str:
    """The outcome of one draft or delivery, checked against what the server answered to
    its Message-ID; AssertionError when they disagree."""
    delivered = sum(r is None or r.startswith("250") for r in replies)
    assert delivered <= 1, f"delivered {delivered} times: {replies}"
    if state == "sent":
        assert delivered == 1, f"sent, but the server answered {replies}"
    elif state == "unknown" and "stopped while sending" in error:
        return "unknown (killed)"
    elif state == "unknown":
        assert None in replies, f"unknown, but the server answered {replies}"
        return "unknown (cut off)"
    else:
        assert state == "failed" and any(r and r[0] == "5" for r in replies), (state, replies)
    return state


def approved_drafts(db: Database, review: ReviewFolder, approved: set[str],
                    answers: Answers) -> Counter[str]:
    """How the drafts a person approved ended; none left approved or sending."""
    with db.unit_of_work() as s:
        rows = {d.id: d for d in s.scalars(select(Draft))}
        s.expunge_all()
    assert not {d.state.value for d in rows.values()} & {"approved", "sending"}
    assert not review.approved_files()
    ends: Counter[str] = Counter()
    for draft_id in approved:
        draft = rows.get(draft_id)
        if draft is None:  # its row was never committed: the file alone is refused
            (path,) = review.folder("failed").glob(f"*_{draft_id}.eml")
            assert Path(path).with_suffix(".reason.txt").exists()
            ends["set aside"] += 1
            continue
        ends[end_state(draft.state.value, draft.error or "",
                       answers.get(draft.outgoing_message_id, []))] += 1
        assert draft.state.value != "sent" or draft.sent_copy_at, f"{draft_id}: no Sent copy"
    return ends


def campaign_ends(db: Database, received: list[Any], answers: Answers) -> Counter[str]:
    """How the newsletter's deliveries ended; no address reached twice."""
    with db.unit_of_work() as s:
        rows = s.execute(select(Delivery.state, Delivery.error,
                                Delivery.outgoing_message_id)).all()
    assert rows, "the campaign never started"
    per_address = Counter(a for m in received if str(m.message["Message-ID"]).startswith("<nl.")
                          and (m.reply is None or m.reply.startswith("250")) for a in m.rcpt_tos)
    assert max(per_address.values()) == 1, "an address got the newsletter twice"
    return Counter(state if state == "skipped" else end_state(state, error or "",
                                                              answers.get(mid, []))
                   for state, error, mid in rows)
