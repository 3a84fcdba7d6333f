"""The daily follow-up job (I/O): reads the buyer database, asks followup.py who is due,
and drafts each due follow-up into the review backend like a reply.

One unit of work reschedules every buyer (the stored `next_followup_at`, and buyers who
reached `max_unanswered` marked dormant, with their open inquiries); then one unit of
work per due buyer writes its draft. The draft row is flushed before the file is written, so a failure to write
rolls it back; the buyer's `last_followup_at` moves to the drafting time, so a draft a
reviewer rejects skips that step instead of coming back the next morning. Sending goes
through the sweep (sweep.py) like every draft, exactly once; with
`[sending] followups_without_review = true` the draft is moved straight to approved.

Follow-ups carry `Auto-Submitted: auto-generated` (RFC 3834), thread on the last mail
exchanged with the buyer, and go to the address the buyer last wrote from (never one
that bounced or unsubscribed). A follow-up belongs to the buyer's newest open inquiry
(Draft.inquiry_id), so an answer to it continues that deal; the one asking whether a
sample arrived marks the sample as asked about (samples.followed_up_at), once.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from email.message import EmailMessage
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import deals_record, language, outbox, rulebook, templating
from daemon.config import Settings
from daemon.db import Database
from daemon.draft import ComposedDraft, build_message, make_message_id, reply_subject, tidy
from daemon.errors import ConfigError
from daemon.followup import CLOSED_STAGES, BuyerState, Due, FollowupRules, Next, due, \
    next_followup
from daemon.lock import StateLock
from daemon.logs import kv
from daemon.models import Buyer, BuyerAddress, Draft, DraftState, Event, Inquiry, Mailbox, \
    Message, Sample, utcnow
from daemon.header_text import clean_line
from daemon.review import ReviewBackend, write_for_review, review_backend
from daemon.review_folder import body_digest
from daemon.send import expected_sender, sender_name
from daemon.templating import RenderError, render, split_subject
from daemon.types import Address

log = logging.getLogger(__name__)

KIND = "followup"
# A follow-up draft in one of these states stops the next one being drafted.
WAITING = (DraftState.PENDING, DraftState.APPROVED, DraftState.SENDING, DraftState.UNKNOWN)


@dataclass
class JobReport:
    """What one run did."""

    rescheduled: int = 0
    due: int = 0
    drafted: int = 0
    approved: int = 0          # moved straight to approved (followups_without_review)
    dormant: int = 0
    failed: int = 0
    capped: int = 0            # sent without review, but over the weekly cap: waits
    drafts: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ reading the database


def local_date(when: datetime | None, tz: tzinfo) -> date | None:
    return when.astimezone(tz).date() if when is not None else None


def buyer_states(session: Session, tz: tzinfo, rules: FollowupRules,
                 ids: Sequence[int] | None = None) -> list[BuyerState]:
    """Every buyer (or those of `ids`) as followup.py sees them."""
    query = select(Buyer).order_by(Buyer.id)
    if ids is not None:
        query = query.where(Buyer.id.in_(list(ids)))
    buyers = list(session.scalars(query))
    wanted = [b.id for b in buyers]
    reachable = set(session.scalars(select(BuyerAddress.buyer_id).where(
        BuyerAddress.buyer_id.in_(wanted), BuyerAddress.status == "active")))
    waiting = set(session.scalars(select(Draft.buyer_id).where(
        Draft.buyer_id.in_(wanted), Draft.kind == KIND, Draft.state.in_(WAITING))))
    open_inquiries = _newest_open_inquiries(session, wanted)
    awaited = deals_record.samples_awaited(session, wanted)
    sent = deals_record.buyers_with_samples_sent(session, wanted)
    return [replace(_state(b, tz, b.id in reachable, b.id in waiting, open_inquiries.get(b.id)),
                    sample_sent=b.id in sent,
                    sample_expected=local_date(awaited[b.id][0].expected_at, tz)
                    if b.id in awaited else None)
            for b in buyers]


def _newest_open_inquiries(session: Session, ids: list[int]) -> dict[int, Inquiry]:
    newest: dict[int, Inquiry] = {}
    rows = session.scalars(select(Inquiry).where(
        Inquiry.buyer_id.in_(ids), Inquiry.stage.notin_(sorted(CLOSED_STAGES)))
        .order_by(Inquiry.created_at, Inquiry.id))
    for inquiry in rows:
        newest[inquiry.buyer_id] = inquiry
    return newest


def _state(b: Buyer, tz: tzinfo, reachable: bool, waiting: bool,
           inquiry: Inquiry | None) -> BuyerState:
    touched = [t for t in (b.last_contact_at, b.last_followup_at) if t is not None]
    requests = (inquiry.terms or {}).get("requests", []) if inquiry else []
    return BuyerState(
        buyer_id=b.id, grade=b.grade, status=b.status, country=b.country,
        last_contact=local_date(max(touched), tz) if touched else None,
        created=local_date(b.created_at, tz), unanswered=b.followups_unanswered,
        open_stage=str(inquiry.stage.value) if inquiry else "",
        asked_sample="sample" in requests, reachable=reachable, pending_followup=waiting,
        label=b.company or b.contact_name or f"buyer {b.id}")


# ------------------------------------------------------------------ rescheduling


def reschedule(session: Session, rules: FollowupRules, tz: tzinfo, today: date,
               states: Iterable[BuyerState],
               now: datetime | None = None) -> tuple[dict[int, Next], int]:
    """Store each buyer's next date; mark dormant those who stopped answering, and
    their open inquiries (daemon/deals.py, with the reason).

    Returns each buyer's Next and how many went dormant now.
    """
    found: dict[int, Next] = {}
    dormant = 0
    for state in states:
        nxt = next_followup(state, rules, today=today)
        found[state.buyer_id] = nxt
        buyer = session.get_one(Buyer, state.buyer_id)
        if nxt.stop == "pending":
            continue  # the waiting draft keeps the date it was drafted for
        when = datetime.combine(nxt.when, time(), tz) if nxt.when else None
        if buyer.next_followup_at != when:
            buyer.next_followup_at = when
        if nxt.dormant and buyer.status == "active":
            buyer.status = "dormant"
            dormant += 1
            session.add(Event(name="buyer_dormant", buyer_id=buyer.id,
                              data={"reasons": [r.text for r in nxt.reasons]}))
            deals_record.buyer_went_quiet(session, buyer.id, state.unanswered, now or utcnow())
    return found, dormant


def due_now(settings: Settings, db: Database, rules: FollowupRules, *, days: int = 7,
            today: date | None = None) -> list[Due]:
    """`inquiryd followups due`: what will be drafted (or sent) in the next `days` days."""
    tz = settings.schedule.tz
    today = today or utcnow().astimezone(tz).date()
    with db.unit_of_work() as session:
        return due(buyer_states(session, tz, rules), rules, today, days)


# ------------------------------------------------------------------ the job


def run(settings: Settings, db: Database, rules: FollowupRules, env: SandboxedEnvironment,
        review: ReviewBackend[Any], *, now: datetime | None = None,
        stop: threading.Event | None = None) -> JobReport:
    """Reschedule everyone, then draft every follow-up due today, one buyer at a time."""
    now = now or utcnow()
    tz = settings.schedule.tz
    today = now.astimezone(tz).date()
    report = JobReport()
    with db.unit_of_work() as session:
        states = buyer_states(session, tz, rules)
        nexts, report.dormant = reschedule(session, rules, tz, today, states, now)
    report.rescheduled = len(nexts)
    todo = [i for i, n in nexts.items() if n.when is not None and n.when <= today]
    report.due = len(todo)
    if settings.sending.followups_without_review:  # automatic mail: the weekly cap applies
        todo = _under_cap(settings, db, todo, now, report)
    for buyer_id in todo:
        if stop is not None and stop.is_set():
            break
        try:
            draft_id = _draft_one(settings, db, rules, env, review, buyer_id, now)
        except ConfigError:
            raise  # a broken template is the desk's to fix: stop, do not spread it
        except Exception:  # noqa: BLE001 - one buyer's failure must not stop the rest
            log.exception("event=followup_failed buyer=%d", buyer_id)
            report.failed += 1
            continue
        if draft_id is None:
            continue
        report.drafted += 1
        report.drafts.append(draft_id)
        if settings.sending.followups_without_review and _approve(review, draft_id, db):
            report.approved += 1
    return report


def _under_cap(settings: Settings, db: Database, todo: list[int], now: datetime,
               report: JobReport) -> list[int]:
    """Buyers whose automatic mail this week is under the cap shared with newsletters."""
    from daemon import newsletter
    from daemon.queries import recent_automatic

    cap = settings.sending.max_automatic_per_week
    with db.unit_of_work() as session:
        recent = recent_automatic(session, todo, now)
    kept = [b for b in todo if not newsletter.over_cap(recent[b], cap)]
    report.capped = len(todo) - len(kept)
    for buyer_id in set(todo) - set(kept):
        log.info("event=followup_capped buyer=%d reason=%s", buyer_id,
                 kv(newsletter.cap_reason(recent[buyer_id], cap)))
    return kept


def _draft_one(settings: Settings, db: Database, rules: FollowupRules,
               env: SandboxedEnvironment, review: ReviewBackend[Any], buyer_id: int,
               now: datetime) -> str | None:
    tz = settings.schedule.tz
    today = now.astimezone(tz).date()
    with db.unit_of_work() as session:
        states = buyer_states(session, tz, rules, [buyer_id])
        if not states:
            return None
        state = states[0]
        nxt = next_followup(state, rules, today=today)
        if nxt.when is None or nxt.when > today:
            return None  # answered, drafted or stopped since the run began
        buyer = session.get_one(Buyer, buyer_id)
        to = _address(session, buyer)
        if to is None:
            return None
        thread = _last_message(session, buyer_id)
        box = session.get(Mailbox, thread.mailbox_id) if thread and thread.mailbox_id else None
        box_name = settings.reply_mailbox(buyer.owner, box.name if box else "")
        sender = expected_sender(settings, box_name)
        signer = sender_name(settings, box_name)
        draft_id = f"f{now:%Y%m%d}-{secrets.token_hex(4)}"
        inquiry = _newest_open_inquiries(session, [buyer_id]).get(buyer_id)
        samples = _arrivals(session, buyer_id, nxt, today, rules, tz)
        composed = compose(env, state, nxt, rules, buyer=buyer, to=to, thread=thread,
                           inquiry=inquiry, company=settings.company, sender=sender,
                           signer=signer, draft_id=draft_id, today=today, samples=samples)
        email = followup_message(composed, sender=sender, draft_id=draft_id, now=now)
        label = state.label
        file_name = review.file_name(draft_id, grade=state.grade or "-", buyer_label=label,
                                     when=now)
        outbox.record_draft(session, draft_id, KIND, to.email, composed.subject,
                            composed.message_id, file_name, buyer_id=buyer_id,
                            inquiry_id=inquiry.id if inquiry else None,
                            mailbox_name=box_name,
                            body_sha256=body_digest(email))
        _drafted(session, buyer, draft_id, nxt, composed, samples, now)
        written = write_for_review(session, review, draft_id, email, composed.context,
                                   grade=state.grade or "-", buyer_label=label, when=now)
    log.info("event=followup_drafted draft=%s buyer=%d step=%d file=%s", draft_id, buyer_id,
             nxt.step, kv(written))
    return draft_id


def _drafted(session: Session, buyer: Buyer, draft_id: str, nxt: Next,
             composed: ComposedDraft, samples: Sequence[Sample], now: datetime) -> None:
    """What a written follow-up changes: a rejected draft skips this step instead of
    coming back, and a sample's arrival is asked about once, even if rejected."""
    buyer.last_followup_at = now
    for sample in samples:
        sample.followed_up_at = now
    session.add(Event(name="followup_drafted", buyer_id=buyer.id, draft_id=draft_id,
                      data={"step": nxt.step, "template": composed.template,
                            "due": str(nxt.scheduled), "language": composed.language,
                            "situation": nxt.situation, "samples": [s.id for s in samples],
                            "reasons": [r.text for r in nxt.reasons]}))


