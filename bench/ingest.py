#!/usr/bin/env python3
"""Ingest benchmark: inquiryd's poll against a bare imapclient fetch of the same mail.

Run by hand, as root (the test Dovecot's mail must belong to the `dovecot` user):

    .venv/bin/python bench/ingest.py [N]        # N messages, default 10,000

Starts the test Dovecot (tests/servers/dovecot.py), APPENDs N varied ~4-5 KiB inquiries
(headers of real mail: Received, DKIM; a text part and an HTML part), then measures,
each in its own child process so that peak RSS belongs to one measurement:

  (a) a bare fetch: imapclient, EXAMINE, BODY.PEEK[] in batches of 200, nothing kept;
  (b) inquiryd's ingest: runner.poll on a fresh SQLite database in a temp dir (fetch,
      store, parse), with the config's default batch size.

It prints messages/s for each, their ratio, and peak RSS. Nothing here is a test:
there are no thresholds, only figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FETCH_BATCH = 200
PASSWORD_ENV = "BENCH_IMAP_PASSWORD"

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


# -- measurements (each run in a child process) ---------------------------------------

def rss_mib() -> float:
    """Peak RSS of this process so far, in MiB (ru_maxrss is in KiB on Linux).

    Linux carries ru_maxrss across exec, so a child never reports less than its parent
    had when it forked; vm_hwm_mib() is the peak of this program's image alone.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mib() -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def measure_fetch(host: str, port: int, user: str, password: str) -> dict[str, Any]:
    from imapclient import IMAPClient

    before = rss_mib()
    began = time.perf_counter()
    count = size = 0
    with IMAPClient(host, port, ssl=False, timeout=60) as client:
        client.login(user, password)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        for start in range(0, len(uids), FETCH_BATCH):
            response = client.fetch(uids[start:start + FETCH_BATCH], ["BODY.PEEK[]"])
            for data in response.values():
                size += len(data[b"BODY[]"])
                count += 1
    return {"messages": count, "bytes": size, "seconds": time.perf_counter() - began,
            "rss_before_mib": before, "rss_peak_mib": rss_mib(), "vm_hwm_mib": vm_hwm_mib()}


def measure_ingest(host: str, port: int, user: str, password: str) -> dict[str, Any]:
    from daemon import config, pipeline, runner
    from daemon.db import Database
    from tests.helpers import COMPANY

    with tempfile.TemporaryDirectory(prefix="inquiryd-bench-") as tmp:
        path = Path(tmp) / "inquiryd.toml"
        path.write_text(COMPANY + f'[[mailbox]]\nname = "sales"\nkind = "imap"\n'
                        f'host = "{host}"\nport = {port}\ntls = "none"\nusername = "{user}"\n'
                        f'password_env = "{PASSWORD_ENV}"\n[smtp]\nsender = "Sales <sales@bench.example>"\n[paths]\nstate = "{tmp}/state"\n'
                        f'rules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n')
        settings = config.load(path, environ={PASSWORD_ENV: password})
        db = Database(settings.database_url)
        db.upgrade()
        phases: dict[str, float] = {}
        pipeline.process_pending = _timed(pipeline.process_pending, phases, "process")
        before = rss_mib()
        began = time.perf_counter()
        report = runner.poll(settings, db)
        seconds = time.perf_counter() - began
        (box,) = report.mailboxes
        db_bytes = sum(f.stat().st_size for f in (Path(tmp) / "state").glob("inquiryd.db*"))
        db.dispose()
    return {"messages": box.stored, "processed": box.processed,
            "quarantined": box.quarantined, "failed": box.failed, "error": box.error,
            "seconds": seconds, "process_seconds": phases["process"],
            "batch_size": settings.ingest.batch_size, "db_mib": db_bytes / 2**20,
            "rss_before_mib": before, "rss_peak_mib": rss_mib(), "vm_hwm_mib": vm_hwm_mib()}


def _timed(func: Callable[..., Any], into: dict[str, float], name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kw: Any) -> Any:
        began = time.perf_counter()
        try:
            return func(*args, **kw)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - began
    return wrapper


MEASURES = {"fetch": measure_fetch, "ingest": measure_ingest}


def child(kind: str, host: str, port: int, user: str) -> None:
    result = MEASURES[kind](host, port, user, os.environ[PASSWORD_ENV])
    print(json.dumps(result))


