"""Three instances on one PostgreSQL, ten mailboxes in one Dovecot, 5,000 messages, one
shared review folder and one SMTP server; one instance is killed with SIGKILL mid-run.

At the end every message is stored once and processed once (one inquiry each), every
approved draft (1,500 of them) reached the SMTP server at most once, and the drafts not sent are only
those the killed instance may have been sending (`unknown`). The survivors finish the
dead instance's work once its leases have expired (one lease period).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from daemon.db import Database
from daemon.models import Draft, DraftState, Inquiry, Message, MessageState
from daemon.review_folder import ReviewFolder
from tests.db.fixtures import _reset_postgres
from tests.helpers import COMPANY, ROOT, imap_block, inquiry

pytestmark = [pytest.mark.slow, pytest.mark.imap, pytest.mark.postgres]

BOXES, PER_BOX, LEASE, APPROVED = 10, 500, 10, 1500


def _config(home: Path, users: list[Any], url: str, review: Path, smtp: Any) -> Path:
    home.mkdir()
    boxes = "".join(imap_block(u, name=f"sp{i}") for i, u in enumerate(users))
    text = COMPANY + boxes + (
        f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
        f'state = "{home / "state"}"\n'
        f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
        'sender = "Sales <sales@brightstar.example>"\n'
        f'[review]\npath = "{review}"\n[database]\nurl = "{url}"\nlease_seconds = {LEASE}\n'
        "[sending]\nper_minute = 10000\n"
        "[ingest]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.2\n")
    path = home / "inquiryd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _start(config: Path, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (config.parent / f"{command}-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "daemon", "-c", str(config), command],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _wait(procs: list[subprocess.Popen[bytes]], timeout: float = 600) -> None:
    for proc in procs:
        assert proc.wait(timeout) == 0, f"an instance exited {proc.returncode}"


def _count(db: Database, query: Any) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(query) or 0)


def _kill_when(proc: subprocess.Popen[bytes], ready: Any, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert proc.poll() is None, "the instance to kill ended before its moment"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_three_instances_share_the_work_and_finish_a_killed_ones(
        tmp_path: Path, dovecot: Any, postgres_url: str, smtp_server: Any) -> None:
    _reset_postgres(postgres_url)
    db = Database(postgres_url)
    db.upgrade()
    users = [dovecot.add_user(f"sp{i}x{os.getpid()}", f"pw-{i}-secret") for i in range(BOXES)]
    for i, user in enumerate(users):
        dovecot.append_many(user.name, "INBOX",
                            [inquiry(i * PER_BOX + k) for k in range(PER_BOX)])
    env = {**os.environ, **{f"PW_SP{i}": u.password for i, u in enumerate(users)}}
    review = tmp_path / "review"
    configs = [_config(tmp_path / f"i{n}", users, postgres_url, review, smtp_server)
               for n in range(3)]
    total = BOXES * PER_BOX

    # Polls: three at once; the first is killed once it has processed a few hundred.
    began = time.monotonic()
    polls = [_start(c, "poll", env) for c in configs]
    processed = select(func.count()).select_from(Message).where(
        Message.state == MessageState.PROCESSED)
    _kill_when(polls[0], lambda: _count(db, processed) > 300)
    killed_at = time.monotonic()
    _wait(polls[1:])
    time.sleep(LEASE + 1)  # its mailbox leases and message claims expire
    _wait([_start(c, "poll", env) for c in configs[1:]])
    finished = time.monotonic()

    stored = _count(db, select(func.count()).select_from(Message).where(Message.direction == "in"))
    assert stored == total  # each stored once: (mailbox, folder, uidvalidity, uid) is unique
    assert _count(db, processed) == total
    assert _count(db, select(func.count()).select_from(Inquiry)) == total
    with db.unit_of_work() as s:
        per_message = Counter(s.scalars(select(Draft.in_reply_to_message)))
        buyers_per_domain = s.execute(select(func.count(func.distinct(Inquiry.buyer_id)))).scalar()
    assert per_message and max(per_message.values()) == 1
    assert buyers_per_domain == 7  # inquiry(n) writes from 7 companies: never a duplicate
    drafts = sum(per_message.values())
    # A reviewer sees each draft once. The killed instance may have left one staged
    # (hidden) draft: one it wrote before its commit (no row: that message was drafted
    # again by another), or after (the next sweep shows it).
    with db.unit_of_work() as s:
        recorded = set(s.scalars(select(Draft.id)))
    shown = [p for p in (review / "pending").glob("*.eml") if not p.name.startswith(".")]
    staged = ReviewFolder(review).unpublished()
    assert len(staged) <= 1
    assert len(shown) + sum(one.draft_id in recorded for one in staged) == drafts

    # Sends: 1,500 approved (the rest stay pending); three instances sweep at once, one
    # is killed.
    (review / "approved").mkdir(exist_ok=True)
    chosen = sorted(shown)[:APPROVED]
    for path in chosen:
        shutil.move(path, review / "approved" / path.name)
    sends = [_start(c, "send", env) for c in configs]
    _kill_when(sends[0], lambda: len(smtp_server.messages) > 100)
    _wait(sends[1:])
    time.sleep(LEASE + 1)
    _wait([_start(c, "send", env) for c in configs[1:]])

    delivered = Counter(m.message["Message-ID"] for m in smtp_server.messages if m.accepted)
    assert delivered and max(delivered.values()) == 1, "a draft was sent twice"
    with db.unit_of_work() as s:
        states = Counter(s.scalars(select(Draft.state)))
        sent_ids = set(s.scalars(select(Draft.outgoing_message_id).where(
            Draft.state == DraftState.SENT)))
    assert sent_ids <= set(delivered)  # every draft recorded sent reached the server
    # A draft the killed instance handed over before it could record so is `unknown`:
    # delivered, or not; a person decides. Nothing else reached the server.
    assert len(delivered) - len(sent_ids) <= states[DraftState.UNKNOWN]
    assert states[DraftState.SENT] + states[DraftState.UNKNOWN] == APPROVED
    assert states[DraftState.PENDING] == drafts - APPROVED
    assert states[DraftState.UNKNOWN] <= 1  # only what the killed one was sending
    # The sweeps published what was committed but left staged; the rest is not ours to show.
    assert all(one.draft_id not in recorded for one in ReviewFolder(review).unpublished())
    print(f"\n{total} messages, {drafts} drafts; polls {finished - began:.1f} s "
          f"(killed at {killed_at - began:.1f} s, dead instance's work done "
          f"{finished - killed_at:.1f} s later); sent {states[DraftState.SENT]}, "
          f"unknown {states[DraftState.UNKNOWN]}")
    db.dispose()
