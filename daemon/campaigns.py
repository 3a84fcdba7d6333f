"""Newsletters, the I/O part: campaign files, their deliveries, and sending them once.

A campaign is `templates/newsletter/NAME.toml` (subject, template, segment, optional
send_at, a `[context]` table for the template) beside its template. Sending it:

1. `prepare`: the first send creates the Campaign row and one Delivery row per buyer
   in the segment (one transaction), so the recipient list is fixed from then on;
2. every `pending` delivery is re-checked (address still active, buyer not won, lost
   or do-not-contact, the weekly cap shared with follow-ups), then claimed
   (`sending`, committed) before its SMTP conversation, and marked `sent`, `failed`,
   `unknown` or back to `pending` (4xx, next run) after it;
3. a delivery found `sending` when a send starts was left by a dead process: it
   becomes `unknown`, never sent again by itself (as drafts do in outbox.py).

Deliveries: pending -> sending -> sent | failed | unknown | pending (retry next run);
pending -> skipped (unsubscribed, bounced, buyer closed, frequency cap).
The caller holds the state lock (the CLI takes it; the service holds it already).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import meta
from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.orm import Session

from daemon import newsletter as nl
from daemon.config import Settings
from daemon.db import Database
from daemon.draft import loop_marker
from daemon.errors import ConfigError, UsageError
from daemon.leases import ME, live_instances
from daemon.logs import kv
from daemon.models import (
    Buyer,
    BuyerAddress,
    Campaign,
    Delivery,
    Event,
    Inquiry,
    Message,
    MessageState,
    utcnow,
)
from daemon.newsletter import BuyerFacts, NewsletterMessage, Recipient, Segment
from daemon.queries import recent_automatic
from daemon.record import ADDRESS_EVENTS
from daemon.rulebook import toml_problem
from daemon.send import SmtpConnection, SmtpUnavailable, attempt, expected_sender
from daemon.sweep import Pacer
from daemon.templating import environment, render

log = logging.getLogger(__name__)

FOLDER = "newsletter"
SECRET_FILE = "unsubscribe.key"
FILE_KEYS = {"subject", "template", "segment", "send_at", "description", "context", "language"}
BATCH = 500


# -- campaign files -------------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignFile:
    name: str
    path: Path
    subject: str
    template: str                  # loader name under templates/: newsletter/NAME.txt.j2
    segment: Segment
    send_at: datetime | None = None
    description: str = ""
    language: str = "en"
    context: dict[str, Any] = field(default_factory=dict)


def campaign_names(settings: Settings) -> list[str]:
    folder = settings.paths.templates / FOLDER
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def load_campaign(settings: Settings, name: str) -> CampaignFile:
    """Read templates/newsletter/NAME.toml; ConfigError naming the file and key."""
    path = settings.paths.templates / FOLDER / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(campaign_names(settings)) or "none"
        raise UsageError(f"no campaign {name!r}: {path} does not exist (campaigns: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_problem(path, exc)) from None
    unknown = sorted(set(data) - FILE_KEYS)
    missing = sorted({"subject", "template"} - set(data))
    if unknown or missing:
        raise ConfigError([f"{path}: {k}: unknown key" for k in unknown]
                          + [f"{path}: {k}: required" for k in missing])
    template = f"{FOLDER}/{data['template']}"
    if not (settings.paths.templates / template).is_file():
        raise ConfigError(f"{path}: template: {settings.paths.templates / template} not found")
    send_at = data.get("send_at")
    return CampaignFile(
        name=name, path=path, subject=str(data["subject"]), template=template,
        segment=Segment.from_toml(data.get("segment", {}), str(path)),
        send_at=nl._moment(send_at, f"{path}: send_at") if send_at is not None else None,
        description=str(data.get("description", "")), language=str(data.get("language", "en")),
        context=dict(data.get("context", {})))


# -- the unsubscribe secret ---------------------------------------------------------------------

def unsubscribe_secret(state: Path) -> bytes:
    """The key of the unsubscribe tokens: <state>/unsubscribe.key, made 0600 on first use."""
    path = state / SECRET_FILE
    state.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(os.urandom(32).hex() + "\n")
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ConfigError(f"{path}: too short to be an unsubscribe key (delete it to make a new "
                          "one; tokens in newsletters already sent then stop working)")
    return secret.encode()


def address_rules(settings: Settings) -> nl.AddressRules:
    """What ingest (record.py) needs to honour tokens and count soft bounces."""
    sending = settings.sending
    return nl.AddressRules(unsubscribe_secret(settings.paths.state), sending.soft_bounce_limit,
                           timedelta(days=sending.soft_bounce_window_days))


# -- recipients ------------------------------------------------------------------------------------

def buyer_facts(session: Session, buyer_ids: list[int] | None = None) -> list[BuyerFacts]:
    """Every buyer (or these) with their first active address (else their first one)."""
    query = (select(Buyer, BuyerAddress).join(BuyerAddress, BuyerAddress.buyer_id == Buyer.id)
             .order_by(Buyer.id, BuyerAddress.status != "active", BuyerAddress.id))
    skus_query = select(Inquiry.buyer_id, Inquiry.products)
    if buyer_ids is not None:
        query = query.where(Buyer.id.in_(buyer_ids))
        skus_query = skus_query.where(Inquiry.buyer_id.in_(buyer_ids))
    skus: dict[int, set[str]] = {}
    for buyer_id, products in session.execute(skus_query):
        skus.setdefault(buyer_id, set()).update(
            str(p.get("sku", "")).upper() for p in products or () if isinstance(p, dict))
    facts: dict[int, BuyerFacts] = {}
    for buyer, address in session.execute(query).all():
        if buyer.id not in facts:
            facts[buyer.id] = BuyerFacts(
                buyer.id, address.address, address.status, buyer.status, buyer.grade,
                buyer.region, buyer.country, buyer.source, buyer.buyer_type,
                frozenset(skus.get(buyer.id, ())), buyer.last_contact_at)
    return list(facts.values())


@dataclass
class Audience:
    included: list[BuyerFacts]
    excluded: Counter[str]


def audience(session: Session, segment: Segment) -> Audience:
    included, excluded = [], Counter[str]()
    for facts in buyer_facts(session):
        if nl.never_mailed(facts):
            bad = facts.address_status != "active"
            excluded[f"address {facts.address_status}" if bad else f"buyer {facts.status}"] += 1
        elif nl.outside(segment, facts):
            excluded["outside the segment"] += 1
        else:
            included.append(facts)
    return Audience(included, excluded)


def prepare(session: Session, cf: CampaignFile) -> Campaign:
    """The campaign's row, with one pending delivery per buyer in the segment (first call)."""
    row = session.scalars(select(Campaign).where(Campaign.name == cf.name)).first()
    if row is not None and row.state != "draft":
        return row
    if row is None:
        row = Campaign(name=cf.name, template=cf.template, subject=cf.subject,
                       segment=cf.segment.as_dict(), scheduled_at=cf.send_at)
        session.add(row)
        session.flush()
    people = audience(session, cf.segment).included
    if people:
        session.execute(insert(Delivery), [
            {"campaign_id": row.id, "buyer_id": f.buyer_id, "address": f.address,
             "state": "pending"} for f in people])
    row.state = "ready"
    session.add(Event(name="campaign_prepared", data={"campaign": cf.name,
                                                      "recipients": len(people)}))
    return row


