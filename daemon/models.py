"""The database: SQLAlchemy 2.0 typed models of the buyer database and the mail flow.

Unique constraints make duplicates impossible rather than unlikely: one stored message
per (mailbox, folder, uidvalidity, uid), one buyer per address, one delivery per
(campaign, buyer), one outgoing Message-ID per draft. Schema changes go through the
Alembic migrations in daemon/migrations/.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back time-zone aware (SQLite forgets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)


# Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class MessageState(enum.StrEnum):
    STORED = "stored"            # raw bytes kept, not yet processed
    PROCESSED = "processed"      # went through every stage
    FAILED = "failed"            # an attempt failed; retried on later cycles
    QUARANTINED = "quarantined"  # set aside for a person, with the reason


class DraftState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    UNKNOWN = "unknown"          # died mid-send: a person decides
    FAILED = "failed"
    REJECTED = "rejected"


class Stage(enum.StrEnum):
    NEW = "new"
    QUOTED = "quoted"
    NEGOTIATING = "negotiating"
    SAMPLE = "sample"
    CONFIRMED = "confirmed"
    CONTRACT = "contract"
    WON = "won"
    LOST = "lost"
    DORMANT = "dormant"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native ENUM type), so adding a value needs no ALTER TYPE.
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Mailbox(Base):
    """A configured mailbox, with the health of its polls."""

    __tablename__ = "mailboxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    last_poll_at: Mapped[datetime | None]
    last_poll_ok_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    failures_in_row: Mapped[int] = mapped_column(default=0)
    cursors: Mapped[list[FolderCursor]] = relationship(back_populates="mailbox")


class FolderCursor(Base):
    """How far one folder has been read: everything at or below last_uid is stored."""

    __tablename__ = "folder_cursors"
    __table_args__ = (UniqueConstraint("mailbox_id", "folder"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id"))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    mailbox: Mapped[Mailbox] = relationship(back_populates="cursors")


class Poll(Base):
    """One poll of one mailbox: when, how many, what went wrong."""

    __tablename__ = "polls"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    fetched: Mapped[int] = mapped_column(default=0)
    stored: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    """One mail that came in (or that we sent), with its processing state."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "folder", "uidvalidity", "uid"),
        UniqueConstraint("mailbox_id", "folder", "source_key"),
        Index("ix_messages_dedup", "mailbox_id", "folder", "dedup_key"),
        Index("ix_messages_state", "state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), default="in")  # "in" or "out"
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"))
    folder: Mapped[str | None] = mapped_column(String(500))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    # A Maildir has no UIDs: its file's unique name (before ":2,") stands in for one.
    source_key: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(998), default="", index=True)
    dedup_key: Mapped[str] = mapped_column(String(64))  # Message-ID, or a hash of key headers
    size: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[MessageState] = mapped_column(_enum(MessageState), default=MessageState.STORED)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Which instance is processing it, until when (migration 0006): a claim that outlives
    # a dead instance expires and another takes the message over.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    kind: Mapped[str | None] = mapped_column(String(30))
    sent_at: Mapped[datetime | None]
    from_addr: Mapped[str | None] = mapped_column(String(320), index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    raw: Mapped[RawMessage | None] = relationship(cascade="all, delete-orphan")


class RawMessage(Base):
    """The message's bytes exactly as fetched; kept apart so listings stay light."""

    __tablename__ = "raw_messages"
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Buyer(Base):
    """A company or person who buys or may buy; one row however many addresses."""

    __tablename__ = "buyers"
    id: Mapped[int] = mapped_column(primary_key=True)
    company: Mapped[str] = mapped_column(String(300), default="")
    # The company name folded for matching ("Al Noor Trading LLC" -> "al noor trading").
    company_key: Mapped[str] = mapped_column(String(300), default="", index=True)
    contact_name: Mapped[str] = mapped_column(String(300), default="")
    country: Mapped[str] = mapped_column(String(2), default="")  # ISO 3166 alpha-2
    region: Mapped[str] = mapped_column(String(40), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(40), default="")  # platform, trade-show, website...
    buyer_type: Mapped[str] = mapped_column(String(40), default="")  # importer, retailer...
    grade: Mapped[str | None] = mapped_column(String(1))
    grade_source: Mapped[str] = mapped_column(String(10), default="auto")  # auto | override
    owner: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="active")
    phone: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(10), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_contact_at: Mapped[datetime | None]
    last_contact_at: Mapped[datetime | None]
    next_followup_at: Mapped[datetime | None] = mapped_column(index=True)
    # Follow-ups (migration 0004): sent since the buyer last wrote, and the last one's time.
    followups_unanswered: Mapped[int] = mapped_column(default=0)
    last_followup_at: Mapped[datetime | None]
    addresses: Mapped[list[BuyerAddress]] = relationship(back_populates="buyer")


class BuyerAddress(Base):
    """An email address; belongs to exactly one buyer."""

    __tablename__ = "buyer_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    domain: Mapped[str] = mapped_column(String(255), default="", index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")  # bounced, unsubscribed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    buyer: Mapped[Buyer] = relationship(back_populates="addresses")


