"""SIGKILL while sending: no draft ever reaches the SMTP server twice.

500 drafts wait in approved/. A child process runs `sweep.send_now` (what `inquiryd send`
runs: take the state lock, turn drafts left in `sending` into `unknown`, sweep) against
the aiosmtpd recorder in this process, and is killed with SIGKILL after a random delay
(seeded; the seed is printed). The delay is drawn around the time the child needs to
start up, measured first on an empty folder, so most kills land while drafts are being
claimed, sent, recorded and moved. The child is throttled to 50 drafts/s, so that a run
gets through a dozen drafts or so before its kill and the 500 last for the rounds.
Rounds go on until at least MIN_KILLS kills found the child at work; then one clean run.

Afterwards: no Message-ID was received twice (every DATA read in full counts, accepted
or not); every `sent` draft was received exactly once; every draft is sent, unknown or
still waiting in approved/, 500 in all; and the files agree with the states.
"""

from __future__ import annotations

import mailbox
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon import config, outbox
from daemon.db import Database
from tests.reliability.harness import Child
from daemon.models import Draft, DraftState
from daemon.review_folder import ReviewFolder, body_digest
from tests.helpers import COMPANY
from tests.test_review_folder import WHEN, draft_message

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 500
MIN_KILLS = 20        # kills that found the child sending (some draft changed state)
MAX_ROUNDS = 80
CHILD = """
import sys
from daemon import config, sweep
from daemon.db import Database
settings = config.load(sys.argv[1], environ={})
sweep.send_now(settings, Database(settings.database_url), settle_seconds=0)
"""


def write_config(tmp_path: Path, server: Any) -> Path:
    maildir = tmp_path / "Maildir"
    mailbox.Maildir(maildir, create=True)
    path = tmp_path / "inquiryd.toml"
    path.write_text(COMPANY + f"""
[[mailbox]]
name = "sales"
kind = "maildir"
path = "{maildir}"

[smtp]
host = "{server.host}"
port = {server.port}
tls = "none"
sender = "sales@brightstar.example"
timeout_seconds = 5

[sending]
per_minute = 3000

[paths]
state = "{tmp_path / 'state'}"
""", encoding="utf-8")
    return path


def seed_drafts(settings: config.Settings, db: Database) -> None:
    review = ReviewFolder(settings.review_path)
    for n in range(TOTAL):
        draft_id = f"k{n:04d}"
        msg = draft_message(draft_id, subject=f"Re: Inquiry {n}")
        name = review.write_pending(draft_id, msg, "ctx", grade="B", buyer_label=f"b{n}", when=WHEN)
        with db.unit_of_work() as s:
            outbox.record_draft(s, draft_id, "reply", "anna@importer.example", f"Re: Inquiry {n}",
                                msg["Message-ID"], name, mailbox_name="sales",
                                body_sha256=body_digest(msg))
        review.move(review.folder("pending") / name, "approved")




def states(db: Database) -> Counter[DraftState]:
    with db.unit_of_work() as s:
        return Counter(s.scalars(select(Draft.state)))


def test_sigkill_while_sending_never_sends_a_draft_twice(tmp_path: Path, smtp_server: Any) -> None:
    seed = int(os.environ.get("INQUIRYD_KILL_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    print(f"\nsend kill -9 seed: {seed} (rerun with INQUIRYD_KILL_SEED={seed})")
    config_path = write_config(tmp_path, smtp_server)
    settings = config.load(config_path, environ={})
    db = Database(settings.database_url)
    db.upgrade()
    child = Child([sys.executable, "-c", CHILD, str(config_path)], tmp_path / "logs")
    start_up = child.run_to_end()  # nothing approved yet: the cost of starting alone
    seed_drafts(settings, db)
    print(f"start-up of an idle run: {start_up:.2f} s")

    kills = in_work = 0
    for _ in range(MAX_ROUNDS):
        before = states(db)
        if in_work >= MIN_KILLS or not before[DraftState.PENDING] + before[DraftState.APPROVED]:
            break
        if child.run_and_kill(rng.uniform(0.8 * start_up, start_up + 0.25)):
            kills += 1
            in_work += states(db) != before
    after_kills = states(db)
    print(f"{child.runs - 1} runs, {kills} kills, {in_work} while sending; "
          f"states then: { {k.value: v for k, v in after_kills.items()} }")
    assert in_work >= MIN_KILLS, f"seed {seed}"

    child.run_to_end()
    final = states(db)
    print(f"final: { {k.value: v for k, v in final.items()} }, "
          f"received {len(smtp_server.messages)} DATA")
    received = Counter(str(m.message["Message-ID"]) for m in smtp_server.messages)
    twice = {mid: n for mid, n in received.items() if n > 1}
    assert not twice, f"received twice (seed {seed}): {twice}"
    waiting = final[DraftState.PENDING] + final[DraftState.APPROVED]
    assert final[DraftState.SENT] + final[DraftState.UNKNOWN] + waiting == TOTAL
    assert waiting == 0 and final[DraftState.SENDING] == 0, f"seed {seed}"

    accepted = {str(m.message["Message-ID"]) for m in smtp_server.accepted}
    with db.unit_of_work() as s:
        rows = s.execute(select(Draft.state, Draft.outgoing_message_id, Draft.file_name)).all()
    review = ReviewFolder(settings.review_path)
    for state, message_id, name in rows:
        if state == DraftState.SENT:
            assert message_id in accepted, f"{message_id} marked sent, never received"
            assert (review.folder("sent") / name).exists()
        else:  # unknown: set aside for a person, with the reason beside it
            assert (review.folder("failed") / name).exists()
            assert (review.folder("failed") / name).with_suffix(".reason.txt").exists()
    assert not review.approved_files()
    db.dispose()