# -- rendering -----------------------------------------------------------------------------------

class Renderer:
    """The campaign's template and message, built once; per buyer only when it names them."""

    def __init__(self, settings: Settings, cf: CampaignFile, now: datetime):
        self.env = environment(settings.paths.templates)
        self.cf = cf
        self.sender = expected_sender(settings)
        self.context = {**cf.context, "company": _company(settings), "campaign": cf.name,
                        "today": now.astimezone(settings.schedule.tz).date()}
        source = self.env.loader.get_source(self.env, cf.template)[0]  # type: ignore[union-attr]
        self.per_buyer = "buyer" in meta.find_undeclared_variables(self.env.parse(source))
        subject = self.env.from_string(cf.subject).render(self.context)
        shared = None if self.per_buyer else self.body(None)
        self.message = NewsletterMessage(
            sender=settings.smtp.sender, subject=subject, date=now, campaign=cf.name,
            loop_marker=loop_marker(self.sender), language=cf.language,
            unsubscribe_url=settings.sending.unsubscribe_url, body=shared)
        self.subject = subject
        self.domain = self.sender.rpartition("@")[2]

    def body(self, buyer: dict[str, Any] | None) -> str:
        context = self.context if buyer is None else {**self.context, "buyer": buyer}
        return render(self.env, self.cf.template, context).text

    def bytes_for(self, recipient: Recipient, buyer: dict[str, Any]) -> bytes:
        body = self.body(buyer) if self.per_buyer else None
        return self.message.for_recipient(recipient, body)