def _arrivals(session: Session, buyer_id: int, nxt: Next, today: date, rules: FollowupRules,
              tz: tzinfo) -> list[Sample]:
    """The samples an arrival follow-up asks about: those due to have arrived by today."""
    if nxt.situation != "sample_arrival":
        return []
    return [s for s in deals_record.samples_awaited(session, [buyer_id]).get(buyer_id, [])
            if (local_date(s.expected_at, tz) or today) + timedelta(
                days=rules.sample_arrival_days) <= today]


def _approve(review: ReviewBackend[Any], draft_id: str, db: Database) -> bool:
    """followups_without_review: straight to approved; the sweep sends it, once."""
    with db.unit_of_work() as session:
        name = session.get_one(Draft, draft_id).file_name
    try:
        with review:
            item = review.locate(draft_id, name, ("pending",))
            if item is None:
                return False
            review.move(item, "approved")
    except Exception:  # noqa: BLE001 - it stays in pending, for a person to approve
        log.exception("event=followup_approve_failed draft=%s", draft_id)
        return False
    return True


def _address(session: Session, buyer: Buyer) -> Address | None:
    """The active address the buyer last wrote from, else their first active one."""
    active = {a.address: a for a in session.scalars(select(BuyerAddress).where(
        BuyerAddress.buyer_id == buyer.id, BuyerAddress.status == "active")
        .order_by(BuyerAddress.id))}
    if not active:
        return None
    recent = session.scalars(select(Message.from_addr).where(
        Message.buyer_id == buyer.id, Message.direction == "in",
        Message.from_addr.in_(list(active))).order_by(Message.id.desc()).limit(1)).first()
    return Address(buyer.contact_name, recent or next(iter(active)))


