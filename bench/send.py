#!/usr/bin/env python3
"""Sending: inquiryd's sweep of approved drafts against a bare aiosmtplib loop.

    .venv/bin/python -m bench --only send            # or: bench/send.py [N]

N replies are drafted the way the drafting side records them (record_draft and
write_pending, then moved to approved/ as a reviewer would), each a quotation with a
16 KiB PDF (~27 KiB on the wire). To the test aiosmtpd (a counting handler on
tests/servers/smtp.py's controller, in a process of its own):

- floor: aiosmtplib, one connection, sendmail() of the same files' bytes in turn;
- inquiryd: `sweep.sweep` over approved/: each file read and checked, the claim
  committed, sent on one kept connection, `sent` committed with the outgoing message,
  the file moved to sent/, then every Sent copy filed (here in a local Maildir).

The throttle (sending.per_minute, at most 10,000/min) is lifted for the sweep.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/send.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Bench, Scenario, database, desk, in_child, progress, smtp_sink  # noqa: E402

SCENARIO = Scenario("send", "sending (aiosmtpd)", "messages", 10_000, 30)
SENDER = "sales@brightstar.example"


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


def settings_at(work: Path, port: int) -> Any:
    return desk(work, extra=f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
                            f'sender = "{SENDER}"\n')


def approve(settings: Any, count: int) -> None:
    """N drafts recorded, written to pending/ and moved to approved/."""
    from daemon import outbox
    from daemon.review_folder import ReviewFolder, body_digest

    db = database(settings)
    review, msg = ReviewFolder(settings.review_path), template()
    digest, when = body_digest(msg), datetime(2026, 11, 20, 9, 5, tzinfo=timezone.utc)
    for start in range(0, count, 500):
        with db.unit_of_work() as session:
            for n in range(start, min(start + 500, count)):
                draft_id = f"b{n:06d}"
                for header, value in (("X-Inquiryd-Draft", draft_id),
                                      ("To", f"buyer{n}@importer.example"),
                                      ("Message-ID", f"<{draft_id}@brightstar.example>"),
                                      ("Subject", f"Re: Inquiry {n}")):
                    msg.replace_header(header, value)
                name = review.write_pending(draft_id, msg, "context", grade="A",
                                            buyer_label=f"Buyer {n}", when=when)
                outbox.record_draft(session, draft_id, "reply", f"buyer{n}@importer.example",
                                    f"Re: Inquiry {n}", msg["Message-ID"], name,
                                    mailbox_name="sales", body_sha256=digest)
                review.move(review.folder("pending") / name, "approved")
    db.dispose()


def measure(bench: Bench, count: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    work = bench.folder("send")
    with smtp_sink() as sink:
        progress(f"send: drafting and approving {count:,} replies")
        approve(settings_at(work, sink.port), count)
        params = {"work": str(work), "port": sink.port, "count": count}
        floor = in_child("send", "floor", params)
        ours = in_child("send", "inquiryd", params)
        received = sink.received()
    text = (f"{floor['kib']:.1f} KiB each; of the sweep, filing the Sent copies "
            f"{ours['copies_seconds']:.2f} s; server received {received:,}")
    if ours["items"] != count or received != 2 * count:
        text += f"; WARNING: expected {count:,} sent by each side"
    return floor, ours, text


def floor(params: dict[str, Any]) -> dict[str, Any]:
    """aiosmtplib on one connection: the approved files' bytes, one after another."""
    from aiosmtplib import SMTP

    approved = sorted((Path(params["work"]) / "state" / "review" / "approved").glob("*.eml"))
    messages = [path.read_bytes() for path in approved]

    async def send_all() -> None:
        smtp = SMTP(hostname="127.0.0.1", port=params["port"], start_tls=False, timeout=30)
        await smtp.connect()
        try:
            for n, data in enumerate(messages):
                await smtp.sendmail(SENDER, [f"buyer{n}@importer.example"], data)
            await smtp.quit()
        finally:
            smtp.close()

    began = time.perf_counter()
    asyncio.run(send_all())
    size = sum(map(len, messages)) / max(len(messages), 1) / 1024
    return {"items": len(messages), "seconds": time.perf_counter() - began, "kib": size}


def inquiryd(params: dict[str, Any]) -> dict[str, Any]:
    """One sweep of the review folder, throttle lifted; the Sent copies timed apart."""
    import threading

    from daemon import sweep
    from daemon.db import Database
    from daemon.review_folder import ReviewFolder

    settings = settings_at(Path(params["work"]), params["port"])
    unthrottled = settings.model_copy(update={
        "sending": settings.sending.model_copy(update={"per_minute": 10**9})})
    db = Database(settings.database_url)
    copies: list[float] = []
    real = sweep.file_sent_copies

    def timed(*args: Any) -> tuple[int, int]:
        began = time.perf_counter()
        try:
            return real(*args)
        finally:
            copies.append(time.perf_counter() - began)

    sweep.file_sent_copies = timed  # type: ignore[assignment]
    began = time.perf_counter()
    report = sweep.sweep(unthrottled, db, ReviewFolder(settings.review_path),
                         threading.Event(), settle_seconds=0)
    seconds = time.perf_counter() - began
    db.dispose()
    return {"items": report.sent, "seconds": seconds, "copies_seconds": sum(copies),
            "copies_filed": report.copies_filed}


if __name__ == "__main__":
    from bench.run import script

    script(SCENARIO.name)