class GradeChange(Base):
    """A buyer's grade over time: who or what set it, and why."""

    __tablename__ = "grade_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    grade: Mapped[str] = mapped_column(String(1))
    source: Mapped[str] = mapped_column(String(10))  # auto | override
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id"))
    by: Mapped[str] = mapped_column(String(100), default="")
    reasons: Mapped[list[Any]] = mapped_column(default=list)


class Inquiry(Base):
    """A buyer's request, graded, followed through its stages."""

    __tablename__ = "inquiries"
    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    grade: Mapped[str] = mapped_column(String(1))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    products: Mapped[list[Any]] = mapped_column(default=list)
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kind: Mapped[str] = mapped_column(String(30), default="inquiry")
    country: Mapped[str] = mapped_column(String(2), default="")
    stage: Mapped[Stage] = mapped_column(_enum(Stage), default=Stage.NEW)
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(Base):
    """A message we wrote, waiting for review or on its way out."""

    __tablename__ = "drafts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # reply, followup, newsletter, confirmation
    state: Mapped[DraftState] = mapped_column(_enum(DraftState), default=DraftState.PENDING)
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id"))
    in_reply_to_message: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    outgoing_message_id: Mapped[str] = mapped_column(String(998), unique=True)
    to_addr: Mapped[str] = mapped_column(String(320), index=True)  # earlier drafts to them
    subject: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    # Review and sending (migration 0003).
    mailbox_name: Mapped[str] = mapped_column(String(100), default="")  # whose Sent folder
    body_sha256: Mapped[str] = mapped_column(String(64), default="")  # body as drafted
    edits: Mapped[str] = mapped_column(String(100), default="")  # "subject,body,recipients"
    sent_subject: Mapped[str | None] = mapped_column(Text)  # the subject as sent, when edited
    approved_at: Mapped[datetime | None]
    smtp_reply: Mapped[str | None] = mapped_column(Text)  # the server's words on acceptance
    # NULL while a sent draft's copy is not yet in the mailbox's Sent folder.
    sent_copy_at: Mapped[datetime | None] = mapped_column(index=True)
    sent_copy_error: Mapped[str | None] = mapped_column(Text)
    sending_by: Mapped[str | None] = mapped_column(String(200))  # the instance mid-send


class Campaign(Base):
    """A newsletter: a template sent to a segment of the buyer database."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(Text, default="")
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scheduled_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(20), default="draft")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One campaign's message to one buyer: recorded so a resumed campaign skips it."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("campaign_id", "buyer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    address: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    outgoing_message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    sending_by: Mapped[str | None] = mapped_column(String(200))  # the instance mid-send


class Event(Base):
    """The log of what happened, for history and audit: one row per event."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    name: Mapped[str] = mapped_column(String(60))
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    draft_id: Mapped[str | None] = mapped_column(ForeignKey("drafts.id"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- deal stages and their documents (migration 0005) ---

class StageChange(Base):
    """One move of an inquiry from stage to stage, with who moved it and why."""

    __tablename__ = "stage_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(100), default="inquiryd")  # a person, or inquiryd
    at: Mapped[datetime] = mapped_column(default=utcnow)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))  # the mail that said so
    draft_id: Mapped[str | None] = mapped_column(ForeignKey("drafts.id"))  # or our mail that did


class Sample(Base):
    """A physical sample sent to a buyer, followed up when it should have arrived."""

    __tablename__ = "samples"
    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    sku: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(default=1)
    courier: Mapped[str] = mapped_column(String(100), default="")
    tracking: Mapped[str] = mapped_column(String(200), default="")
    # Who pays: "free-collect" (free sample, freight collect: the default), "tt-first"
    # (a large sample paid by T/T before it leaves), "prepaid" (we pay the freight).
    payment: Mapped[str] = mapped_column(String(20), default="free-collect")
    sent_at: Mapped[datetime | None]
    expected_at: Mapped[datetime | None] = mapped_column(index=True)
    arrived_at: Mapped[datetime | None]
    followed_up_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DealDocument(Base):
    """A confirmation letter, proforma invoice or contract, numbered per kind and year."""

    __tablename__ = "deal_documents"
    __table_args__ = (UniqueConstraint("kind", "year", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # confirmation, pi, contract
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # e.g. PI-2026-0007
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)  # every term, as stated
    file_name: Mapped[str] = mapped_column(String(300), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    draft_id: Mapped[str | None] = mapped_column(ForeignKey("drafts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RfqLead(Base):
    """One buyer's RFQ listed in a platform digest, to be answered on the platform."""

    __tablename__ = "rfq_leads"
    __table_args__ = (UniqueConstraint("platform", "rfq_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(40))
    rfq_key: Mapped[str] = mapped_column(String(200))  # the platform's RFQ id, else a hash
    title: Mapped[str] = mapped_column(Text, default="")
    buyer_name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(300), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    quantity: Mapped[str] = mapped_column(String(100), default="")
    skus: Mapped[list[Any]] = mapped_column(default=list)  # our products it matches
    url: Mapped[str] = mapped_column(Text, default="")
    posted_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    state: Mapped[str] = mapped_column(String(20), default="open")  # open, answered, ignored
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Lease(Base):
    """A lease held by one instance (migration 0006): on a mailbox while it is polled, on
    one firing of a scheduled job, or on the instance itself as its heartbeat. It is
    renewed while the holder lives; once expired, another instance may take it over."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    done_at: Mapped[datetime | None]  # a job firing that finished: never run again
