#!/usr/bin/env python3
"""Newsletter: campaigns.send_campaign against a bare aiosmtplib loop.

    .venv/bin/python -m bench --only newsletter      # or: bench/newsletter.py [N]

N buyers seeded straight into a fresh SQLite database (tests/test_campaigns.py's
seed_buyers), then the shipped `canton-fair-invitation` campaign (~1.4 KiB on the wire)
to the test aiosmtpd (bench/harness.py's counting sink), one connection each:

- floor: aiosmtplib sendmail() of the campaign's rendered sample, To changed per buyer;
- inquiryd: send_campaign(throttle=False): the deliveries created, then per recipient
  the cap and status checks, the claim committed, the message filled in, SMTP on a kept
  connection, `sent` and the outgoing message row committed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/newsletter.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Bench, Scenario, database, desk, in_child, smtp_sink  # noqa: E402

SCENARIO = Scenario("newsletter", "newsletter (aiosmtpd)", "messages", 5_000, 30)
SENDER = "lily@brightstar.example"
CAMPAIGN = "canton-fair-invitation"


def settings_at(work: Path, port: int) -> Any:
    return desk(work, extra=f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
                            f'sender = "Lily Chen <{SENDER}>"\n')


def measure(bench: Bench, count: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    from daemon import campaigns
    from tests.test_campaigns import seed_buyers

    work = bench.folder("newsletter")
    with smtp_sink() as sink:
        settings = settings_at(work, sink.port)
        db = database(settings)
        seed_buyers(db, count)
        sample = campaigns.preview(settings, db, CAMPAIGN)["sample"]
        db.dispose()
        params = {"work": str(work), "port": sink.port, "count": count, "sample": sample}
        floor = in_child("newsletter", "floor", params)
        ours = in_child("newsletter", "inquiryd", params)
        received = sink.received()
    text = (f"{len(sample.encode()) / 1024:.1f} KiB each, one connection; server received "
            f"{received:,}")
    if ours["items"] != count or received != 2 * count:
        text += f"; WARNING: expected {count:,} sent by each side (error: {ours['error']})"
    return floor, ours, text


def floor(params: dict[str, Any]) -> dict[str, Any]:
    """aiosmtplib on one connection: the sample with each buyer's To."""
    from aiosmtplib import SMTP

    data, count = params["sample"].encode(), params["count"]

    async def send_all() -> None:
        smtp = SMTP(hostname="127.0.0.1", port=params["port"], start_tls=False, timeout=30)
        await smtp.connect()
        try:
            for n in range(count):
                message = data.replace(b"buyer0@", f"buyer{n}@".encode(), 1)
                await smtp.sendmail(SENDER, [f"buyer{n}@importer.example"], message)
            await smtp.quit()
        finally:
            smtp.close()

    began = time.perf_counter()
    asyncio.run(send_all())
    return {"items": count, "seconds": time.perf_counter() - began}


def inquiryd(params: dict[str, Any]) -> dict[str, Any]:
    """send_campaign with the throttle off, one connection."""
    from daemon import campaigns
    from daemon.db import Database

    settings = settings_at(Path(params["work"]), params["port"])
    db = Database(settings.database_url)
    began = time.perf_counter()
    report = campaigns.send_campaign(settings, db, CAMPAIGN, throttle=False)
    seconds = time.perf_counter() - began
    db.dispose()
    return {"items": report.sent, "seconds": seconds, "error": report.error}


if __name__ == "__main__":
    from bench.run import script

    script(SCENARIO.name)