def _last_message(session: Session, buyer_id: int) -> Message | None:
    """The last mail exchanged with the buyer, either way: the follow-up threads on it."""
    return session.scalars(select(Message).where(
        Message.buyer_id == buyer_id, Message.message_id != "",
        Message.kind.notin_(("auto_reply", "bounce", "unsubscribe", "newsletter")))
        .order_by(Message.id.desc()).limit(1)).first()


# ------------------------------------------------------------------ composing


def template_candidates(lang_tag: str, grade: str, step: int) -> list[str]:
    """followup/<lang>/<grade>-<step>, then <grade>, in the buyer's language, then English."""
    return [f"followup/{code}/{name}.txt.j2" for code in language.candidates(lang_tag)
            for name in (f"{grade}-{step}", grade)]


def compose(env: SandboxedEnvironment, state: BuyerState, nxt: Next, rules: FollowupRules, *,
            buyer: Buyer, to: Address, thread: Message | None, inquiry: Inquiry | None,
            company: Any, sender: str, draft_id: str, today: date,
            signer: str = "", samples: Sequence[Sample] = ()) -> ComposedDraft:
    """The follow-up, rendered; RenderError (a ConfigError) names a broken template."""
    grade = state.grade if state.grade in rules.cadences else "D"
    names = template_candidates(buyer.language, grade, nxt.step)
    context = _context(state, nxt, rules, buyer=buyer, to=to, thread=thread,
                       inquiry=inquiry, company=company, sender=sender, signer=signer,
                       today=today)
    context["samples"] = _samples_context(samples, inquiry)
    rendered = render(env, names, context)
    try:
        subject, body = split_subject(rendered.text)
    except ValueError as exc:
        raise RenderError(rendered.name, 1, str(exc)) from None
    lang = rendered.name.split("/")[1]
    message_id = make_message_id(draft_id, sender.rpartition("@")[2] or "inquiryd.invalid")
    in_reply_to = thread.message_id if thread else ""
    composed = ComposedDraft(
        subject=clean_line(subject)[:200] or context["thread_subject"], body=tidy(body), to=to,
        in_reply_to=in_reply_to, references=(in_reply_to,) if in_reply_to else (),
        language=lang, template=rendered.name, attachments=(), context="",
        message_id=message_id, grade=state.grade or "-", variant=f"followup-{nxt.step}")
    return _with_reviewer_context(composed, state, nxt, rules, draft_id)


