"""SIGKILL while sending a newsletter: every recipient gets exactly one copy.

5,000 buyers are seeded straight into SQLite. A child process runs
`campaigns.send_campaign` (what `inquiryd campaign send` runs under its lock) against
the aiosmtpd recorder in this process and is killed with SIGKILL after a random delay
(seeded; the seed is printed), drawn around the child's start-up time so most kills land
while deliveries are being claimed, sent and recorded; the first kills may land while
the 5,000 deliveries are being created. The child is throttled (10,000 a minute) so
that a run gets through some dozens before its kill. Rounds go on until at least
MIN_KILLS kills found the child at work; then one clean run without the throttle.

Afterwards, from the SMTP server's record: no recipient and no Message-ID was received
twice; every `sent` delivery was received; every delivery is sent or unknown (none
pending, none sending); at most one `unknown` per kill, and only those may be missing.
"""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon import config
from daemon.db import Database
from daemon.models import Delivery
from tests.reliability.harness import Child
from tests.test_campaigns import seed_buyers, write_settings

pytestmark = [pytest.mark.slow]

TOTAL = 5000
MIN_KILLS = 20        # kills that found the child at work (some delivery changed state)
MAX_ROUNDS = 100
CHILD = """
import sys
from daemon import campaigns, config
from daemon.db import Database
settings = config.load(sys.argv[1], environ={})
campaigns.send_campaign(settings, Database(settings.database_url), sys.argv[2],
                        throttle=sys.argv[3] == "throttle")
"""


def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates" / "newsletter"
    root.mkdir(parents=True)
    (root / "spring.toml").write_text('subject = "Spring news from {{ company.name }}"\n'
                                      'template = "spring.txt.j2"\n', encoding="utf-8")
    (root / "spring.txt.j2").write_text("Dear friends,\n\nOur spring collection is out.\n")
    (root / "nobody.toml").write_text('subject = "x"\ntemplate = "spring.txt.j2"\n'
                                      '[segment]\ngrades = ["Z"]\n', encoding="utf-8")
    return root.parent


def states(db: Database) -> Counter[str]:
    with db.unit_of_work() as s:
        return Counter(s.scalars(select(Delivery.state)))


def test_sigkill_while_sending_a_campaign_never_sends_twice(tmp_path: Path,
                                                           smtp_server: Any) -> None:
    seed = int(os.environ.get("INQUIRYD_KILL_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    print(f"\ncampaign kill -9 seed: {seed} (rerun with INQUIRYD_KILL_SEED={seed})")
    path = write_settings(tmp_path, smtp_server, templates=templates(tmp_path))
    settings = config.load(path, environ={})
    db = Database(settings.database_url)
    db.upgrade()
    seed_buyers(db, TOTAL)

    def child(name: str, mode: str) -> Child:
        return Child([sys.executable, "-c", CHILD, str(path), name, mode],
                     tmp_path / f"logs-{name}-{mode}")

    start_up = child("nobody", "throttle").run_to_end()  # the cost of starting alone
    print(f"start-up of an idle run: {start_up:.2f} s")
    sender = child("spring", "throttle")
    kills = in_work = 0
    for _ in range(MAX_ROUNDS):
        before = states(db)
        if in_work >= MIN_KILLS or (before and not before["pending"]):
            break
        if sender.run_and_kill(rng.uniform(0.8 * start_up, start_up + 0.4)):
            kills += 1
            in_work += states(db) != before
    print(f"{sender.runs} runs, {kills} kills, {in_work} while sending; "
          f"states then: {dict(states(db))}")
    assert in_work >= MIN_KILLS, f"seed {seed}"

    child("spring", "fast").run_to_end(timeout=300)
    final = states(db)
    received = smtp_server.messages
    print(f"final: {dict(final)}, received {len(received)} DATA")
    assert sum(final.values()) == TOTAL
    assert set(final) <= {"sent", "unknown"}, f"seed {seed}: {final}"
    assert final["unknown"] <= kills, f"seed {seed}"

    by_rcpt = Counter(r for m in received for r in m.rcpt_tos)
    by_id = Counter(str(m.message["Message-ID"]) for m in received)
    assert not {k: n for k, n in by_rcpt.items() if n > 1}, f"a buyer got two copies (seed {seed})"
    assert not {k: n for k, n in by_id.items() if n > 1}, f"seed {seed}"
    with db.unit_of_work() as s:
        rows = s.execute(select(Delivery.address, Delivery.state,
                                Delivery.outgoing_message_id)).all()
    accepted = {str(m.message["Message-ID"]) for m in smtp_server.accepted}
    for address, state, message_id in rows:
        if state == "sent":
            assert message_id in accepted and by_rcpt[address] == 1, address
        else:  # unknown: received once or not at all, never twice
            assert by_rcpt[address] <= 1
    missing = TOTAL - len(by_rcpt)
    assert missing <= final["unknown"]
    db.dispose()
