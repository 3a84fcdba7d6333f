"""A week of the real service on a compressed clock, with faults: nothing lost, nothing
sent twice, every scheduled job run, memory flat.

The child (soak_child.py) is `daemon.service.Service` with its own scheduler, jobs and
triggers, under a simulated clock that jumps from one due job to the next and waits at
each company-time midnight until this test says go. The week runs from Thursday
2031-03-27 in Europe/Berlin (summer time begins on the Sunday, the month turns on the
Tuesday): polls at 08:00, 13:00 and 17:30, a review sweep every hour, follow-ups at
09:00, the scheduled-campaign check every 5 minutes, a campaign due on day 3 at 10:00.
SQLite under tmp_path, one Dovecot mailbox, the folder review backend, aiosmtpd.

Meanwhile this test is the world around the service (seeded: SEED):
- mail: PER_DAY inquiries a day on days 0-5, dated as they arrive, and a few broken files
  of the shared corpus, APPENDed at midnight and after each poll;
- a person: at each midnight approves about 70% of the drafts in pending/, rejects 10%;
- faults: Dovecot kicks the user early in polls and in the first sweep of a day; aiosmtpd
  answers 421, 451 or 550 after DATA, or hangs up after the dot, twice a night and during
  the campaign; SIGKILL at a random moment inside chosen jobs on days 0-3 (KILLS). The
  child is restarted from the simulated instant it died at, after a few hours of downtime
  now and then. The child started after the last kill runs to the end of the week.

Afterwards:
- every message on the server is stored once, processed or quarantined with a reason;
- no Message-ID was delivered twice (a 250, or a hang-up after the dot, which may have
  delivered it). Every approved draft is sent (delivered once, its copy filed in Sent),
  unknown (its DATA was cut off, or the process died mid-send), failed (refused with a
  5xx), or, when its row was never committed (killed after its file was written), set
  aside in failed/ unsent. The campaign reached no address twice and left none pending;
- every scheduled fire time of the week ran. It ran on time when a job of that id ended
  with that scheduled time. Only a fire time at which the child was dead may be missing:
  from the scheduled time of the job a killed child was running (its last record, if it
  was idle) to the restart. Such a time is made up by the first run of the same job after
  the restart (for polls: any poll, the one at start-up included), which must exist.
  Interval jobs start afresh in each child: every start + k * interval before the child
  died must have run;
- memory: in the last child (no kill in its 3 or more simulated days), the highest VmRSS
  sampled in its last simulated day is under RSS_GROWTH times the highest in its first.
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import shutil
import sys
import time
from collections import Counter, deque
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon import config
from daemon.db import Database
from daemon.review_folder import ReviewFolder, draft_id_from_name
from tests.helpers import COMPANY, ROOT, imap_block, inquiry
from tests.reliability import soak_checks as check
from tests.reliability.harness import Child, JsonLines, kill9
from tests.reliability.soak_checks import Run, at, job_kind
from tests.reliability.test_corpus import CORPUS
from tests.servers.dovecot import DovecotError

pytestmark = [pytest.mark.slow, pytest.mark.imap]

SEED = int(os.environ.get("INQUIRYD_SOAK_SEED", "20310327"))
TZ = ZoneInfo("Europe/Berlin")
WEEK0 = datetime(2031, 3, 27, tzinfo=TZ)
UNTIL = WEEK0 + timedelta(days=7)
SEND_AT = WEEK0 + timedelta(days=3, hours=10)
PER_DAY, MAIL_DAYS, FAULT_DAYS = 40, 6, range(0, 6)
BROKEN = ["mail-parser/mail_malformed_1", "mail-parser/mail_malformed_2",
          "mail-parser/mail_malformed_3", "flanker/enclosed-endless.eml",
          "flanker/missing-boundaries.eml", "flanker/mailformed-headers.eml",
          "flanker/torture.eml", "sisimai-bounces/arf-01.eml"]
# The jobs kills land in, by day; each "poll" is one of the day's three, drawn.
KILLS = {0: ("poll", "poll"), 1: ("review-sweep", "poll", "followups"),
         2: ("review-sweep", "poll"), 3: ("review-sweep", "poll", "campaigns")}
MIN_KILLS = 7          # a target passes when an earlier kill took its job down with it
SMTP_FAULTS = ("421", "451", "550", "drop")
KICK_IN_POLL = 0.1     # seconds: a poll of a few messages is logged in for about that long
# Sends are paced at PER_MINUTE: the newsletter's hundred-odd recipients take over two
# seconds, so a kill drawn within CAMPAIGN_KILL_WITHIN lands while it is being sent.
PER_MINUTE, CAMPAIGN_KILL_WITHIN = 3000, (0.2, 2.0)
RSS_GROWTH = 1.10
WALL_LIMIT = 600       # seconds: a child that stops making progress fails the test


def day_of(moment: datetime) -> int:
    return (moment.astimezone(TZ).date() - WEEK0.date()).days


# -- the desk and its mail -------------------------------------------------------------

def write_desk(tmp_path: Path, user: Any, smtp: Any) -> config.Settings:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)  # the shipped campaigns have no send_at
    (templates / "newsletter" / "spring.toml").write_text(
        'subject = "Spring news from {{ company.name }}"\ntemplate = "spring.txt.j2"\n'
        f"send_at = {SEND_AT.isoformat()}\n", encoding="utf-8")
    (templates / "newsletter" / "spring.txt.j2").write_text(
        "Dear {{ buyer.contact_name or 'friend' }},\n\nOur spring collection is out.\n")
    path = tmp_path / "inquiryd.toml"
    path.write_text(COMPANY + imap_block(user) + f"""
