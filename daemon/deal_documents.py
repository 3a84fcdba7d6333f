"""Confirmation letters, proforma invoices and contracts (I/O): numbered, kept under
state/documents/, and drafted into the review backend like every other draft.

`issue(settings, db, inquiry_id, kind)` does it all in one unit of work:
- the terms: for a PI or a contract, those of the inquiry's latest confirmation letter
  (what the buyer confirmed); without one, the terms the inquiry describes
  (daemon/deal_terms.py);
- the number, per kind and year (TC-, PI-, SC-YYYY-NNNN): the next seq is read in the
  same transaction as the insert, inside a savepoint; two instances numbering at once
  meet at the unique (kind, year, seq) constraint, and the loser reads again, once;
- the file (PI .xlsx, contract .pdf) written to state/documents/<year>/<NUMBER>.<ext>
  with its sha256 kept in DealDocument;
- the draft (kind "confirmation", "pi" or "contract", with the inquiry's id), threaded
  on the last mail of the inquiry's thread, written through the review backend the
  same way follow-ups are (outbox.record_draft, then review.write_for_review): the
  draft row is flushed before the file is written, so a failure rolls back number and
  draft alike, and the draft shows to reviewers once both are committed.
The person reviewing may change any term in the .eml before approving it; the terms
recorded are those drafted.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from daemon import documents, outbox, templating
from daemon.catalog import Catalog
from daemon.config import Settings
from daemon.db import Database
from daemon.deal_terms import DealTerms, Party, build_terms
from daemon.draft import MAX_REFERENCES, ComposedDraft, build_message, make_message_id, \
    reply_subject, tidy
from daemon.errors import UsageError
from daemon.files import write_atomically
from daemon.header_text import clean_line
from daemon.logs import kv
from daemon.models import Buyer, BuyerAddress, DealDocument, Draft, DraftState, Event, \
    Inquiry, Mailbox, Message, RawMessage, StageChange, utcnow
from daemon.review import ReviewBackend, write_for_review, review_backend
from daemon.review_folder import body_digest
from daemon.send import expected_sender, sender_name
from daemon.templating import RenderError, render, split_subject
from daemon.terms_readback import read_back
from daemon.types import Address

log = logging.getLogger(__name__)

# kind -> (number prefix, covering template, attached file's extension and type)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "confirmation": ("TC", "letter.txt.j2", "", ""),
    "pi": ("PI", "pi.txt.j2", ".xlsx",
           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "contract": ("SC", "contract.txt.j2", ".pdf", "application/pdf"),
}


@dataclass(frozen=True)
class Issued:
    """What `issue` made."""

    kind: str
    number: str
    draft_id: str
    review_file: str
    total: str
    currency: str
    path: Path | None = None      # the kept .xlsx or .pdf (none for a letter)
    sha256: str = ""


# ------------------------------------------------------------------ numbering


def number_of(kind: str, year: int, seq: int) -> str:
    return f"{KINDS[kind][0]}-{year}-{seq:04d}"


def next_seq(session: Session, kind: str, year: int) -> int:
    top = session.scalar(select(func.max(DealDocument.seq)).where(
        DealDocument.kind == kind, DealDocument.year == year))
    return (top or 0) + 1


def take_write_lock(session: Session) -> None:
    """SQLite: hold the write lock from the start, so a second numbering at the same
    moment waits for this one (busy_timeout) instead of failing on a stale snapshot.
    PostgreSQL needs nothing: the unique constraint and one retry settle a race."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(DealDocument).where(DealDocument.id < 0)
                        .values(seq=DealDocument.seq))


def allocate(session: Session, inquiry_id: int, kind: str, year: int,
             terms: dict[str, Any]) -> DealDocument:
    """Insert the next numbered document of `kind` in `year`; one retry on a race."""
    for attempt in (1, 2):
        seq = next_seq(session, kind, year)
        doc = DealDocument(inquiry_id=inquiry_id, kind=kind, year=year, seq=seq,
                           number=number_of(kind, year, seq), terms=terms)
        try:
            with session.begin_nested():  # a lost race rolls back this insert only
                session.add(doc)
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("event=document_number_taken kind=%s year=%d seq=%d", kind, year, seq)
            continue
        return doc
    raise AssertionError("unreachable")


# ------------------------------------------------------------------ the thread


