"""Drafting: inquiryd's draft step against bare jinja2 rendering and email building.

    .venv/bin/python -m bench --only draft           # or: bench/draft.py [N]

N varied synthetic decisions (grades A-D, six languages and two fallbacks, inquiries,
replies and platform leads, 0-3 products, with and without quantities, Incoterms and
sample requests) over the shipped catalogue and templates, then:

- floor: the same templates rendered by a plain jinja2 Environment with the contexts
  inquiryd built (prepared beforehand, not timed), and an email.message.EmailMessage
  with the same attachment bytes, flattened; no database, no files;
- inquiryd: `Drafter.draft` for each message in its own unit of work, as the pipeline
  calls it: template choice, quotation, sandboxed rendering, attachments, the message,
  the draft row and its event, the .eml and .txt in the review folder.
"""

from __future__ import annotations

import random
import sys
import time
import tomllib
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/draft.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, Bench, Scenario, database, desk, in_child  # noqa: E402

SCENARIO = Scenario("draft", "drafting", "drafts", 10_000, 30)
LANGS = ("en", "en", "en", "es", "fr", "ru", "ar", "zh", "pt", "de")
REGIONS = ("middle_east", "southeast_asia", "north_america", "europe", "latin_america",
           "russia_cis", "")
NOW = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)