[smtp]
host = "{smtp.host}"
port = {smtp.port}
tls = "none"
sender = "Sales <sales@brightstar.example>"
timeout_seconds = 5

[schedule]
timezone = "{TZ.key}"
polls = ["08:00", "13:00", "17:30"]
review_sweep_seconds = 3600
followups = "09:00"

[sending]
per_minute = {PER_MINUTE}
retry_base_seconds = 60

[ingest]
batch_size = 5
retry_base_seconds = 0.05
retry_max_seconds = 0.2

[paths]
rules = "{ROOT / 'rules'}"
templates = "{templates}"
state = "{tmp_path / 'state'}"
""", encoding="utf-8")
    return config.load(path, environ={"PW_SALES": user.password})


def week_of_mail() -> deque[tuple[int, int | str]]:
    """(day, inquiry number or corpus file), in the order they arrive."""
    mail: deque[tuple[int, int | str]] = deque()
    for day in range(MAIL_DAYS):
        mail.extend((day, n) for n in range(day * PER_DAY, (day + 1) * PER_DAY))
        mail.extend((day, name) for name in BROKEN[day::MAIL_DAYS])
    return mail


def arriving(item: int | str, when: datetime) -> bytes:
    """Inquiry `item` from a buyer of its own (every fifth from an earlier one, writing
    again), dated when it arrives; or a broken file of the corpus, as it is."""
    if isinstance(item, str):
        return (CORPUS / item).read_bytes()
    msg = email.message_from_bytes(inquiry(item), policy=email.policy.default)
    who = item - 3 if item % 5 == 0 and item >= 3 else item
    msg.replace_header("From", f"Buyer {who} <buyer{who}@trader{who}.example>")
    msg.replace_header("Date", format_datetime(when))
    return msg.as_bytes()


# -- the world around the service ------------------------------------------------------

class Soak:
    """Starts, kills and restarts the child; sends mail in, reviews drafts, makes faults."""

    def __init__(self, tmp_path: Path, settings: config.Settings, user: Any, smtp: Any):
        self.user, self.smtp = user, smtp
        self.rng = random.Random(SEED)
        self.go = tmp_path / "go"
        self.go.write_text(WEEK0.date().isoformat())
        records = tmp_path / "records.jsonl"
        self.child = Child([sys.executable, "-m", "tests.reliability.soak_child",
                            str(settings.source), str(records), str(self.go)],
                           tmp_path / "logs", env={"PW_SALES": user.password})
        self.records, self.review = JsonLines(records), ReviewFolder(settings.review_path)
        self.mail, self.kill_plan = week_of_mail(), self.plan_kills()
        self.kicks: list[float] = []  # when to kick, on the monotonic clock
        self.kill_due: tuple[float, int, tuple[str, str]] | None = None  # when, pid, job
        self.runs: list[Run] = []
        self.stats: Counter[str] = Counter()
        self.approved: set[str] = set()
        self.longest: dict[str, float] = {}
        self.nights: set[str] = set()
        self.swept: set[int] = set()
        self.campaign_due = False

    def plan_kills(self) -> list[tuple[int, str]]:
        plan = []
        for day, kinds in KILLS.items():
            slots = iter(self.rng.sample(["poll-0", "poll-1", "poll-2"], 3))
            plan += [(day, next(slots) if k == "poll" else k) for k in kinds]
        return plan

    def run(self) -> None:
        deadline = time.monotonic() + WALL_LIMIT
        self.deliver(PER_DAY // 3 + 1, WEEK0)
        self.start(WEEK0)
        while self.proc.poll() is None:
            for record in self.records.read():
                self.handle(record)
            self.fire_timers()
            assert time.monotonic() < deadline, f"no end in sight:\n{self.child.log()}"
            time.sleep(0.01)
        for record in self.records.read():
            self.handle(record)
        assert self.proc.returncode == 0, f"the child failed:\n{self.child.log()}"

    def start(self, moment: datetime) -> None:
        self.runs.append(Run(moment))
        self.proc = self.child.start(moment.isoformat(), UNTIL.isoformat())

    def handle(self, record: dict[str, Any]) -> None:
        self.runs[-1].records.append(record)
        if record["ev"] == "submitted":
            self.on_submitted(record, at(record["now"]))
        elif record["ev"] == "done":
            kind = job_kind(record["job"])
            self.longest[kind] = max(self.longest.get(kind, 0.0), record["took"])
            if self.kill_due and self.kill_due[2] == (record["job"], record["at"]):
                self.kill_due = (0.0, *self.kill_due[1:])  # the job ended first: kill now
            if kind == "poll":
                self.deliver(PER_DAY // 3, at(record["now"]))
        elif record["ev"] == "midnight" and record["day"] not in self.nights:
            self.nights.add(record["day"])  # a restarted child may pass it again
            self.between_days(record["day"])

    def on_submitted(self, record: dict[str, Any], now: datetime) -> None:
        day, job = day_of(now), record["job"]
        if day in FAULT_DAYS and job.startswith("poll") and self.rng.random() < 0.7:
            self.kicks.append(time.monotonic() + self.rng.uniform(0, KICK_IN_POLL))
        if day in FAULT_DAYS and job == "review-sweep" and day not in self.swept:
            self.swept.add(day)  # the day's first sweep sends the night's approvals
            delay = self.rng.uniform(0.2, 1) * self.longest_run(job)
            self.kicks.append(time.monotonic() + delay)
        if job == "campaigns" and now >= SEND_AT and not self.campaign_due:
            self.campaign_due = True  # this run sends the newsletter: faults for it
            self.queue_smtp_faults(("451", "drop"))
        if self.kill_due is None:
            self.plan_kill(record, day, now)

    def plan_kill(self, record: dict[str, Any], day: int, now: datetime) -> None:
        """Kill inside this job if it is a target: after a random part of the longest such
        job so far, or as soon as it ends if it ends first."""
        self.stats["kill targets passed"] += sum(d < day for d, _ in self.kill_plan)
        self.kill_plan = [(d, j) for d, j in self.kill_plan if d >= day]
        job = record["job"]
        if (day, job) in self.kill_plan and (job != "campaigns" or now >= SEND_AT):
            self.kill_plan.remove((day, job))
            delay = self.rng.uniform(*CAMPAIGN_KILL_WITHIN) if job == "campaigns" \
                else self.rng.uniform(0, self.longest_run(job))
            self.kill_due = (time.monotonic() + delay, self.proc.pid, (job, record["at"]))

    def longest_run(self, job: str) -> float:
        """The longest such a job took so far (real seconds), within bounds."""
        return min(max(self.longest.get(job_kind(job), 0.5), 0.3), 3.0)

    def fire_timers(self) -> None:
        now = time.monotonic()
        for _ in range(len([t for t in self.kicks if t <= now])):
            self.kick()
        self.kicks = [t for t in self.kicks if t > now]
        if self.kill_due and self.kill_due[0] <= now:
            pid, self.kill_due = self.kill_due[1], None
            if pid == self.proc.pid:  # not a kill meant for a child already dead
                self.kill()

    def kick(self) -> None:
        try:
            self.user.server.kick(self.user.name)
            self.stats["IMAP kicks"] += 1
        except DovecotError:  # doveadm exits 68: no session was open at that moment
            self.stats["kicks that found no session"] += 1

    def kill(self) -> None:
        if not kill9(self.proc):
            return  # it ended first; the main loop reads its exit code
        for record in self.records.read():
            self.handle(record)
        self.kill_due = None  # one its last records may have planned
        run = self.runs[-1]
        run.killed = True
        self.stats["kills"] += 1
        self.stats["kills inside a job"] += run.dead_from() < run.last_now()
        restart = run.last_now()
        day = day_of(restart)
        # Down for hours only after a day's last kill, so that no planned kill is skipped,
        # and not on day 3: the campaign's first run must be there to be killed.
        if day <= 2 and all(d != day for d, _ in self.kill_plan) and self.rng.random() < 0.6:
            restart += timedelta(hours=self.rng.uniform(1, 9))
            self.stats["restarts after downtime"] += 1
        self.start(restart)

    def between_days(self, day_text: str) -> None:
        """The child waits at midnight: the person reviews, and the night's mail comes."""
        midnight = datetime.fromisoformat(day_text).replace(tzinfo=TZ)
        for path in sorted(self.review.folder("pending").glob("*.eml")):
            if path.name.startswith("."):
                continue  # staged, not yet shown: no reviewer sees it
            roll = self.rng.random()
            if roll < 0.8:
                verdict = "approved" if roll < 0.7 else "rejected"
                self.review.move(path, verdict)
                self.stats[verdict] += 1
                if verdict == "approved":
                    self.approved.add(draft_id_from_name(path.name))
        if day_of(midnight) in FAULT_DAYS:
            self.queue_smtp_faults(self.rng.choices(SMTP_FAULTS, k=2))
        last = day_of(midnight) >= MAIL_DAYS
        self.deliver(len(self.mail) if last else PER_DAY // 3 + 1, midnight)
        self.go.write_text(day_text)

    def queue_smtp_faults(self, kinds: Any) -> None:
        for kind in kinds:
            if kind == "drop":
                self.smtp.disconnect_after_data()
            else:
                self.smtp.fail_next(int(kind))
            self.stats[f"SMTP {kind}"] += 1

    def deliver(self, limit: int, when: datetime) -> None:
        """APPEND up to `limit` messages due by the day of `when` to the mailbox."""
        raws = []
        while self.mail and self.mail[0][0] <= day_of(when) and len(raws) < limit:
            raws.append(arriving(self.mail.popleft()[1], when))
        if raws:
            self.user.server.append_many(self.user.name, "INBOX", raws)
            self.stats["messages in"] += len(raws)

    def stop(self) -> None:
        if getattr(self, "proc", None) is not None:
            kill9(self.proc)


# -- the test --------------------------------------------------------------------------

def test_a_week_with_faults_loses_nothing_sends_nothing_twice_and_runs_every_job(
        tmp_path: Path, imap_user: Any, smtp_server: Any) -> None:
    began = time.monotonic()
    settings = write_desk(tmp_path, imap_user, smtp_server)
    soak = Soak(tmp_path, settings, imap_user, smtp_server)
    try:
        soak.run()
    finally:
        soak.stop()
    wall = time.monotonic() - began
    received = smtp_server.messages
    answers = check.answers_by_message_id(received)
    db = Database(settings.database_url)
    try:
        mail = check.stored_mail(db, imap_user, soak.stats["messages in"])
        drafts = check.approved_drafts(db, soak.review, soak.approved, answers)
        campaign = check.campaign_ends(db, received, answers)
    finally:
        db.dispose()
    problems, seen = check.schedule_kept(soak.runs, settings, WEEK0, UNTIL)
    rss = check.rss_days(soak.runs[-1], UNTIL)
    print_summary(soak, wall, seen, mail, drafts, campaign, received, rss)
    assert soak.stats["messages in"] == PER_DAY * MAIL_DAYS + len(BROKEN)
    assert not problems, "\n".join(problems[:20])
    assert soak.stats["kills"] >= MIN_KILLS, f"seed {SEED}: {soak.stats}"
    assert drafts["unknown (killed)"] + campaign["unknown (killed)"] <= soak.stats["kills"]
    assert rss[1] < RSS_GROWTH * rss[0], f"RSS grew from {rss[0]} kB to {rss[1]} kB"


def print_summary(soak: Soak, wall: float, seen: Counter[str], mail: Counter[str],
                  drafts: Counter[str], campaign: Counter[str], received: list[Any],
                  rss: tuple[int, int]) -> None:
    done = Counter(job_kind(r["job"]) for run in soak.runs for r in run.of("done"))
    at_start = sum(r["job"] == "poll-at-start" for run in soak.runs for r in run.of("done"))
    answers = Counter(m.reply.split()[0] if m.reply else "hang-up" for m in received)
    # VmHWM lags: the kernel updates it lazily, so the samples may be higher.
    peak = max(next(soak.runs[-1].of("end"))["hwm"], *(r["rss"] for r in soak.runs[-1].records))
    stats = soak.stats
    print(f"\nsoak (seed {SEED}): 7 simulated days in {wall:.0f} s, {len(soak.runs)} child runs")
    print(f"  jobs run: polls {done['poll']} ({at_start} at start-up), sweeps "
          f"{done['review-sweep']}, follow-ups {done['followups']}, campaign checks "
          f"{done['campaigns']}, A-list {done['a-list']}; scheduled times {dict(seen)}")
    print(f"  kills {stats['kills']} ({stats['kills inside a job']} inside a job, "
          f"{stats['restarts after downtime']} restarts after downtime, "
          f"{stats['kill targets passed']} targets passed)")
    print(f"  IMAP kicks {stats['IMAP kicks']} (+{stats['kicks that found no session']} "
          f"found no session); SMTP faults queued "
          f"{ {k[5:]: n for k, n in stats.items() if k.startswith('SMTP')} }, "
          f"answers {dict(answers)}")
    print(f"  messages {stats['messages in']}: {dict(mail)}")
    print(f"  drafts approved {stats['approved']} (rejected {stats['rejected']}): {dict(drafts)}")
    print(f"  campaign deliveries {dict(campaign)}")
    print(f"  RSS of the last child: first day {rss[0] // 1024} MB, last day "
          f"{rss[1] // 1024} MB ({100 * (rss[1] / rss[0] - 1):+.1f}%), peak {peak // 1024} MB")