def _company(settings: Settings) -> dict[str, Any]:
    c = settings.company
    return {"name": c.name, "website": c.website, "telephone": c.telephone,
            "contact_person": c.contact_person, "address": c.address,
            "strengths": list(c.strengths), "email": expected_sender(settings)}


def message_id(campaign: Campaign, delivery_id: int, domain: str) -> str:
    stamp = campaign.created_at.strftime("%Y%m%d%H%M%S")
    return f"<nl.{stamp}.{campaign.id}.{delivery_id}@{domain}>"


# -- sending -------------------------------------------------------------------------------------

@dataclass
class SendReport:
    campaign: str
    recipients: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    unknown: int = 0
    retry_later: int = 0
    recovered_unknown: int = 0
    remaining: int = 0
    error: str | None = None


@dataclass(frozen=True)
class _Item:
    delivery_id: int
    buyer_id: int
    address: str
    address_id: int | None
    name: str
    buyer: dict[str, Any]
    skip: str


def recover(session: Session, live: frozenset[str] = frozenset({ME})) -> int:
    """Deliveries a process that is no longer live left `sending` -> unknown; how many.
    A delivery another live instance is sending (`live`) is left to it."""
    result = session.execute(
        update(Delivery).where(Delivery.state == "sending",
                               or_(Delivery.sending_by.is_(None),
                                   Delivery.sending_by.not_in(sorted(live))))
        .values(state="unknown", error="the process stopped while sending it: it may or may "
                                       "not have been delivered; it is not sent again")
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def send_campaign(settings: Settings, db: Database, name: str,
                  stop: threading.Event | None = None, *, throttle: bool = True,
                  connections: int = 1, now: datetime | None = None) -> SendReport:
    """Prepare (first time) and send every pending delivery of campaign NAME."""
    stop = stop or threading.Event()
    now = now or utcnow()
    cf = load_campaign(settings, name)
    renderer = Renderer(settings, cf, now)
    secret = unsubscribe_secret(settings.paths.state)
    report = SendReport(name)
    with db.unit_of_work() as session:
        report.recovered_unknown = recover(session, live_instances(db) | {ME})
        campaign = prepare(session, cf)
    pacer = _SharedPacer(settings.sending.per_minute) if throttle else None
    work: queue.Queue[_Item | None] = queue.Queue(maxsize=4 * BATCH)
    lock = threading.Lock()
    workers = [threading.Thread(target=_worker, daemon=True, name=f"campaign-{i}",
                                args=(settings, db, campaign, renderer, secret, work, pacer,
                                      stop, report, lock))
               for i in range(max(1, connections))]
    for w in workers:
        w.start()
    try:
        _feed(settings, db, campaign.id, work, stop, report, lock, now)
    finally:
        for _ in workers:
            work.put(None)
        for w in workers:
            w.join()
    _finish(db, campaign.id, report)
    log.info("event=campaign_send %s", " ".join(f"{k}={kv(v)}" for k, v in vars(report).items()))
    return report


def _feed(settings: Settings, db: Database, campaign_id: int, work: queue.Queue[_Item | None],
          stop: threading.Event, report: SendReport, lock: threading.Lock, now: datetime) -> None:
    """Queue the pending deliveries in batches, with the skip decision of each."""
    after = 0
    cap = settings.sending.max_automatic_per_week
    while not stop.is_set() and report.error is None:
        with db.unit_of_work() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.buyer_id, Delivery.address)
                .where(Delivery.campaign_id == campaign_id, Delivery.state == "pending",
                       Delivery.id > after).order_by(Delivery.id).limit(BATCH)).all()
            if not rows:
                return
            after = rows[-1][0]
            items = _judge(session, rows, cap, now)
        for item in items:
            while not (stop.is_set() or report.error):
                try:
                    work.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue


