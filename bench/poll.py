#!/usr/bin/env python3
"""Empty poll: inquiryd's poll with nothing new against imapclient login, EXAMINE, logout.

    .venv/bin/python -m bench --only poll            # or: bench/poll.py [POLLS]

Three IMAP mailboxes on the test Dovecot, each with three folders holding a few
messages, all stored by one poll beforehand. Then N times:

- floor: per mailbox, imapclient login, EXAMINE of each folder, logout;
- inquiryd: `runner.poll` with the stages built once, as the service calls it: the poll
  row, per mailbox login and EXAMINE of each folder against its cursor (no SEARCH when
  UIDNEXT says nothing is new), then the pending-message query and the poll recorded.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/poll.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Bench, BenchError, Scenario, database, imap_desk, in_child, progress  # noqa: E402
from bench.ingest import account, make_message  # noqa: E402

SCENARIO = Scenario("poll", "empty poll", "polls", 200, 5)
MAILBOXES = ("sales", "export", "support")
FOLDERS = ["INBOX", "Alibaba", "Website"]
PER_FOLDER = 5


def mailboxes(bench: Bench) -> list[dict[str, Any]]:
    """The accounts on the test Dovecot, a few messages in each folder."""
    server, rng = bench.dovecot(), random.Random(bench.seed)
    accounts = []
    for name in MAILBOXES:
        user = server.add_user(f"bench-poll-{name}", f"bench-poll-{name}-password")
        for folder in FOLDERS:
            if folder != "INBOX":
                server.create_folder(user.name, folder)
            server.append_many(user.name, folder, (make_message(i, rng) for i in range(PER_FOLDER)))
        accounts.append(account(server, user, name, FOLDERS))
    return accounts


def measure(bench: Bench, count: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    from daemon import runner

    accounts, work = mailboxes(bench), bench.folder("poll")
    progress("poll: storing what the folders hold")
    db = database(imap_desk(work, accounts))
    first = runner.poll(imap_desk(work, accounts), db)
    db.dispose()
    stored = sum(m.stored for m in first.mailboxes)
    if any(m.error or m.processed != m.stored for m in first.mailboxes):
        # Mail left to retry would make every later poll a busy one.
        raise BenchError(f"poll: the first poll did not process everything: {first.as_dict()}")
    params = {"work": str(work), "count": count, "accounts": accounts}
    floor = in_child("poll", "floor", params)
    ours = in_child("poll", "inquiryd", params)
    ours["title"] = f"empty poll, {len(MAILBOXES)}×{len(FOLDERS)} folders"
    text = (f"{len(MAILBOXES)} mailboxes of {len(FOLDERS)} folders, {stored} messages stored "
            f"before; {1000 * ours['seconds'] / ours['items']:.1f} ms per poll, floor "
            f"{1000 * floor['seconds'] / floor['items']:.1f} ms")
    if ours["fetched"] or ours["processed"] or ours["errors"]:
        text += (f"; WARNING: not empty: fetched {ours['fetched']}, processed "
                 f"{ours['processed']}, errors {ours['errors']}")
    return floor, ours, text


def floor(params: dict[str, Any]) -> dict[str, Any]:
    """Per mailbox: imapclient login, EXAMINE of every folder, logout."""
    from imapclient import IMAPClient

    began = time.perf_counter()
    for _ in range(params["count"]):
        for box in params["accounts"]:
            client = IMAPClient(box["host"], box["port"], ssl=False, timeout=10)
            client.login(box["user"], box["password"])
            for folder in box["folders"]:
                client.select_folder(folder, readonly=True)
            client.logout()
    return {"items": params["count"], "seconds": time.perf_counter() - began}


def inquiryd(params: dict[str, Any]) -> dict[str, Any]:
    """runner.poll N times, the stages built once as the service builds them."""
    import threading

    from daemon import pipeline, rulebook, runner
    from daemon.db import Database

    settings = imap_desk(Path(params["work"]), params["accounts"])
    db = Database(settings.database_url)
    stages = pipeline.default_stages(settings, rulebook.load(settings.paths.rules))
    stop = threading.Event()
    fetched, processed, errors = 0, 0, []
    began = time.perf_counter()
    for _ in range(params["count"]):
        report = runner.poll(settings, db, stop, stages)
        for box in report.mailboxes:
            fetched += box.fetched
            processed += box.processed + box.failed + box.quarantined
            errors += [box.error] if box.error else []
    seconds = time.perf_counter() - began
    db.dispose()
    return {"items": params["count"], "seconds": seconds, "fetched": fetched,
            "processed": processed, "errors": errors[:3]}


if __name__ == "__main__":
    from bench.run import script

    script(SCENARIO.name)
