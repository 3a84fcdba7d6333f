#!/usr/bin/env python3
"""Send benchmark: inquiryd's sweep of approved drafts against a bare aiosmtplib loop.

Run by hand:

    .venv/bin/python bench/send.py [N]        # N drafts, default 10,000

Drafts N replies the way the drafting side does (record_draft + write_pending, then a
move to approved/, as a reviewer would), each a quotation text with a 16 KiB PDF
attachment (~27 KiB on the wire). A local aiosmtpd that only counts what it gets runs
in a child process, so the server's work does not share this process's GIL. Then, in
the same run and to the same server:

  (a) bare: one aiosmtplib connection, sendmail() of the same bytes, one after another;
  (b) sweep: sweep.sweep() over approved/: read and check each file, commit the claim,
      send on one kept connection, commit `sent` with the outgoing message, move the
      file to sent/, and at the end file each Sent copy (here a local Maildir).

The throttle is lifted for (b) (sending.per_minute is capped at 10,000/min = 167/s by
the config, which would be the figure otherwise). Nothing here is a test: only figures.
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
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENDER = "sales@brightstar.example"
SINK = r"""
import sys
from tests.servers.smtp import _EphemeralPortController

class Sink:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.count += 1
        return "250 2.0.0 Ok: queued"

controller = _EphemeralPortController(Sink(), hostname="127.0.0.1", port=0,
                                      server_hostname="smtp.test", ready_timeout=10)
controller.start()
print(controller.port, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
print(Sink.count, flush=True)
controller.stop()
"""


def template() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Lily Chen <{SENDER}>"
    msg["To"] = "buyer@importer.example"
    msg["Subject"] = "Re: Inquiry"
    msg["Date"] = "Fri, 20 Nov 2026 09:05:00 +0000"
    msg["Message-ID"] = "<x@brightstar.example>"
    msg["In-Reply-To"] = "<inq@importer.example>"
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Inquiryd-Draft"] = "x"
    lines = [f"{i:>2}. BS-NK-{100 + i} pendant necklace, 18K gold plated   MOQ 300 pcs   "
             f"USD {1 + i / 10:.2f}/pc FOB Ningbo   lead time 25 days" for i in range(30)]
    msg.set_content("Dear Anna,\n\nThank you for your inquiry. Our quotation:\n\n"
                    + "\n".join(lines) + "\n\nBest regards,\nLily Chen\nBrightstar\n")
    msg.add_attachment(os.urandom(16 * 1024), maintype="application", subtype="pdf",
                       filename="price-sheet-EU.pdf")
    return msg


def prepare(tmp: Path, port: int, count: int) -> tuple[Any, Any, list[bytes]]:
    from daemon import config, outbox
    from daemon.db import Database
    from daemon.review_folder import ReviewFolder, body_digest
    from tests.helpers import COMPANY

    maildir = tmp / "Maildir"
    mailbox.Maildir(maildir, create=True)
    path = tmp / "inquiryd.toml"
    path.write_text(COMPANY + f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{maildir}"\n'
                    f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\nsender = "{SENDER}"\n'
                    f'[paths]\nstate = "{tmp / "state"}"\n')
    settings = config.load(path, environ={})
    db = Database(settings.database_url)
    db.upgrade()
    review, msg, wire = ReviewFolder(settings.review_path), template(), []
    digest = body_digest(msg)
    for start in range(0, count, 500):
        with db.unit_of_work() as session:
            for n in range(start, min(start + 500, count)):
                draft_id = f"b{n:06d}"
                for header, value in (("X-Inquiryd-Draft", draft_id), ("To", f"buyer{n}@importer.example"),
                                      ("Message-ID", f"<{draft_id}@brightstar.example>"),
                                      ("Subject", f"Re: Inquiry {n}")):
                    msg.replace_header(header, value)
                name = review.write_pending(draft_id, msg, "context", grade="A",
                                            buyer_label=f"Buyer {n}", when=_when())
                outbox.record_draft(session, draft_id, "reply", f"buyer{n}@importer.example",
                                    f"Re: Inquiry {n}", msg["Message-ID"], name,
                                    mailbox_name="sales", body_sha256=digest)
                wire.append(review.move(review.folder("pending") / name, "approved").read_bytes())
    return settings, db, wire


def _when() -> Any:
    from datetime import datetime, timezone
    return datetime(2026, 11, 20, 9, 5, tzinfo=timezone.utc)


async def bare(port: int, messages: list[bytes]) -> None:
    from aiosmtplib import SMTP

    smtp = SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await smtp.connect()
    try:
        for n, data in enumerate(messages):
            await smtp.sendmail(SENDER, [f"buyer{n}@importer.example"], data)
        await smtp.quit()
    finally:
        smtp.close()


def run_sweep(settings: Any, db: Any) -> tuple[Any, float]:
    from daemon import sweep
    from daemon.review_folder import ReviewFolder

    unthrottled = settings.model_copy(update={
        "sending": settings.sending.model_copy(update={"per_minute": 10**9})})
    copies: list[float] = []
    real = sweep.file_sent_copies

    def timed(*args: Any) -> tuple[int, int]:
        began = time.perf_counter()
        try:
            return real(*args)
        finally:
            copies.append(time.perf_counter() - began)

    sweep.file_sent_copies = timed  # type: ignore[assignment]
    report = sweep.sweep(unthrottled, db, ReviewFolder(settings.review_path), threading.Event(),
                        settle_seconds=0)
    return report, copies[0] if copies else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    count = parser.parse_args().count
    sink = subprocess.Popen([sys.executable, "-c", SINK], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdin is not None
    port = int(sink.stdout.readline())
    with tempfile.TemporaryDirectory(prefix="inquiryd-bench-send-") as tmp:
        began = time.perf_counter()
        settings, db, wire = prepare(Path(tmp), port, count)
        setup = time.perf_counter() - began
        began = time.perf_counter()
        asyncio.run(bare(port, wire))
        bare_s = time.perf_counter() - began
        began = time.perf_counter()
        report, copies_s = run_sweep(settings, db)
        sweep_s = time.perf_counter() - began
        db.dispose()
    sink.stdin.close()
    received = int(sink.stdout.readline())
    sink.wait(10)
    size = sum(map(len, wire)) / len(wire) / 1024
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; {count} drafts of {size:.1f} KiB; setup (drafting) {setup:.1f} s")
    print(f"(a) bare aiosmtplib, one connection : {count / bare_s:8.0f} msg/s  ({bare_s:.2f} s)")
    print(f"(b) inquiryd sweep, throttle lifted : {count / sweep_s:8.0f} msg/s  ({sweep_s:.2f} s, "
          f"of which Sent copies {copies_s:.2f} s)")
    print(f"    sweep without the Sent copies   : {count / (sweep_s - copies_s):8.0f} msg/s")
    print(f"    ratio (b)/(a): {bare_s / sweep_s:.2f}; sweep sent {report.sent}, filed "
          f"{report.copies_filed} copies; server received {received} (= 2 x {count} expected)")


if __name__ == "__main__":
    main()