def _judge(session: Session, rows: list[Any], cap: int, now: datetime) -> list[_Item]:
    buyer_ids = [r[1] for r in rows]
    buyers = {b.id: b for b in session.scalars(select(Buyer).where(Buyer.id.in_(buyer_ids)))}
    addresses = {a.address: a for a in session.scalars(
        select(BuyerAddress).where(BuyerAddress.address.in_([r[2] for r in rows])))}
    counts = recent_automatic(session, buyer_ids, now)
    items = []
    for delivery_id, buyer_id, address in rows:
        buyer, row = buyers.get(buyer_id), addresses.get(address)
        facts = BuyerFacts(buyer_id, address, row.status if row else "removed",
                           buyer.status if buyer else "removed")
        skip = nl.never_mailed(facts)
        if not skip and nl.over_cap(counts[buyer_id], cap):
            skip = nl.cap_reason(counts[buyer_id], cap)
        view = {"contact_name": buyer.contact_name if buyer else "",
                "company": buyer.company if buyer else "",
                "country": buyer.country if buyer else ""}
        items.append(_Item(delivery_id, buyer_id, address, row.id if row else None,
                           view["contact_name"], view, skip))
    return items


class _SharedPacer:
    """sweep.Pacer shared by the sending threads."""

    def __init__(self, per_minute: float):
        self._pacer = Pacer(per_minute)
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        with self._lock:
            return self._pacer.wait(stop)


def _worker(settings: Settings, db: Database, campaign: Campaign, renderer: Renderer,
            secret: bytes, work: queue.Queue[_Item | None], pacer: _SharedPacer | None,
            stop: threading.Event, report: SendReport, lock: threading.Lock) -> None:
    with SmtpConnection(settings) as smtp:
        while (item := work.get()) is not None:
            if stop.is_set() or report.error:
                continue  # drain: the feeder stops on its own
            try:
                outcome = _one(db, smtp, campaign, renderer, secret, item, pacer, stop)
            except SmtpUnavailable as exc:
                with lock:
                    report.error = str(exc)
                log.error("event=smtp_unavailable error=%s", kv(str(exc)))
                continue
            if outcome:
                with lock:
                    setattr(report, outcome, getattr(report, outcome) + 1)


def _one(db: Database, smtp: SmtpConnection, campaign: Campaign, renderer: Renderer,
         secret: bytes, item: _Item, pacer: _SharedPacer | None,
         stop: threading.Event) -> str:
    """One delivery: skipped, or claimed, sent and recorded; the report field to count."""
    if item.skip or item.address_id is None:
        with db.engine.begin() as conn:
            _set(conn, item.delivery_id, "pending", "skipped", error=item.skip or "no address")
        return "skipped"
    if pacer is not None and not pacer.wait(stop):
        return ""
    smtp.connect()  # before the claim: with no server, nothing is charged
    mid = message_id(campaign, item.delivery_id, renderer.domain)
    recipient = Recipient(item.address, item.name, mid, nl.make_token(secret, item.address_id))
    data = renderer.bytes_for(recipient, item.buyer)
    with db.engine.begin() as conn:  # committed before SMTP: a kill now leaves it `sending`
        if not _set(conn, item.delivery_id, "pending", "sending", outgoing_message_id=mid,
                    sending_by=ME):
            return ""  # no longer pending
    outcome, words = _deliver(db, smtp, renderer.sender, item, data)
    with db.engine.begin() as conn:
        _record(conn, item, outcome, words, mid, renderer, len(data))
    return {"sent": "sent", "retry": "retry_later", "failed": "failed"}.get(outcome, "unknown")