@dataclass(frozen=True)
class Thread:
    """Where a document's draft goes: to whom, threaded on which mail."""

    to: Address
    in_reply_to: str
    references: tuple[str, ...]
    last_id: int | None          # the Message the draft answers
    mailbox_name: str
    subject: str                 # the inquiry's subject, without "Re:"


def find_thread(session: Session, inquiry: Inquiry, buyer: Buyer) -> Thread:
    """The inquiry's mail, ours and the buyer's, oldest first; the draft answers the last."""
    rows = list(session.scalars(select(Message).where(
        Message.id.in_(_thread_ids(session, inquiry)), Message.message_id != "")
        .order_by(Message.id)))
    ids = list(dict.fromkeys(m.message_id for m in rows))
    if len(ids) > MAX_REFERENCES:  # RFC 5322 lets the middle of a long thread go
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    first = session.get(Message, inquiry.message_id) if inquiry.message_id else None
    box = session.get(Mailbox, first.mailbox_id) if first and first.mailbox_id else None
    subject = reply_subject(first.subject or "", "") if first else ""
    return Thread(to=_buyer_address(session, buyer, rows), in_reply_to=ids[-1] if ids else "",
                  references=tuple(ids), last_id=rows[-1].id if rows else None,
                  mailbox_name=box.name if box else "",
                  subject=subject.removeprefix("Re:").strip())


def _thread_ids(session: Session, inquiry: Inquiry) -> set[int]:
    """The inquiry's message, the buyer's mails our drafts answered or that moved its
    stage, and the copies of our sent drafts."""
    drafts = session.execute(select(Draft.in_reply_to_message, Draft.outgoing_message_id,
                                    Draft.state).where(Draft.inquiry_id == inquiry.id)).all()
    sent = [d[1] for d in drafts if d[2] is DraftState.SENT]
    ids = {inquiry.message_id, *(d[0] for d in drafts)}
    ids |= set(session.scalars(select(StageChange.message_id).where(
        StageChange.inquiry_id == inquiry.id)))
    if sent:
        ids |= set(session.scalars(select(Message.id).where(
            Message.direction == "out", Message.message_id.in_(sent))))
    return {i for i in ids if i is not None}


def _buyer_address(session: Session, buyer: Buyer, thread: list[Message]) -> Address:
    """The address the buyer last wrote from in this thread, else their first active one
    (a platform notification's sender is the platform, never the buyer)."""
    wrote = [m.from_addr for m in thread
             if m.direction == "in" and m.from_addr and m.kind != "platform"]
    if wrote:
        return Address(buyer.contact_name, wrote[-1])
    known = session.scalars(select(BuyerAddress.address).where(
        BuyerAddress.buyer_id == buyer.id, BuyerAddress.status == "active")
        .order_by(BuyerAddress.id).limit(1)).first()
    if known is None:
        raise UsageError(f"buyer #{buyer.id} has no email address to send it to: answer "
                         "on the platform, or add the address with `inquiryd buyers import`")
    return Address(buyer.contact_name, known)


# ------------------------------------------------------------------ the terms


def terms_for(session: Session, settings: Settings, catalog: Catalog, inquiry: Inquiry,
              buyer: Buyer, to_email: str, sender: str, kind: str,
              now: datetime, *, as_drafted: bool = False) -> tuple[DealTerms, list[str]]:
    """The terms a document restates, and lines about them for its reviewer.

    A PI or contract restates the newest confirmation letter as it was sent: with the
    terms the reviewer changed in it (daemon/terms_readback.py), or as drafted when it
    was sent unchanged or not yet sent. A letter edited in a way that cannot be read
    back is a UsageError naming each problem, unless `as_drafted`. Without a
    confirmation, and for the letter itself, the inquiry's own terms."""
    if kind != "confirmation":
        confirmed = session.scalars(select(DealDocument).where(
            DealDocument.inquiry_id == inquiry.id, DealDocument.kind == "confirmation")
            .order_by(DealDocument.id.desc()).limit(1)).first()
        if confirmed is not None:
            return _as_sent(session, confirmed, as_drafted)
    party = Party(company=buyer.company, contact=buyer.contact_name,
                  country=buyer.country or inquiry.country, email=to_email,
                  telephone=buyer.phone)
    return build_terms(inquiry.products or [], inquiry.terms or {}, catalog=catalog,
                       region=buyer.region, company=settings.company, buyer=party,
                       seller_email=sender,
                       today=now.astimezone(settings.schedule.tz).date()), []


