"""`inquiryd explain`: the pipeline's decisions for message files, with no side effects.

Reads .eml files (or every file in a folder), parses and understands each against the
current buyer database, read-only (the session is rolled back), and returns one plain
dict per message for printing or JSON; a buyer's mail in one of their deals' threads
also shows how its reply would be planned (stage, answers, floor prices: staff only). This is how salespeople tune the rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from daemon import rulebook
from daemon.config import Settings
from daemon.db import Database
from daemon.drafting import thread_plan
from daemon.errors import PermanentError, UsageError
from daemon.grade import History
from daemon.match_buyer import Candidates, Lookup
from daemon.models import utcnow
from daemon.parse import parse
from daemon.queries import DbLookups
from daemon.record import terms_json
from daemon.runner import parse_limits
from daemon.understand import Decision, understand

SKIP_SUFFIXES = {".md", ".toml", ".txt", ".json", ".py"}


class NoBuyers:
    """Lookups for a database that does not exist yet: every sender is new."""

    def refers_to_us(self, message_ids: Sequence[str]) -> bool:
        return False

    def candidates(self, lookup: Lookup) -> Candidates:
        return Candidates()

    def history(self, buyer_id: int | None) -> History:
        return History()


def message_files(target: Path) -> list[Path]:
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise UsageError(f"{target}: no such file or folder")
    return sorted(p for p in target.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() not in SKIP_SUFFIXES)


def explain(settings: Settings, db: Database, target: Path) -> Iterator[dict[str, Any]]:
    book = rulebook.load(settings.paths.rules)
    own = frozenset(d.lower() for d in settings.company.own_domains)
    today = utcnow().astimezone(settings.schedule.tz).date()
    ready = not _schema_behind(db)
    with db.engine.connect() as connection:
        with Session(bind=connection) as session:
            lookups = DbLookups(session) if ready else NoBuyers()
            for path in message_files(target):
                yield _one(path, settings, book, lookups, today, own,
                           session if ready else None)
            session.rollback()


def _schema_behind(db: Database) -> bool:
    try:
        return bool(db.pending_revisions())
    except Exception:  # noqa: BLE001 - no database at all: explain still works
        return True


def _one(path: Path, settings: Settings, book: Any, lookups: Any, today: Any,
         own: frozenset[str], session: Session | None = None) -> dict[str, Any]:
    try:
        mail = parse(path.read_bytes(), parse_limits(settings))
    except PermanentError as exc:
        return _empty(path, "unparsable", [str(exc)])
    except OSError as exc:
        return _empty(path, "unreadable", [exc.strerror or str(exc)])
    decision = understand(mail, book, lookups, today=today, own_domains=own)
    shown = as_dict(path, mail.subject, decision)
    plan = None
    if session is not None:
        plan = thread_plan(session, decision.match.buyer_id, mail, decision, book,
                           decision.region)
    shown["thread"] = None if plan is None else {
        "inquiry": plan.thread.inquiry_id, "stage": plan.thread.stage,
        "answers_draft": plan.thread.draft_id, "variant": plan.variant,
        "plan": plan.reviewer_lines().strip().splitlines()}
    return shown


def _empty(path: Path, kind: str, reasons: list[str]) -> dict[str, Any]:
    return {"file": str(path), "kind": kind, "grade": None, "country": None, "region": None,
            "skus": None, "reasons": reasons}


def as_dict(path: Path, subject: str, d: Decision) -> dict[str, Any]:
    graded = d.grade is not None
    return {
        "file": str(path),
        "subject": subject,
        "kind": d.kind.value,
        "grade": d.grade.grade if d.grade else None,
        "country": d.country or None,
        "region": d.region or None,
        "skus": [p.sku for p in d.extracted.products] if graded else None,
        "reasons": [r.text for r in d.classification.reasons]
        + ([r.text for r in d.grade.reasons] if d.grade else []),
        "buyer": {"match": d.match.how, "id": d.match.buyer_id,
                  "address": d.match.lookup.address or None,
                  "company": d.match.lookup.company or None,
                  "why": [r.text for r in d.match.reasons]},
        "country_reason": d.extracted.country_reason or None,
        "terms": terms_json(d.extracted) if graded else None,
        "bounced": list(d.classification.bounced) or None,
    }
