"""Benchmark of the draft stage: synthetic decisions over the sample catalogue.

    .venv/bin/python bench/draft.py [N]      # default N = 10,000

Builds N varied Decisions (grades A-D, six languages and two fallbacks, inquiries,
replies and platform leads, 0-3 products, with and without quantities, Incoterms and
sample requests) and measures, in one process:

- compose: template choice, quotation, template rendering, attachment choice and the
  reviewer's context, drafts/s;
- build_message: the EmailMessage of each draft with its attachment files
  (profile, price sheet, e-samples) read once and reused, messages/s;
- the attachment files themselves: the first load (price sheets generated into a
  throwaway state folder) and a cached one.

Prints figures and per-draft latency percentiles; asserts nothing (the tests never
time anything).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import tomllib
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon import attachments  # noqa: E402
from daemon.catalog import Catalog  # noqa: E402
from daemon.config import Company  # noqa: E402
from daemon.draft import BuyerView, ComposedDraft, build_message, compose  # noqa: E402
from daemon.match_buyer import BuyerMatch, Lookup  # noqa: E402
from daemon.templating import environment  # noqa: E402
from daemon.types import (Address, Classification, Extracted, GradeResult, Incoterm,  # noqa: E402
                          Kind, Mail, Money, PlatformLead, ProductHit, Quantity, Reason)
from daemon.understand import Decision  # noqa: E402

SENDER = "Lily Chen <lily@brightstar-crafts.example>"
LANGS = ("en", "en", "en", "es", "fr", "ru", "ar", "zh", "pt", "de")
REGIONS = ("middle_east", "southeast_asia", "north_america", "europe", "latin_america",
           "russia_cis", "")
TERMS = ((), (), (Incoterm("FOB", "Ningbo"),), (Incoterm("CIF", "Jebel Ali"),),
         (Incoterm("DDP", "Hamburg"),), (Incoterm("EXW", ""),))


def synthetic(n: int, catalog: Catalog,
              rng: random.Random) -> list[tuple[Decision, Mail, BuyerView]]:
    """N varied (decision, mail, buyer) triples."""
    skus = [p.sku for p in catalog]
    cases = []
    for i in range(n):
        chosen = rng.sample(skus, rng.choice((0, 1, 1, 2, 3)))
        quantities = tuple(Quantity(rng.choice((300, 1000, 2500, 5000, 12000)), "pcs", s)
                           for s in chosen if rng.random() < 0.6)
        extracted = Extracted(
            products=tuple(ProductHit(s, s, s) for s in chosen), quantities=quantities,
            target_prices=(Money(Decimal("0.70"), "USD"),) if rng.random() < 0.3 else (),
            incoterms=rng.choice(TERMS), requests=frozenset(
                r for r in ("sample", "pi", "catalogue") if rng.random() < 0.2),
            language=rng.choice(LANGS), country="AE")
        kind = rng.choices((Kind.INQUIRY, Kind.REPLY, Kind.PLATFORM), (80, 10, 10))[0]
        lead = (PlatformLead("Alibaba.com", f"Buyer {i}", "Trading LLC", "UAE", "Necklace",
                             "2,000 Pieces", "hi", f"https://message.example/{i}")
                if kind is Kind.PLATFORM else None)
        region = rng.choice(REGIONS)
        decision = Decision(
            Classification(kind, (Reason("r", "why"),), platform=lead), extracted,
            BuyerMatch(i, "address", Lookup(), ()),
            GradeResult(rng.choice("ABCD"), (Reason("g", "because"),)), "AE", region)
        mail = Mail(from_=Address(f"Buyer {i}", f"buyer{i}@importer{i % 97}.example"),
                    subject=f"Inquiry {i}", message_id=f"<m{i}@importer.example>")
        buyer = BuyerView(f"Buyer {i}", "", "AE", region, rng.choice((0, 0, 1, 4)), None)
        cases.append((decision, mail, buyer))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    catalog = Catalog.from_csv_text((ROOT / "rules" / "catalog.csv").read_text("utf-8"), "c")
    company = Company(**tomllib.loads((ROOT / "inquiryd.example.toml").read_text())["company"])
    env = environment(ROOT / "templates")
    cases = synthetic(args.n, catalog, random.Random(args.seed))
    today = date(2026, 11, 20)

    drafts: list[ComposedDraft] = []
    latencies: list[float] = []
    start = time.perf_counter()
    for i, (decision, mail, buyer) in enumerate(cases):
        t0 = time.perf_counter()
        draft = compose(decision, mail, settings_company=company, sender=SENDER, buyer=buyer,
                        catalog=catalog, env=env, today=today, draft_id=f"d{i}",
                        message_id_domain="brightstar-crafts.example")
        latencies.append(time.perf_counter() - t0)
        if draft is not None:
            drafts.append(draft)
    composed = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as state:
        sources = attachments.Sources(ROOT / "templates", Path(state), catalog,
                                      ROOT / "rules" / "catalog.csv", company.name)
        specs = {s for d in drafts for s in d.attachments}
        t0 = time.perf_counter()
        files = {s: attachments.load([s], sources)[0] for s in specs}
        first_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in specs:
            attachments.load([s], sources)
        cached_load = time.perf_counter() - t0

        when = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
        start = time.perf_counter()
        size = 0
        for draft in drafts:
            parts = [f[0].as_part() for s in draft.attachments if (f := files[s])]
            message = build_message(draft, parts, sender=SENDER, draft_id="d1",
                                    message_id=draft.message_id, date=when)
            size += len(message.as_bytes())
        built = time.perf_counter() - start

    ms = sorted(t * 1000 for t in latencies)
    by_template: dict[str, int] = {}
    for d in drafts:
        by_template[d.variant] = by_template.get(d.variant, 0) + 1
    print(f"decisions:             {len(cases):,} ({len(drafts):,} drafted; "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(by_template.items())) + ")")
    print(f"compose + render:      {len(cases) / composed:,.0f} drafts/s "
          f"({composed:.2f} s; p50 {statistics.median(ms):.2f} ms, "
          f"p99 {ms[int(len(ms) * 0.99) - 1]:.2f} ms, max {ms[-1]:.2f} ms)")
    print(f"build_message+bytes:   {len(drafts) / built:,.0f} messages/s ({built:.2f} s, "
          f"{size / max(len(drafts), 1) / 1024:.1f} KiB average with attachments)")
    print(f"attachments, first:    {len(specs)} files in {first_load * 1000:.0f} ms "
          f"(price sheets generated)")
    print(f"attachments, cached:   {len(specs)} files in {cached_load * 1000:.0f} ms")


if __name__ == "__main__":
    main()