def _as_sent(session: Session, confirmed: DealDocument,
             as_drafted: bool) -> tuple[DealTerms, list[str]]:
    drafted = DealTerms.from_dict(confirmed.terms)
    draft = session.get(Draft, confirmed.draft_id) if confirmed.draft_id else None
    if draft is None or draft.state != DraftState.SENT:
        return drafted, [f"Terms: those of confirmation {confirmed.number}, which has not "
                         "been sent yet."]
    sent = _sent_copy(session, draft)
    if sent is None:
        return drafted, [f"Terms: those of confirmation {confirmed.number} (its sent copy "
                         "is not kept)."]
    if draft.body_sha256 and body_digest(sent) == draft.body_sha256:
        return drafted, [f"Terms: confirmation {confirmed.number}, sent as drafted."]
    body = sent.get_body(("plain",))
    try:
        text = str(body.get_content()) if body is not None else ""
    except (LookupError, ValueError):
        text = ""
    back = read_back(text, drafted)
    if back.problems and not as_drafted:
        raise UsageError(
            f"confirmation {confirmed.number} was edited before it was sent, and its terms "
            "cannot be read back:\n" + "\n".join(f"  - {p}" for p in back.problems) +
            "\nCorrect the terms by drafting a new confirmation (`inquiryd deals confirm`), "
            "or issue with the terms as drafted (--as-drafted).")
    if back.problems:
        return drafted, [f"Terms: confirmation {confirmed.number} as drafted (--as-drafted): "
                         "the letter sent was edited in a way that cannot be read back."]
    if back.changes:
        session.add(Event(name="confirmation_edited", buyer_id=draft.buyer_id,
                          draft_id=draft.id, data={"number": confirmed.number,
                                                   "changes": list(back.changes)}))
        return back.terms, [f"Terms: confirmation {confirmed.number} as sent; the reviewer "
                            "changed:", *(f"  - {c}" for c in back.changes)]
    return drafted, [f"Terms: confirmation {confirmed.number} as sent."]


def _sent_copy(session: Session, draft: Draft) -> EmailMessage | None:
    """The draft as it was sent (None when no copy is kept)."""
    raw = session.scalars(select(RawMessage.data).join(Message, RawMessage.message_id ==
                                                       Message.id)
                          .where(Message.direction == "out",
                                 Message.message_id == draft.outgoing_message_id)).first()
    if raw is None:
        return None
    sent = message_from_bytes(raw, policy=email.policy.default)
    return sent if isinstance(sent, EmailMessage) else None


def load_catalog(settings: Settings) -> Catalog:
    path = settings.paths.rules / "catalog.csv"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from None
    return Catalog.from_csv_text(text, str(path))


# ------------------------------------------------------------------ issuing


def issue(settings: Settings, db: Database, inquiry_id: int, kind: str, *,
          now: datetime | None = None, review: ReviewBackend[Any] | None = None,
          env: SandboxedEnvironment | None = None, as_drafted: bool = False) -> Issued:
    """Number, render, keep and draft one document of `kind` for the inquiry."""
    if kind not in KINDS:
        raise UsageError(f"no document kind {kind!r}; one of {', '.join(KINDS)}")
    now = now or utcnow()
    review = review or review_backend(settings)
    env = env or templating.environment(settings.paths.templates)
    catalog = load_catalog(settings)
    with db.unit_of_work() as session:
        take_write_lock(session)
        inquiry = session.get(Inquiry, inquiry_id)
        if inquiry is None:
            raise UsageError(f"no inquiry {inquiry_id} (see `inquiryd deals list`)")
        buyer = session.get_one(Buyer, inquiry.buyer_id)
        thread = find_thread(session, inquiry, buyer)
        box_name = settings.reply_mailbox(buyer.owner, thread.mailbox_name)
        sender = expected_sender(settings, box_name)
        terms, remarks = terms_for(session, settings, catalog, inquiry, buyer,
                                   thread.to.email, sender, kind, now, as_drafted=as_drafted)
        issued = now.astimezone(settings.schedule.tz).date()
        doc = allocate(session, inquiry.id, kind, issued.year, terms.as_dict())
        lang = buyer.language or str((inquiry.terms or {}).get("language") or "")
        context = documents.document_context(
            terms, kind=kind, number=doc.number, issued=issued, lang=lang,
            sender={"name": sender_name(settings, box_name), "email": sender},
            thread_subject=thread.subject)
        attachment = _attachment(settings, env, kind, doc, terms, context, lang)
        result = _draft(session, settings, review, env, kind, doc, inquiry, buyer, thread,
                        sender, context, attachment, now, remarks)
    log.info("event=deal_document_drafted kind=%s number=%s inquiry=%d draft=%s file=%s",
             kind, result.number, inquiry_id, result.draft_id, kv(result.review_file))
    return result


