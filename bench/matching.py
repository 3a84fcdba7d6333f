#!/usr/bin/env python3
"""Matching: inquiryd's buyer lookup among 100,000 buyers against the bare indexed SELECTs.

    .venv/bin/python -m bench --only match           # or: bench/matching.py [BUYERS]

A fresh SQLite database is filled with N buyers (Core executemany): one address each,
most on a company domain two buyers share, one in ten on gmail.com. Then N/10 lookups,
the same on both sides: half a known address, a fifth a new address at a known company
domain, the rest new gmail addresses with a known company name, or nobody known.

- floor: SQLAlchemy Core on one connection, the same three SELECTs by address, else
  domain, else company key, each on its index, stopping at the first hit;
- inquiryd: `queries.DbLookups.candidates` then `match_buyer.decide`, on one session.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/matching.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Bench, Scenario, database, desk, in_child, progress  # noqa: E402

SCENARIO = Scenario("match", "buyer matching", "lookups", 100_000, 2_000)
BATCH = 10_000
FREE_MAIL = "gmail.com"

BY_ADDRESS = """SELECT b.id, b.company, b.status FROM buyers b
JOIN buyer_addresses a ON a.buyer_id = b.id WHERE a.address = :key"""
BY_DOMAIN = """SELECT b.id, b.company, b.status FROM buyers b
JOIN buyer_addresses a ON a.buyer_id = b.id WHERE a.domain = :key ORDER BY b.id LIMIT 5"""
BY_COMPANY = """SELECT id, company, status FROM buyers WHERE company_key = :key
ORDER BY id LIMIT 5"""


def company(i: int) -> str:
    return f"Importer {i} Trading LLC"


def address(i: int) -> tuple[str, str]:
    domain = FREE_MAIL if i % 10 == 0 else f"firm{i // 2}.example"
    return f"buyer{i}@{domain}", domain


def seed(db: Any, buyers: int) -> None:
    """N buyers and their addresses, in batches (bulk, as a desk's import would)."""
    from sqlalchemy import insert

    from daemon.match_buyer import company_key
    from daemon.models import Buyer, BuyerAddress

    for start in range(0, buyers, BATCH):
        ids = range(start + 1, min(start + BATCH, buyers) + 1)
        with db.unit_of_work() as session:
            session.execute(insert(Buyer), [
                {"id": i, "company": company(i), "company_key": company_key(company(i)),
                 "contact_name": f"Buyer {i}", "country": "AE", "region": "middle_east",
                 "status": "active"} for i in ids])
            session.execute(insert(BuyerAddress), [
                {"buyer_id": i, "address": address(i)[0], "domain": address(i)[1]}
                for i in ids])


def lookups(buyers: int, seed: int) -> list[tuple[str, str, str]]:
    """(address, domain, company key) to look up; domain empty for free mail."""
    from daemon.match_buyer import company_key

    rng = random.Random(seed)
    found = []
    for n in range(buyers // 10):
        i, roll = rng.randint(1, buyers), rng.random()
        if roll < 0.5:
            email, domain = address(i)
        elif roll < 0.7:
            domain = f"firm{i // 2}.example"
            email = f"new{n}@{domain}"
        else:
            email, domain = f"new{n}@{FREE_MAIL}", FREE_MAIL
        name = company(i) if roll < 0.85 else f"Newcomer {n} Ltd"
        found.append((email, "" if domain == FREE_MAIL else domain, company_key(name)))
    return found


def measure(bench: Bench, count: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    work = bench.folder("match")
    db = database(desk(work))
    progress(f"match: seeding {count:,} buyers")
    began = time.perf_counter()
    seed(db, count)
    seeded = time.perf_counter() - began
    db.dispose()
    params = {"work": str(work), "buyers": count, "seed": bench.seed}
    floor_ = in_child("matching", "floor", params)
    ours = in_child("matching", "inquiryd", params)
    ours["title"] = f"match, {count:,} buyers"
    text = (f"{count:,} buyers seeded in {seeded:.1f} s; matched by "
            + ", ".join(f"{how} {n:,}" for how, n in sorted(ours["how"].items())))
    if ours["how"] != floor_["how"]:
        text += f"; WARNING: the floor found otherwise: {floor_['how']}"
    return floor_, ours, text


def floor(params: dict[str, Any]) -> dict[str, Any]:
    """Core, one connection: address, else domain, else company key; first hit wins."""
    from sqlalchemy import create_engine, text

    settings = desk(Path(params["work"]))
    keys = lookups(params["buyers"], params["seed"])
    engine = create_engine(settings.database_url)
    queries = [("address", text(BY_ADDRESS)), ("domain", text(BY_DOMAIN)),
               ("company", text(BY_COMPANY))]
    how: Counter[str] = Counter()
    began = time.perf_counter()
    with engine.connect() as conn:
        for key in keys:
            how[_first_hit(conn, queries, key)] += 1
    seconds = time.perf_counter() - began
    engine.dispose()
    return {"items": len(keys), "seconds": seconds, "how": dict(how)}


def _first_hit(conn: Any, queries: list[tuple[str, Any]], key: tuple[str, ...]) -> str:
    for (name, query), value in zip(queries, key):
        if not value:
            continue
        rows = conn.execute(query, {"key": value}).all()
        if rows:
            # decide() takes any domain hit but only a company name one buyer has.
            return name if name != "company" or len(rows) == 1 else "new"
    return "new"


def inquiryd(params: dict[str, Any]) -> dict[str, Any]:
    """DbLookups.candidates and match_buyer.decide for each lookup, one session."""
    from daemon.db import Database
    from daemon.match_buyer import Lookup, decide
    from daemon.queries import DbLookups

    settings = desk(Path(params["work"]))
    keys = [Lookup(*key) for key in lookups(params["buyers"], params["seed"])]
    db = Database(settings.database_url)
    how: Counter[str] = Counter()
    began = time.perf_counter()
    with db.unit_of_work() as session:
        found = DbLookups(session)
        for lookup in keys:
            how[decide(lookup, found.candidates(lookup), may_create=True).how] += 1
    seconds = time.perf_counter() - began
    db.dispose()
    return {"items": len(keys), "seconds": seconds, "how": dict(how)}


if __name__ == "__main__":
    from bench.run import script

    script(SCENARIO.name)
