"""RFQ digests become leads (I/O, database), inside the message's unit of work.

A platform notification classified without a lead (a `platform` rule with `lead =
false` in rules/classify.toml: a digest of many buyers' RFQs) is read by
daemon/rfq_digest.py; each RFQ becomes one RfqLead, unless the platform already listed
it (the same (platform, rfq_key): an RFQ repeated in the next day's digest stays one
lead, with its first state). Each lead carries the catalogue products its title names,
found by the extract stage's own product matching, so a salesperson sees at a glance
which RFQs are ours to quote on the platform.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.catalog import Catalog
from daemon.extract import products
from daemon.extract.text import Folded
from daemon.models import Event, Message, RfqLead
from daemon.rfq_digest import Rfq, parse_digest, rfq_key
from daemon.rules import Rulebook
from daemon.types import Kind, Mail
from daemon.understand import Decision

log = logging.getLogger(__name__)



def digest_platform(decision: Decision, book: Rulebook) -> str | None:
    """The platform of an RFQ digest (the rule's `platform`), or None for anything else."""
    classification = decision.classification
    if classification.kind is not Kind.PLATFORM or classification.platform is not None:
        return None
    names = {r.rule for r in classification.reasons}
    for rule in book.classify.rules:
        if rule.name in names:
            return str(getattr(rule.check, "platform", "")) or None
    return None


def record_rfqs(session: Session, message: Message, mail: Mail, decision: Decision,
                book: Rulebook) -> list[RfqLead]:
    """One new lead per RFQ of a digest not yet known; [] for any other message."""
    platform = digest_platform(decision, book)
    if platform is None:
        return []
    rfqs = {rfq_key(r)[:200]: r for r in parse_digest(mail.text)}
    known = set(session.scalars(select(RfqLead.rfq_key).where(
        RfqLead.platform == platform, RfqLead.rfq_key.in_(list(rfqs)))))
    added = [_lead(platform, key, rfq, message, book) for key, rfq in rfqs.items()
             if key not in known]
    session.add_all(added)
    session.flush()
    session.add(Event(name="rfq_digest", message_id=message.id,
                      data={"platform": platform, "listed": len(rfqs), "new": len(added)}))
    log.info("event=rfq_digest message=%d platform=%s listed=%d new=%d", message.id,
             platform.replace(" ", "_"), len(rfqs), len(added))
    return added


def _lead(platform: str, key: str, rfq: Rfq, message: Message, book: Rulebook) -> RfqLead:
    country = book.geo.country_from(rfq.country, "", "")[0] if rfq.country else ""
    posted = datetime.combine(rfq.posted, time(), timezone.utc) if rfq.posted else None
    return RfqLead(platform=platform[:40], rfq_key=key, title=rfq.title,
                   buyer_name=rfq.buyer_name[:200], company=rfq.company[:300],
                   country=country[:2], quantity=rfq.quantity[:100],
                   skus=matching_skus(rfq.title, book.catalog), url=rfq.url,
                   posted_at=posted, message_id=message.id)


def matching_skus(title: str, catalog: Catalog) -> list[str]:
    """The catalogue SKUs an RFQ's title names (keywords in any language, or codes)."""
    index = products.index_for(catalog)
    return [hit.sku for hit in products.product_hits(
        products.mentions(Folded.of(title), index), index)]


# ------------------------------------------------------------------ the command line


def list_leads(session: Session, state: str | None = None,
               limit: int | None = None) -> list[dict[str, object]]:
    """Leads, newest first, as plain dicts for `inquiryd rfqs list [--json]`."""
    query = select(RfqLead).order_by(RfqLead.created_at.desc(), RfqLead.id.desc())
    if state is not None:
        query = query.where(RfqLead.state == state)
    return [{"id": r.id, "state": r.state, "platform": r.platform, "rfq": r.rfq_key,
             "title": r.title, "quantity": r.quantity, "country": r.country,
             "buyer": r.buyer_name, "company": r.company, "skus": list(r.skus or []),
             "url": r.url, "posted": r.posted_at.date().isoformat() if r.posted_at else None,
             "received": r.created_at.isoformat(timespec="seconds")}
            for r in session.scalars(query.limit(limit))]


def set_state(session: Session, lead_id: int, state: str) -> RfqLead | None:
    """A salesperson answered (or passed on) a lead on the platform; None when unknown."""
    lead = session.get(RfqLead, lead_id)
    if lead is not None and lead.state != state:
        session.add(Event(name="rfq_lead_" + state, message_id=lead.message_id,
                          data={"lead": lead.id, "was": lead.state}))
        lead.state = state
    return lead
