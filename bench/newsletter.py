#!/usr/bin/env python3
"""Newsletter benchmark: campaigns.send_campaign against a bare aiosmtplib loop.

Run by hand:

    .venv/bin/python bench/newsletter.py [N] [--connections C ...]   # default 5,000; 1 and 4

Seeds N buyers straight into a fresh SQLite database and sends the shipped
`canton-fair-invitation` campaign (~1.4 KiB on the wire) to a local aiosmtpd that only
counts what it gets, in a child process so that the server's work does not share this
process's GIL. For each C, in the same run and to the same server:

  (a) bare: C aiosmtplib connections, sendmail() of pre-flattened bytes (To and
      Message-ID differ per message), N/C each, concurrently;
  (b) inquiryd: send_campaign(throttle=False, connections=C): the deliveries created
      (first run), then per recipient the cap and status checks, the claim committed,
      the message filled from the one built per campaign, SMTP on a kept connection,
      `sent` and the outgoing Message row committed.

The throttle is off for (b) (throttle=False; sending.per_minute would otherwise be the
figure). Nothing here is a test: only figures.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.send import SINK  # noqa: E402 - the same counting aiosmtpd

SENDER = "lily@brightstar.example"


def setup(tmp: Path, port: int, count: int) -> tuple[Any, Any, float]:
    from daemon import config
    from daemon.db import Database
    from tests.helpers import COMPANY
    from tests.test_campaigns import seed_buyers

    maildir = tmp / "Maildir"
    mailbox.Maildir(maildir, create=True)
    path = tmp / "inquiryd.toml"
    path.write_text(COMPANY + f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{maildir}"\n'
                    f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
                    f'sender = "Lily Chen <{SENDER}>"\n'
                    f'[paths]\ntemplates = "{ROOT / "templates"}"\nstate = "{tmp / "state"}"\n')
    settings = config.load(path, environ={})
    db = Database(settings.database_url)
    db.upgrade()
    began = time.perf_counter()
    seed_buyers(db, count)
    return settings, db, time.perf_counter() - began


def sample(settings: Any, db: Any) -> bytes:
    from daemon import campaigns
    return campaigns.preview(settings, db, "canton-fair-invitation")["sample"].encode()


async def bare(port: int, data: bytes, count: int, connections: int) -> None:
    from aiosmtplib import SMTP

    async def one(lane: int) -> None:
        smtp = SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        await smtp.connect()
        try:
            for n in range(lane, count, connections):
                message = data.replace(b"buyer0@", f"buyer{n}@".encode(), 1)
                await smtp.sendmail(SENDER, [f"buyer{n}@importer.example"], message)
            await smtp.quit()
        finally:
            smtp.close()

    await asyncio.gather(*(one(lane) for lane in range(connections)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=5_000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    from daemon import campaigns

    sink = subprocess.Popen([sys.executable, "-c", SINK], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdin is not None
    port = int(sink.stdout.readline())
    rows = []
    for connections in args.connections:
        with tempfile.TemporaryDirectory(prefix="inquiryd-bench-newsletter-") as tmp:
            settings, db, seed_s = setup(Path(tmp), port, args.count)
            data = sample(settings, db)
            began = time.perf_counter()
            asyncio.run(bare(port, data, args.count, connections))
            bare_s = time.perf_counter() - began
            began = time.perf_counter()
            report = campaigns.send_campaign(settings, db, "canton-fair-invitation",
                                             throttle=False, connections=connections)
            ours_s = time.perf_counter() - began
            db.dispose()
        rows.append((connections, bare_s, ours_s, report, seed_s))
    sink.stdin.close()
    received = int(sink.stdout.readline())
    sink.wait(10)
    n = args.count
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} "
          f"CPUs; {n} recipients, {len(data) / 1024:.1f} KiB each; SQLite (WAL)")
    for connections, bare_s, ours_s, report, seed_s in rows:
        print(f"C={connections}: (a) bare aiosmtplib   : {n / bare_s:8.0f} msg/s  ({bare_s:.2f} s)")
        print(f"     (b) send_campaign    : {n / ours_s:8.0f} msg/s  ({ours_s:.2f} s; "
              f"sent {report.sent}, seeding took {seed_s:.2f} s)")
        print(f"     ratio (b)/(a): {bare_s / ours_s:.2f}")
    print(f"server received {received} (= 2 x {n} x {len(rows)} expected)")


if __name__ == "__main__":
    main()