def synthetic(n: int, catalog: Any, seed: int) -> list[tuple[Any, Any, Any]]:
    """N varied (decision, mail, buyer) triples, the same for the same seed."""
    from daemon.draft import BuyerView
    from daemon.match_buyer import BuyerMatch, Lookup
    from daemon.types import (Address, Classification, Extracted, GradeResult, Incoterm,
                              Kind, Mail, Money, PlatformLead, ProductHit, Quantity, Reason)
    from daemon.understand import Decision

    rng = random.Random(seed)
    terms = ((), (), (Incoterm("FOB", "Ningbo"),), (Incoterm("CIF", "Jebel Ali"),),
             (Incoterm("DDP", "Hamburg"),), (Incoterm("EXW", ""),))
    skus = [p.sku for p in catalog]
    cases = []
    for i in range(n):
        chosen = rng.sample(skus, rng.choice((0, 1, 1, 2, 3)))
        quantities = tuple(Quantity(rng.choice((300, 1000, 2500, 5000, 12000)), "pcs", s)
                           for s in chosen if rng.random() < 0.6)
        extracted = Extracted(
            products=tuple(ProductHit(s, s, s) for s in chosen), quantities=quantities,
            target_prices=(Money(Decimal("0.70"), "USD"),) if rng.random() < 0.3 else (),
            incoterms=rng.choice(terms), requests=frozenset(
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


# -- the measurements -------------------------------------------------------------------

def measure(bench: Bench, count: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    from sqlalchemy import insert

    from daemon.models import Message, MessageState

    work = bench.folder("draft")
    db = database(desk(work))
    with db.unit_of_work() as session:  # the messages the drafts answer, ids 1..N
        session.execute(insert(Message), [
            {"id": i + 1, "message_id": f"<m{i}@importer.example>", "dedup_key": f"m{i}",
             "size": 2000, "state": MessageState.PROCESSED, "kind": "inquiry"}
            for i in range(count)])
    db.dispose()
    params = {"work": str(work), "count": count, "seed": bench.seed}
    floor_ = in_child("draft", "floor", params)
    ours = in_child("draft", "inquiryd", params)
    text = (f"{ours['items']:,} of {count:,} decisions drafted, {ours['kib']:.1f} KiB .eml "
            f"average; floor built {floor_['items']:,}, {floor_['kib']:.1f} KiB average")
    if ours["items"] != floor_["items"]:
        text += "; WARNING: the two sides drafted different numbers"
    return floor_, ours, text


def company() -> Any:
    """The example config's full company profile: what every reply shows."""
    from daemon.config import Company

    return Company(**tomllib.loads((ROOT / "inquiryd.example.toml").read_text())["company"])


def floor(params: dict[str, Any]) -> dict[str, Any]:
    """Bare jinja2 + email.message on the inputs inquiryd's composing produced."""
    import jinja2

    from daemon.templating import _TextLineBreaks, join_words

    settings = desk(Path(params["work"]))
    jobs = floor_inputs(settings, params["count"], params["seed"])
    # The templates' own syntax needs their line-break rule and join_words filter.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(settings.paths.templates),
                             trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, extensions=[_TextLineBreaks])
    env.filters["join_words"] = join_words
    began = time.perf_counter()
    sender = settings.smtp.sender
    size = sum(len(bare_message(env, sender, *job)) for job in jobs)
    seconds = time.perf_counter() - began
    return {"items": len(jobs), "seconds": seconds, "kib": size / max(len(jobs), 1) / 1024}


def bare_message(env: Any, sender: str, name: str, context: dict[str, Any], composed: Any,
                 parts: list[tuple[str, str, bytes]]) -> bytes:
    from email.message import EmailMessage
    from email.utils import format_datetime

    subject, _, body = env.get_template(name).render(context).lstrip("\n").partition("\n")
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, composed.to.email
    msg["Subject"] = subject.removeprefix("Subject:").strip()
    msg["Date"], msg["Message-ID"] = format_datetime(NOW), composed.message_id
    msg["In-Reply-To"] = composed.in_reply_to
    msg.set_content(body)
    for filename, content_type, data in parts:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def floor_inputs(settings: Any, count: int, seed: int) -> list[tuple[Any, ...]]:
    """(template, context, composed draft, attachment parts) of each case that is drafted.

    Composed by inquiryd itself, with its render step wrapped to keep the context, so
    the floor renders exactly what inquiryd renders.
    """
    from daemon import attachments, draft, rulebook, templating
    from daemon.send import expected_sender

    sender = expected_sender(settings)
    book = rulebook.load(settings.paths.rules)
    env = templating.environment(settings.paths.templates)
    sources = attachments.Sources(settings.paths.templates, settings.paths.state, book.catalog,
                                  settings.paths.rules / "catalog.csv", company().name)
    seen: list[tuple[str, dict[str, Any]]] = []
    real_render = draft._render

    def keep(env: Any, name: str, context: dict[str, Any]) -> tuple[str, str]:
        seen.append((name, context))
        return real_render(env, name, context)

    draft._render = keep
    files: dict[Any, tuple[str, str, bytes] | None] = {}
    jobs = []
    for i, (decision, mail, buyer) in enumerate(synthetic(count, book.catalog, seed)):
        composed = draft.compose(decision, mail, settings_company=company(),
                                 sender=sender, buyer=buyer, catalog=book.catalog,
                                 env=env, today=NOW.date(), draft_id=f"d{i}",
                                 message_id_domain="brightstar.example")
        if composed is not None:
            jobs.append((*seen[-1], composed, _parts(composed.attachments, sources, files)))
    draft._render = real_render
    return jobs


def _parts(specs: Any, sources: Any, files: dict[Any, Any]) -> list[tuple[str, str, bytes]]:
    """The attachments' (filename, content type, bytes), each file read once."""
    from daemon import attachments

    for spec in specs:
        if spec not in files:
            loaded, _ = attachments.load([spec], sources)
            files[spec] = loaded[0].as_part() if loaded else None
    return [files[s] for s in specs if files[s] is not None]


def inquiryd(params: dict[str, Any]) -> dict[str, Any]:
    """Drafter.draft per message, one unit of work each, as the pipeline runs it."""
    from daemon import rulebook, templating
    from daemon.db import Database
    from daemon.drafting import Drafter
    from daemon.models import Message
    from daemon.review import review_backend

    settings = desk(Path(params["work"]))
    settings = settings.model_copy(update={"company": company()})
    book = rulebook.load(settings.paths.rules)
    drafter = Drafter(settings, book, templating.environment(settings.paths.templates),
                      review_backend(settings))
    cases = synthetic(params["count"], book.catalog, params["seed"])
    db = Database(settings.database_url)
    drafted = 0
    began = time.perf_counter()
    for i, (decision, mail, buyer) in enumerate(cases):
        with db.unit_of_work() as session:
            message = session.get_one(Message, i + 1)
            drafted += drafter.draft(session, message, mail, decision, None, buyer, NOW) is not None
    seconds = time.perf_counter() - began
    db.dispose()
    files = list((settings.review_path / "pending").glob("*.eml"))
    size = sum(f.stat().st_size for f in files)
    return {"items": drafted, "seconds": seconds, "kib": size / max(len(files), 1) / 1024}


if __name__ == "__main__":
    from bench.run import script

    script(SCENARIO.name)