def in_child(kind: str, host: str, port: int, user: str, password: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--host", host, "--port", str(port),
         "--user", user], cwd=ROOT, env={**os.environ, PASSWORD_ENV: password},
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {kind} measurement failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the run ------------------------------------------------------------------------------

def run(count: int, seed: int) -> None:
    from tests.servers.dovecot import Dovecot

    rng = random.Random(seed)
    sizes: list[int] = []

    def messages() -> Iterator[bytes]:
        # Generated while APPENDed, never all held: this process stays small, and the
        # children forked from it start from a small RSS (ru_maxrss survives exec).
        for i in range(count):
            raw = make_message(i, rng)
            sizes.append(len(raw))
            yield raw

    with Dovecot() as server:
        user = server.add_user("bench", "bench-password")
        began = time.perf_counter()
        server.append_many(user.name, "INBOX", messages())
        appended = time.perf_counter() - began
        total = sum(sizes)
        version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True
                                 ).stdout.split()[0]
        print(f"inquiryd ingest benchmark: {count:,} messages, {total / count / 1024:.1f} KiB "
              f"average ({min(sizes) / 1024:.1f}-{max(sizes) / 1024:.1f} KiB), "
              f"{total / 2**20:.1f} MiB in all; seed {seed}")
        print(f"Dovecot {version}, Python {platform.python_version()}, "
              f"{os.cpu_count()} CPUs; built and APPENDed in {appended:.1f} s "
              f"({count / appended:,.0f} msg/s)\n")
        fetch = in_child("fetch", server.host, server.port, user.name, user.password)
        ingest = in_child("ingest", server.host, server.port, user.name, user.password)
    report(fetch, ingest, count)


def report(fetch: dict[str, Any], ingest: dict[str, Any], count: int) -> None:
    rate_fetch = fetch["messages"] / fetch["seconds"]
    rate_ingest = ingest["messages"] / ingest["seconds"]
    store = ingest["seconds"] - ingest["process_seconds"]
    rows = [
        ("(a) bare imapclient fetch", fetch["messages"], fetch["seconds"], rate_fetch, fetch),
        ("(b) inquiryd ingest (poll)", ingest["messages"], ingest["seconds"], rate_ingest, ingest),
    ]
    print(f"{'':32} {'messages':>9} {'seconds':>8} {'msg/s':>8} {'peak RSS':>9} "
          f"{'at start':>9} {'VmHWM':>8}")
    for label, n, seconds, rate, m in rows:
        hwm = f"{m['vm_hwm_mib']:>6.0f} M" if m.get("vm_hwm_mib") else f"{'-':>8}"
        print(f"{label:32} {n:>9,} {seconds:>8.2f} {rate:>8,.0f} "
              f"{m['rss_peak_mib']:>7.0f} M {m['rss_before_mib']:>7.0f} M {hwm}")
    print(f"{'    of which fetch + store':32} {'':>9} {store:>8.2f} {count / store:>8,.0f}")
    print(f"{'    of which processing':32} {'':>9} {ingest['process_seconds']:>8.2f} "
          f"{count / ingest['process_seconds']:>8,.0f}")
    print(f"\nratio (b)/(a): {rate_ingest / rate_fetch:.3f}  (inquiryd ingests at "
          f"{100 * rate_ingest / rate_fetch:.1f}% of the bare fetch rate; the fetch is "
          f"{rate_fetch / rate_ingest:.1f}x faster)")
    print(f"inquiryd: batch_size {ingest['batch_size']}, {ingest['processed']:,} processed, "
          f"{ingest['quarantined']:,} quarantined, {ingest['failed']:,} failed, "
          f"poll error: {ingest['error']}; SQLite database {ingest['db_mib']:.1f} MiB")
    print("peak RSS and at start: getrusage ru_maxrss of the measuring child, before and "
          "after its work;\nVmHWM: the same child's peak from /proc (not carried over "
          "from the parent at fork)")
    if ingest["messages"] != count or ingest["processed"] != count:
        print(f"WARNING: expected {count:,} stored and processed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        child(args.measure, args.host, args.port, args.user)
    else:
        run(args.count, args.seed)


if __name__ == "__main__":
    main()