def _deliver(db: Database, smtp: SmtpConnection, sender: str, item: _Item,
             data: bytes) -> tuple[str, str]:
    def release() -> None:
        with db.engine.begin() as conn:  # the conversation never began
            _set(conn, item.delivery_id, "sending", "pending")

    return attempt(lambda: smtp.send(sender, [item.address], data), release=release,
                   what=f"delivery {item.delivery_id}")


# The per-recipient statements run on a Core connection (engine.begin(): one transaction,
# committed or rolled back like a unit of work): the ORM session's bookkeeping was half
# of the time per message, for two rows that nothing reads back.
DELIVERIES, MESSAGES, EVENTS = Delivery.__table__, Message.__table__, Event.__table__


def _set(conn: Connection, delivery_id: int, old: str, new: str, **values: Any) -> bool:
    """Compare-and-set of one delivery's state; True when it moved."""
    result = conn.execute(update(DELIVERIES).where(
        DELIVERIES.c.id == delivery_id, DELIVERIES.c.state == old).values(state=new, **values))
    return result.rowcount == 1


def _record(conn: Connection, item: _Item, outcome: str, words: str, mid: str,
            renderer: Renderer, size: int) -> None:
    now = utcnow()
    if outcome == "sent":
        _set(conn, item.delivery_id, "sending", "sent", sent_at=now, error=None)
        conn.execute(insert(MESSAGES).values(
            direction="out", message_id=mid, size=size, kind="newsletter",
            dedup_key=hashlib.sha256(b"message-id:" + mid.encode()).hexdigest(),
            state=MessageState.PROCESSED, processed_at=now, sent_at=now, fetched_at=now,
            from_addr=renderer.sender, subject=renderer.subject, buyer_id=item.buyer_id))
        return
    new = {"retry": "pending", "failed": "failed"}.get(outcome, "unknown")
    _set(conn, item.delivery_id, "sending", new, error=words)
    if new != "pending":
        conn.execute(insert(EVENTS).values(
            name=f"newsletter_{new}", buyer_id=item.buyer_id, at=now,
            data={"campaign": renderer.cf.name, "address": item.address, "error": words}))


def _finish(db: Database, campaign_id: int, report: SendReport) -> None:
    with db.unit_of_work() as session:
        states = delivery_states(session, campaign_id)
        report.recipients = sum(states.values())
        report.remaining = states.get("pending", 0)
        campaign = session.get_one(Campaign, campaign_id)
        if not report.remaining and not report.error:
            campaign.state = "done"