def _context(state: BuyerState, nxt: Next, rules: FollowupRules, *, buyer: Buyer,
             to: Address, thread: Message | None, inquiry: Inquiry | None, company: Any,
             sender: str, signer: str, today: date) -> dict[str, Any]:
    products = [p.get("name") or p.get("sku") for p in (inquiry.products if inquiry else [])
                if isinstance(p, Mapping)]
    return {
        "step": nxt.step, "first": nxt.step == 1, "last": nxt.step >= rules.max_unanswered,
        "situation": nxt.situation, "today": today.isoformat(),
        "grade": {"letter": state.grade or "", "reasons": []},
        "thread_subject": reply_subject(thread.subject or "", "") if thread and thread.subject
        else "",
        "products": [str(p) for p in products if p][:5],
        "buyer": {"name": buyer.contact_name, "company": buyer.company,
                  "country": buyer.country, "email": to.email},
        "company": _company(company, sender), "sender": {"name": signer, "email": sender},
    }


def _samples_context(samples: Sequence[Sample], inquiry: Inquiry | None) -> list[dict[str, Any]]:
    names = {p.get("sku"): p.get("name") for p in (inquiry.products if inquiry else [])
             if isinstance(p, Mapping)}
    return [{"sku": s.sku, "name": names.get(s.sku) or s.sku, "quantity": s.quantity,
             "courier": s.courier, "tracking": s.tracking,
             "expected": s.expected_at.date().isoformat() if s.expected_at else ""}
            for s in samples]