def _attachment(settings: Settings, env: SandboxedEnvironment, kind: str, doc: DealDocument,
                terms: DealTerms, context: dict[str, Any], lang: str
                ) -> tuple[str, str, bytes] | None:
    """The PI or contract file, kept under state/documents/<year>/ (None for a letter)."""
    _, _, ext, content_type = KINDS[kind]
    if not ext:
        return None
    issued = datetime.fromisoformat(context["date"]).date()
    if kind == "pi":
        data = documents.proforma_xlsx(terms, number=doc.number, issued=issued)
    else:
        data = documents.html_to_pdf(documents.contract_html(env, context, lang))
    name = f"{doc.number}{ext}"
    path = settings.paths.state / "documents" / str(doc.year) / name
    write_atomically(path, data)
    doc.file_name, doc.sha256 = str(path.relative_to(settings.paths.state)), \
        hashlib.sha256(data).hexdigest()
    return name, content_type, data


def _draft(session: Session, settings: Settings, review: ReviewBackend[Any],
           env: SandboxedEnvironment, kind: str, doc: DealDocument, inquiry: Inquiry,
           buyer: Buyer, thread: Thread, sender: str, context: dict[str, Any],
           attachment: tuple[str, str, bytes] | None, now: datetime,
           remarks: list[str]) -> Issued:
    draft_id = f"{KINDS[kind][0].lower()}{now:%Y%m%d}-{secrets.token_hex(4)}"
    names = documents.template_names("confirmation", KINDS[kind][1], context["lang"])
    rendered = render(env, names, context)
    try:
        subject, body = split_subject(rendered.text)
    except ValueError as exc:
        raise RenderError(rendered.name, 1, str(exc)) from None
    composed = ComposedDraft(
        subject=clean_line(subject)[:200], body=tidy(body), to=thread.to,
        in_reply_to=thread.in_reply_to, references=thread.references,
        language=rendered.name.split("/")[1], template=rendered.name, attachments=(),
        context=documents.reviewer_note(
            context, draft_id=draft_id, about=f"inquiry #{inquiry.id} (stage "
            f"{inquiry.stage.value})", to=thread.to.email, template=rendered.name,
            file_name=doc.file_name, sha256=doc.sha256, remarks=remarks),
        message_id=make_message_id(draft_id, sender.rpartition("@")[2]),
        grade=buyer.grade or inquiry.grade or "-", variant=kind)
    email = build_message(composed, [attachment] if attachment else [], sender=sender,
                          draft_id=draft_id, message_id=composed.message_id, date=now)
    label = buyer.company or buyer.contact_name or thread.to.email
    file_name = review.file_name(draft_id, grade=composed.grade, buyer_label=label, when=now)
    outbox.record_draft(session, draft_id, kind, thread.to.email, composed.subject,
                        composed.message_id, file_name, buyer_id=buyer.id,
                        inquiry_id=inquiry.id, in_reply_to_message=thread.last_id,
                        mailbox_name=settings.reply_mailbox(buyer.owner, thread.mailbox_name),
                        body_sha256=body_digest(email))
    doc.draft_id = draft_id
    session.add(Event(name="deal_document", buyer_id=buyer.id, draft_id=draft_id,
                      data={"kind": kind, "number": doc.number, "inquiry": inquiry.id,
                            "total": context["terms"]["total"], "file": doc.file_name,
                            "sha256": doc.sha256}))
    session.flush()
    written = write_for_review(session, review, draft_id, email, composed.context,
                               grade=composed.grade, buyer_label=label, when=now)
    path = settings.paths.state / doc.file_name if doc.file_name else None
    return Issued(kind, doc.number, draft_id, written, context["terms"]["total"],
                  context["terms"]["currency"], path, doc.sha256)