def delivery_states(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(select(Delivery.state, func.count()).where(
        Delivery.campaign_id == campaign_id).group_by(Delivery.state))
    return {s: n for s, n in rows}


# -- list, preview, dry run, schedule ----------------------------------------------------------

def list_campaigns(settings: Settings, db: Database) -> list[dict[str, Any]]:
    """Each campaign file with its state in the database (if it was ever sent)."""
    out = []
    with db.unit_of_work() as session:
        rows = {c.name: c for c in session.scalars(select(Campaign))}
        for name in campaign_names(settings):
            row = rows.get(name)
            try:
                cf = load_campaign(settings, name)
                subject, send_at, problem = cf.subject, cf.send_at, ""
            except ConfigError as exc:
                subject, send_at, problem = "", None, "; ".join(exc.problems)
            out.append({"name": name, "subject": subject,
                        "send_at": send_at.isoformat() if send_at else None,
                        "state": row.state if row else "not sent",
                        "deliveries": delivery_states(session, row.id) if row else {},
                        "problem": problem})
    return out


def preview(settings: Settings, db: Database, name: str,
            now: datetime | None = None) -> dict[str, Any]:
    """Recipient count, exclusions by reason, and one rendered sample (no writes, no SMTP)."""
    now = now or utcnow()
    cf = load_campaign(settings, name)
    renderer = Renderer(settings, cf, now)
    with db.unit_of_work() as session:
        row = session.scalars(select(Campaign).where(Campaign.name == name)).first()
        people = audience(session, cf.segment)
        capped = recent_automatic(session, [f.buyer_id for f in people.included], now)
        states = delivery_states(session, row.id) if row else {}
        first = people.included[0] if people.included else None
        buyer = session.get(Buyer, first.buyer_id) if first else None
        address_id = session.scalar(select(BuyerAddress.id).where(
            BuyerAddress.address == first.address)) if first else None
    over = sum(1 for f in people.included
               if nl.over_cap(capped[f.buyer_id], settings.sending.max_automatic_per_week))
    sample = ""
    if first is not None and buyer is not None:
        view = {"contact_name": buyer.contact_name, "company": buyer.company,
                "country": buyer.country}
        token = nl.make_token(b"preview-only", address_id or 0)
        recipient = Recipient(first.address, buyer.contact_name,
                              message_id(_PreviewCampaign(now), 0, renderer.domain), token)
        sample = renderer.bytes_for(recipient, view).decode("utf-8", "replace")
    return {"name": name, "subject": renderer.subject, "recipients": len(people.included),
            "over_cap_now": over, "excluded": dict(people.excluded),
            "state": row.state if row else "not sent", "deliveries": states,
            "send_at": cf.send_at.isoformat() if cf.send_at else None, "sample": sample}


@dataclass
class _PreviewCampaign:
    created_at: datetime
    id: int = 0


def due(settings: Settings, db: Database, now: datetime | None = None) -> list[str]:
    """Campaign files whose send_at has come and that are not done."""
    now = now or utcnow()
    with db.unit_of_work() as session:
        done = set(session.scalars(select(Campaign.name).where(Campaign.state == "done")))
    names = []
    for name in campaign_names(settings):
        try:
            cf = load_campaign(settings, name)
        except ConfigError as exc:
            log.error("event=campaign_file_broken name=%s problem=%s",
                      name, kv(exc.problems[0]))
            continue
        if cf.send_at is not None and cf.send_at <= now and name not in done:
            names.append(name)
    return names


def campaign_job(settings: Settings, db: Database, stop: threading.Event) -> None:
    """The service's scheduled sends: every due campaign; never raises."""
    try:
        for name in due(settings, db):
            if stop.is_set():
                break
            send_campaign(settings, db, name, stop)
    except Exception:  # noqa: BLE001 - one bad campaign must not end the service
        log.exception("event=campaign_job_crashed")


# -- a person's view and decision on one address ------------------------------------------------



def address_status(db: Database, address: str, status: str | None = None, *,
                   by: str = "") -> dict[str, Any]:
    """An address's status and its history; with `status`, a person sets it."""
    address = address.strip().lower()
    with db.unit_of_work() as session:
        row = session.scalars(select(BuyerAddress).where(BuyerAddress.address == address)).first()
        if row is None:
            raise UsageError(f"no buyer has the address {address}")
        if status is not None and status != row.status:
            session.add(Event(name=f"address_{status}", buyer_id=row.buyer_id,
                              data={"address": address, "was": row.status,
                                    "why": f"set by hand by {by or 'someone'}"}))
            row.status = status
            session.flush()
        events = session.scalars(select(Event).where(
            Event.buyer_id == row.buyer_id, Event.name.in_(ADDRESS_EVENTS))
            .order_by(Event.at.desc(), Event.id.desc()).limit(20))
        history = [{"at": e.at.isoformat(timespec="seconds"), "name": e.name,
                    "why": (e.data or {}).get("why") or (e.data or {}).get("error", "")}
                   for e in events if (e.data or {}).get("address") in (None, address)]
        return {"address": address, "buyer_id": row.buyer_id, "status": row.status,
                "history": history}