def _company(company: Any, sender: str) -> dict[str, Any]:
    return {"name": company.name, "contact_person": getattr(company, "contact_person", ""),
            "website": getattr(company, "website", ""),
            "telephone": getattr(company, "telephone", ""),
            "strengths": list(getattr(company, "strengths", ())), "email": sender}


def _with_reviewer_context(composed: ComposedDraft, state: BuyerState, nxt: Next,
                           rules: FollowupRules, draft_id: str) -> ComposedDraft:
    lines = [f"Follow-up {nxt.step} of at most {rules.max_unanswered} to {state.label} "
             f"(grade {state.grade or '-'}, {state.country or 'country unknown'})",
             f"Draft {draft_id}; template {composed.template}",
             f"Situation: {nxt.situation or 'keeping in touch'}"
             + (f"; open inquiry stage {state.open_stage}" if state.open_stage else ""),
             "", "Why now:"] + [f"  - {r.text}" for r in nxt.reasons]
    return replace(composed, context="\n".join(lines) + "\n")


def followup_message(composed: ComposedDraft, *, sender: str, draft_id: str,
                     now: datetime) -> EmailMessage:
    """build_message's draft, marked as automatic mail (RFC 3834: auto-generated)."""
    email = build_message(composed, [], sender=sender, draft_id=draft_id,
                          message_id=composed.message_id, date=now)
    email.replace_header("Auto-Submitted", "auto-generated")
    return email


# ------------------------------------------------------------------ entry points


def load(settings: Settings) -> tuple[FollowupRules, SandboxedEnvironment]:
    """The rules and templates the job uses; ConfigError names a mistake."""
    return (rulebook.load(settings.paths.rules).followups,
            templating.environment(settings.paths.templates))


def job(settings: Settings, db: Database, stop: threading.Event) -> JobReport | None:
    """The service's daily job: never raises, logs instead."""
    if stop.is_set():
        return None
    try:
        rules, env = load(settings)
        report = run(settings, db, rules, env, review_backend(settings), stop=stop)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("event=followups_refused problem=%s", kv(problem))
        return None
    except Exception:  # noqa: BLE001 - one bad run must not end the service
        log.exception("event=followups_crashed")
        return None
    log.info("event=followups_done %s", " ".join(
        f"{k}={v}" for k, v in vars(report).items() if k != "drafts"))
    return report


def run_now(settings: Settings, db: Database) -> JobReport:
    """`inquiryd followups run-now`: under the state lock, today's follow-ups now."""
    with StateLock(settings.paths.state, "followups"):
        db.ensure_schema()
        rules, env = load(settings)
        return run(settings, db, rules, env, review_backend(settings))
