#!/usr/bin/env python3
"""Ingest: inquiryd's poll of 10,000 messages from Dovecot against a bare imapclient fetch.

    .venv/bin/python -m bench --only ingest          # or: bench/ingest.py [N]

APPENDs N varied ~4.9 KiB inquiries (Received and DKIM headers, a text and an
Outlook-style HTML part) to the test Dovecot (tests/servers/dovecot.py), then measures:

- floor: imapclient, EXAMINE, FETCH BODY.PEEK[] of them all in batches of 200, in memory;
- inquiryd: `runner.poll` on a fresh SQLite database: fetch, store, then process each
  message (parse, understand, record, draft the reply into the review folder).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ingest.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Bench, Scenario, database, imap_desk, in_child, progress  # noqa: E402

SCENARIO = Scenario("ingest", "ingest from Dovecot", "messages", 10_000, 50)
FETCH_BATCH = 200

# -- realistic messages ----------------------------------------------------------------

COUNTRIES = [("de", "Hamburg", "GmbH"), ("ae", "Dubai", "LLC"), ("br", "Sao Paulo", "Ltda"),
             ("us", "Chicago", "Inc."), ("pl", "Warsaw", "Sp. z o.o."), ("za", "Durban", "Pty"),
             ("in", "Mumbai", "Pvt Ltd"), ("fr", "Lyon", "SARL"), ("mx", "Monterrey", "SA de CV")]
NAMES = ["Anna Schulz", "Omar Haddad", "Lucas Pereira", "Emily Carter", "Piotr Nowak",
         "Thabo Nkosi", "Priya Shah", "Claire Martin", "Diego Ramirez", "Kenji Sato"]
PRODUCTS = [("BS-NK-101", "pendant necklace"), ("BS-RG-220", "stainless steel ring"),
            ("BS-ER-330", "hoop earrings"), ("BS-BR-415", "charm bracelet"),
            ("BS-AN-502", "anklet with beads"), ("BS-HP-610", "hair pin set")]
TERMS = ["FOB Ningbo", "CIF Hamburg", "EXW Yiwu", "CFR Jebel Ali", "FOB Shanghai"]
OPENINGS = ["Dear Sir or Madam,", "Hello,", "Dear Sales Team,", "Good day,", "Hi Lily,"]
ASKS = ["Please send us your best price and lead time.",
        "Could you quote your best price, MOQ and payment terms?",
        "We would like samples before placing a trial order.",
        "Kindly advise the price for the quantities below and the delivery time.",
        "Please confirm whether you can print our logo on the packaging."]
ABOUT = ["We are an importer and wholesaler of fashion accessories with 12 shops.",
         "Our company supplies department stores across the region.",
         "We found your products on Alibaba and at the Canton Fair.",
         "We are a growing online retailer looking for a reliable supplier.",
         "We have been importing jewelry from China for more than ten years."]


def make_message(i: int, rng: random.Random) -> bytes:
    cc, city, suffix = rng.choice(COUNTRIES)
    name = rng.choice(NAMES)
    first = name.split()[0].lower()
    company = f"{name.split()[1]} Trading {suffix}"
    domain = f"{name.split()[1].lower()}-trading.{cc}"
    items = rng.sample(PRODUCTS, rng.randint(1, 4))
    lines = [f"- {code} {what}: {rng.choice([300, 500, 1000, 2400, 5000])} pcs, "
             f"colour {rng.choice(['gold', 'silver', 'rose gold', 'black'])}"
             for code, what in items]
    term = rng.choice(TERMS)
    text = "\n".join([
        rng.choice(OPENINGS), "", rng.choice(ABOUT), rng.choice(ASKS), "",
        *lines, "", f"Delivery terms: {term}. Payment: T/T 30% deposit.",
        "Please reply with your catalogue and certificates (SGS, REACH) if available.",
        "", "Best regards,", name, "Purchasing Manager", company, f"{city}, {cc.upper()}",
        f"Tel: +{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}",
        f"www.{domain}",
    ])
    # Outlook-style HTML: a style block and a styled span per paragraph, as sent.
    html = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
            "charset=utf-8\"><style><!--\n@font-face {font-family:Calibri;}\n"
            "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; "
            "font-family:\"Calibri\",sans-serif;}\nspan.EmailStyle17 {mso-style-type:"
            "personal-compose; font-family:\"Calibri\",sans-serif; color:windowtext;}\n"
            ".MsoChpDefault {mso-style-type:export-only;}\n@page WordSection1 {size:612.0pt "
            "792.0pt; margin:72.0pt 72.0pt 72.0pt 72.0pt;}\n--></style></head>"
            "<body lang=\"EN-US\" link=\"#0563C1\"><div class=\"WordSection1\">"
            + "".join(f"<p class=\"MsoNormal\"><span style=\"font-size:10.5pt;"
                      f"color:#1F3864\">{line or '<o:p>&nbsp;</o:p>'}</span></p>"
                      for line in text.split("\n"))
            + "</div></body></html>")
    boundary = f"----=_Part_{i}_{rng.randint(10**8, 10**9)}"
    day = 1 + i % 28
    hops = "".join(
        f"Received: from mx{h}.{domain} (mx{h}.{domain} [203.0.113.{rng.randint(1, 254)}])\r\n"
        f"\tby mx.brightstar.example (Postfix) with ESMTPS id {rng.randbytes(6).hex().upper()}\r\n"
        f"\tfor <sales@brightstar.example>; Fri, {day} Nov 2026 09:{i % 60:02d}:00 +0000\r\n"
        for h in range(rng.randint(2, 3)))
    dkim = ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=" + domain
            + "; s=s1; h=from:to:subject:date:message-id;\r\n\tbh="
            + rng.randbytes(32).hex()[:44] + "=;\r\n\tb="
            + "\r\n\t".join(rng.randbytes(48).hex() for _ in range(3)) + "\r\n")
    headers = (
        hops + dkim
        + f"Authentication-Results: mx.brightstar.example; dkim=pass header.d={domain}; "
        f"spf=pass smtp.mailfrom={first}@{domain}; dmarc=pass header.from={domain}\r\n"
        f"Received-SPF: pass (mx.brightstar.example: domain of {domain} designates "
        f"203.0.113.7 as permitted sender) client-ip=203.0.113.7\r\n"
        + f"From: {name} <{first}@{domain}>\r\nTo: sales@brightstar.example\r\n"
        f"Subject: Inquiry {i}: {', '.join(code for code, _ in items)} {term}\r\n"
        f"Date: Fri, {day} Nov 2026 09:{i % 60:02d}:00 +0000\r\n"
        f"Message-ID: <{i}.{rng.randbytes(8).hex()}@{domain}>\r\n"
        "MIME-Version: 1.0\r\nX-Mailer: Microsoft Outlook 16.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n')
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{boundary}--\r\n")
    return (headers + body.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")




# -- the measurements -------------------------------------------------------------------

def measure(bench: Bench, count: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    server = bench.dovecot()
    user = server.add_user("bench-ingest", "bench-ingest-password")
    rng = random.Random(bench.seed)
    sizes: list[int] = []

    def messages() -> Iterator[bytes]:
        # Made while APPENDed, never all held at once.
        for i in range(count):
            sizes.append(len(raw := make_message(i, rng)))
            yield raw

    progress(f"ingest: appending {count:,} messages to Dovecot")
    server.append_many(user.name, "INBOX", messages())
    params = {"work": str(bench.folder("ingest")), "count": count,
              "accounts": [account(server, user, "sales", ["INBOX"])]}
    floor = in_child("ingest", "floor", params)
    ours = in_child("ingest", "inquiryd", params)
    return floor, ours, note(floor, ours, count, sizes)


def account(server: Any, user: Any, name: str, folders: list[str]) -> dict[str, Any]:
    return {"host": server.host, "port": server.port, "user": user.name,
            "password": user.password, "name": name, "folders": folders}


def note(floor: dict[str, Any], ours: dict[str, Any], count: int, sizes: list[int]) -> str:
    store = ours["seconds"] - ours["process_seconds"]
    ratio = (ours["items"] / store) / (floor["items"] / floor["seconds"])
    text = (f"{sum(sizes) / len(sizes) / 1024:.1f} KiB average; fetch + store {store:.1f} s "
            f"({ratio:.2f} of the floor's rate), processing {ours['process_seconds']:.1f} s; "
            f"{ours['processed']:,} processed, {ours['failed']:,} failed or set aside")
    if ours["items"] != count or ours["processed"] != count or ours["error"]:
        text += f"; WARNING: expected {count:,} stored and processed (error: {ours['error']})"
    return text


def floor(params: dict[str, Any]) -> dict[str, Any]:
    """imapclient: EXAMINE, FETCH BODY.PEEK[] in batches, every message held in memory."""
    from imapclient import IMAPClient

    (box,) = params["accounts"]
    began = time.perf_counter()
    kept: list[bytes] = []
    with IMAPClient(box["host"], box["port"], ssl=False, timeout=60) as client:
        client.login(box["user"], box["password"])
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        for start in range(0, len(uids), FETCH_BATCH):
            response = client.fetch(uids[start:start + FETCH_BATCH], ["BODY.PEEK[]"])
            kept.extend(data[b"BODY[]"] for data in response.values())
    return {"items": len(kept), "seconds": time.perf_counter() - began}


def inquiryd(params: dict[str, Any]) -> dict[str, Any]:
    """runner.poll on a fresh SQLite database: fetch, store, process every message."""
    from daemon import pipeline, runner

    settings = imap_desk(Path(params["work"]), params["accounts"])
    db = database(settings)
    phases: dict[str, float] = {}
    pipeline.process_pending = _timed(pipeline.process_pending, phases, "process")
    began = time.perf_counter()
    report = runner.poll(settings, db)
    seconds = time.perf_counter() - began
    db.dispose()
    (box,) = report.mailboxes
    return {"items": box.stored, "seconds": seconds, "process_seconds": phases["process"],
            "processed": box.processed, "failed": box.failed + box.quarantined,
            "error": box.error}


def _timed(func: Callable[..., Any], into: dict[str, float], name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kw: Any) -> Any:
        began = time.perf_counter()
        try:
            return func(*args, **kw)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - began
    return wrapper


if __name__ == "__main__":
    from bench.run import script

    script(SCENARIO.name)
