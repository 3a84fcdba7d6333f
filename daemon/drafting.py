"""The draft step of the pipeline (I/O): compose the reply, attach files, write it for review.

Runs inside the message's unit of work, after understanding was recorded. The draft row
is added before the file is written, so a failure to write rolls the row back; the file
is written staged and shows in pending only once the row is committed
(review.write_for_review), so a process killed in between never leaves a reviewer two
drafts for one message: the sweep discards the stage and the message is drafted again.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon import attachments, deals_record, negotiation, outbox, owners
from daemon.config import Settings
from daemon.draft import (
    BuyerView,
    build_message,
    compose,
    note_earlier_drafts,
    note_problems,
    skip_reason,
)
from daemon.logs import kv
from daemon.models import Buyer, Draft, DraftState, Event, Inquiry, Mailbox, Message
from daemon.review import ReviewBackend, write_for_review
from daemon.review_folder import ReviewFolder, body_digest
from daemon.rules import Rulebook
from daemon.send import expected_sender
from daemon.types import Kind, Mail
from daemon.understand import Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drafter:
    """What drafting needs, loaded once (and again on SIGHUP)."""

    settings: Settings
    book: Rulebook
    env: SandboxedEnvironment
    review: ReviewBackend[Any]

    def draft(self, session: Session, message: Message, mail: Mail, decision: Decision,
              inquiry: Inquiry | None, buyer: BuyerView, now: datetime) -> str | None:
        """Write a reply draft for review; its id, or None when none is due."""
        own = self.settings.company.own_domains
        why_not = skip_reason(decision, mail, own_domains=own)
        if why_not is not None:
            log.debug("event=no_draft message=%d reason=%s", message.id, kv(why_not))
            return None
        box_name, signature = self._from_whom(session, message)
        sender = expected_sender(self.settings, box_name)
        draft_id = f"d{now:%Y%m%d}-{secrets.token_hex(4)}"
        today = now.astimezone(self.settings.schedule.tz).date()
        plan = thread_plan(session, message.buyer_id, mail, decision, self.book,
                           buyer.region or decision.region)
        composed = compose(decision, mail, settings_company=self.settings.company,
                           sender=sender, buyer=buyer,
                           catalog=self.book.catalog, env=self.env, today=today,
                           draft_id=draft_id, message_id_domain=_domain(sender), plan=plan,
                           signature=signature)
        if composed is None:
            return None
        # An answer in a thread belongs to the deal the buyer answers.
        inquiry_id = plan.thread.inquiry_id if plan else (inquiry.id if inquiry else None)
        sending = self.settings.sending
        limits = attachments.AttachmentLimits(sending.max_attachment_bytes,
                                              sending.max_attachments_total_bytes)
        loaded, problems = attachments.load(composed.attachments, self._sources(), limits)
        composed = note_problems(composed, problems)
        composed = note_earlier_drafts(composed, _pending_for(session, composed.to.email))
        email = build_message(composed, [a.as_part() for a in loaded], sender=sender,
                              draft_id=draft_id, message_id=composed.message_id, date=now)
        label = _buyer_label(decision)
        review, note = self._reviewer(session, message, today)
        if note:
            composed = dataclasses.replace(composed, context=f"{note}\n\n{composed.context}")
        file_name = review.file_name(draft_id, grade=composed.grade or "-",
                                          buyer_label=label, when=now)
        outbox.record_draft(session, draft_id, "reply", composed.to.email, composed.subject,
                            composed.message_id, file_name, buyer_id=message.buyer_id,
                            inquiry_id=inquiry_id, in_reply_to_message=message.id,
                            mailbox_name=box_name,
                            body_sha256=body_digest(email))
        session.add(Event(name="draft_attachments", draft_id=draft_id, buyer_id=message.buyer_id,
                          data={"files": [{"name": a.filename, "sha256": a.sha256}
                                          for a in loaded],
                                "template": composed.template, "language": composed.language}))
        written = write_for_review(session, review, draft_id, email, composed.context,
                                   grade=composed.grade or "-", buyer_label=label, when=now)
        log.info("event=draft_written draft=%s message=%d grade=%s template=%s file=%s",
                 draft_id, message.id, composed.grade or "-", composed.variant, kv(written))
        return draft_id

    def _from_whom(self, session: Session, message: Message) -> tuple[str, str]:
        """(the mailbox the reply leaves from, the signature): the buyer's owner's own
        mailbox and signature when they read one (same buyer, same salesperson, same
        address), else the mailbox the mail came to."""
        mailbox = session.get(Mailbox, message.mailbox_id) if message.mailbox_id else None
        buyer = session.get(Buyer, message.buyer_id) if message.buyer_id else None
        owner = buyer.owner if buyer is not None else ""
        name = self.settings.reply_mailbox(owner, mailbox.name if mailbox else "")
        box = next((b for b in self.settings.mailbox if b.name == name), None)
        person = self.settings.person(owner or (box.salesperson if box else ""))
        return name, (person.signature if person else "")

    def _reviewer(self, session: Session, message: Message,
                  today: date) -> tuple[ReviewBackend[Any], str]:
        """Where the draft waits: the owner's review folder, or their colleague's while
        they are away (with a note saying so); the shared one without salespeople."""
        people = owners.people_from(self.settings)
        buyer = session.get(Buyer, message.buyer_id) if message.buyer_id else None
        owner = buyer.owner if buyer is not None else ""
        if not people or owner not in people:
            return self.review, ""
        routed = owners.route(owner, today, people)
        path = self.settings.salesperson_review_path(routed.reviewer)
        session.add(Event(name="draft_routed", buyer_id=message.buyer_id,
                          message_id=message.id,
                          data={"owner": owner, "reviewer": routed.reviewer,
                                "note": routed.note}))
        return ReviewFolder(path), (f"Owner: {routed.note}" if routed.note
                                    else f"Owner: {owner}")

    def _sources(self) -> attachments.Sources:
        paths = self.settings.paths
        return attachments.Sources(paths.templates, paths.state, self.book.catalog,
                                   paths.rules / "catalog.csv", self.settings.company.name)


def _pending_for(session: Session, address: str) -> list[str]:
    rows = session.scalars(select(Draft.file_name).where(
        Draft.to_addr == address, Draft.state.in_((DraftState.PENDING, DraftState.APPROVED))))
    return [r for r in rows if r]


def buyer_view(session: Session, decision: Decision) -> BuyerView:
    """The buyer as the database knew them before this message (call before recording)."""
    if decision.match.buyer_id is None:
        return BuyerView(name=decision.match.lookup.contact_name,
                         company=decision.match.lookup.company, country=decision.country,
                         region=decision.region)
    buyer = session.get_one(Buyer, decision.match.buyer_id)
    earlier = session.scalar(select(func.count()).select_from(Inquiry).where(
        Inquiry.buyer_id == buyer.id)) or 0
    last = buyer.last_contact_at.date() if buyer.last_contact_at else None
    return BuyerView(name=buyer.contact_name, company=buyer.company,
                     country=buyer.country or decision.country,
                     region=buyer.region or decision.region, inquiries=earlier,
                     last_contact=last)


def _buyer_label(decision: Decision) -> str:
    lookup = decision.match.lookup
    return lookup.company or lookup.contact_name or lookup.address or "buyer"


def _domain(sender: str) -> str:
    address = sender.rpartition("<")[2].rstrip(">").strip()
    return address.rpartition("@")[2] or "inquiryd.invalid"


def thread_plan(session: Session, buyer_id: int | None, mail: Mail, decision: Decision,
                book: Rulebook, region: str) -> negotiation.Plan | None:
    """How to answer a buyer's mail inside one of their deals' threads (the deal
    recording continued); None outside one, or in a won or lost deal's thread."""
    if decision.classification.kind not in (Kind.REPLY, Kind.INQUIRY) or not buyer_id:
        return None
    found = deals_record.continued_deal(session, buyer_id, mail)
    if found is None:
        return None
    deal, ours = found
    thread = negotiation.Thread.of(deal.id, str(deal.stage), deal.products, deal.terms, ours.id)
    return negotiation.plan(thread, decision.extracted, mail, book.catalog, region)
