#!/usr/bin/env python3
"""Several instances: 1, 2 and 3 `inquiryd poll` processes on one PostgreSQL database,
ten mailboxes in one Dovecot; messages per second and the scaling ratio against one.

    .venv/bin/python bench/instances.py [--per-box N] [--instances 1,2,3]

Each run starts from an empty database (the same mailboxes: polling never changes them)
and ends when every instance has exited; every message is then checked to be stored and
processed once. PostgreSQL is the local server (INQUIRYD_BENCH_PG to point elsewhere).
On one machine the instances share its cores with PostgreSQL and Dovecot, so the ratio
shows how far the claims let them work side by side, not what separate machines give.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/instances.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, BenchError, bench_run, progress  # noqa: E402
from bench.ingest import account, make_message  # noqa: E402

PG = os.environ.get("INQUIRYD_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BOXES = 10


def _fresh_database(name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG).set(database=name).render_as_string(hide_password=False)


def _configs(work: Path, accounts: list[dict[str, Any]], url: str, count: int) -> list[Path]:
    from tests.helpers import COMPANY, imap_block
    from types import SimpleNamespace

    boxes = "".join(imap_block(SimpleNamespace(server=SimpleNamespace(host=a["host"],
                                                                      port=a["port"]),
                                               name=a["user"]), name=a["name"])
                    for a in accounts)
    paths = []
    for n in range(count):
        home = work / f"instance-{n}"
        home.mkdir(parents=True)
        (home / "inquiryd.toml").write_text(
            COMPANY + boxes + f'[paths]\nrules = "{ROOT / "rules"}"\n'
            f'templates = "{ROOT / "templates"}"\nstate = "{home / "state"}"\n'
            '[smtp]\nsender = "Sales <sales@brightstar.example>"\n'
            f'[review]\npath = "{work / "review"}"\n[database]\nurl = "{url}"\n',
            encoding="utf-8")
        paths.append(home / "inquiryd.toml")
    return paths


def _run(work: Path, accounts: list[dict[str, Any]], instances: int, total: int) -> float:
    from sqlalchemy import func, select

    from daemon.db import Database
    from daemon.models import Inquiry, Message, MessageState

    url = _fresh_database("inquiryd_bench_instances")
    db = Database(url)
    db.upgrade()
    env = {**os.environ, **{f"PW_{a['name'].upper()}": a["password"] for a in accounts}}
    configs = _configs(work / f"run-{instances}", accounts, url, instances)
    began = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "daemon", "-c", str(c), "poll"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=(c.parent / "poll.log").open("wb")) for c in configs]
    for proc in procs:
        if proc.wait() != 0:
            raise BenchError(f"an instance exited {proc.returncode}: see {work}")
    seconds = time.perf_counter() - began
    with db.unit_of_work() as s:
        done = s.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in", Message.state == MessageState.PROCESSED))
        inquiries = s.scalar(select(func.count()).select_from(Inquiry))
    db.dispose()
    if done != total or inquiries != total:
        raise BenchError(f"{instances} instance(s): {done} processed, {inquiries} inquiries "
                         f"of {total}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-box", type=int, default=300, help="messages in each mailbox")
    parser.add_argument("--instances", default="1,2,3", help="instance counts to run")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.instances.split(",")]
    total = BOXES * args.per_box
    try:
        with bench_run(seed=7) as bench:
            server, rng = bench.dovecot(), random.Random(7)
            accounts = []
            for i in range(BOXES):
                user = server.add_user(f"bench-inst-{i}", f"bench-inst-{i}-password")
                server.append_many(user.name, "INBOX", (make_message(i * args.per_box + k, rng)
                                                        for k in range(args.per_box)))
                accounts.append(account(server, user, f"box{i}", ["INBOX"]))
            rows = []
            for n in counts:
                progress(f"instances: {n} instance(s), {total} messages")
                rows.append((n, _run(bench.work, accounts, n, total)))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    base = total / rows[0][1]
    print(f"{BOXES} mailboxes, {total} messages, one PostgreSQL, {os.cpu_count()} cores")
    print("| instances | seconds | messages/s | scaling vs 1 |\n|---:|---:|---:|---:|")
    for n, seconds in rows:
        print(f"| {n} | {seconds:.1f} | {total / seconds:.1f} | {total / seconds / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
