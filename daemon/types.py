"""Typed data passed between the stages: what a parsed message looks like.

Pure and stdlib-only. `daemon.parse` turns raw bytes into a `Mail`; every later stage
(classify, extract, match, grade, draft) reads a `Mail` and never sees mail-parser's
dynamic objects. Everything here is frozen, so a stage cannot change what another saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header: display name (decoded) and address."""

    name: str
    email: str

    def __post_init__(self) -> None:
        # Matching buyers compares addresses; one spelling avoids "A@X.com" != "a@x.com".
        object.__setattr__(self, "email", self.email.strip().lower())

    @property
    def domain(self) -> str:
        """The part after the last '@' ('' when there is none)."""
        return self.email.rpartition("@")[2] if "@" in self.email else ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attached file as the sender named it; its content stays in the raw message.

    `size` is the decoded size in bytes. `filename` is untrusted text: never join it
    onto a path.
    """

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One recipient's block of a delivery-status report (RFC 3464), values as sent.

    `final_recipient` keeps its address type ("rfc822; a@b.example"); `recipient`
    gives the bare, lower-cased address.
    """

    final_recipient: str = ""
    action: str = ""
    status: str = ""
    diagnostic_code: str = ""
    original_recipient: str = ""
    remote_mta: str = ""
    reporting_mta: str = ""

    @property
    def recipient(self) -> str:
        """The failed address without its type prefix."""
        return self.final_recipient.rpartition(";")[2].strip().strip("<>").lower()

    @property
    def permanent(self) -> bool:
        """True for 5.x.x statuses (a retry will not help)."""
        return self.status.strip().startswith("5")


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Sizes above which a message is set aside instead of parsed (see field notes)."""

    max_bytes: int = 25 * 1024 * 1024
    max_depth: int = 50
    max_parts: int = 500
    max_header_bytes: int = 256 * 1024


@dataclass(frozen=True, slots=True)
class Mail:
    """A parsed message: only what the stages need, decoded and cleaned.

    Text fields hold no control characters that could break a header (`subject` never
    contains CR or LF). `text` is what the sender wrote in this message; `quoted` is the
    history below it and `signature` the block after "-- " or a clear sign-off, each ''
    when not recognised. Loop-related headers are copied as sent (decoded, unfolded):
    `return_path` is '' when the header is absent and '<>' when it is the empty path.
    `defects` lists, in words, what was broken but tolerated.
    """

    from_: Address | None = None
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    subject: str = ""
    date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    text: str = ""
    quoted: str = ""
    signature: str = ""
    html: bool = False
    auto_submitted: str = ""
    precedence: str = ""
    list_id: str = ""
    list_unsubscribe: str = ""
    return_path: str = ""
    x_autoreply: str = ""
    x_failed_recipients: str = ""     # Exim's and Google's list of addresses that failed
    content_type: str = "text/plain"
    report_type: str = ""
    attachments: tuple[Attachment, ...] = ()
    languages_hint: str = ""
    defects: tuple[str, ...] = ()
    delivery_status: tuple[DeliveryStatus, ...] = ()


# --- What the understanding stages decide (classify, extract, match, grade) ---------


class Kind(StrEnum):
    """What a message is, for the desk."""

    INQUIRY = "inquiry"            # a buyer asks about products, prices or terms
    REPLY = "reply"                # answers one of our messages (In-Reply-To/References)
    AUTO_REPLY = "auto_reply"      # out-of-office, vacation, autoresponder (RFC 3834)
    BOUNCE = "bounce"              # delivery failure report (RFC 3464 or not)
    UNSUBSCRIBE = "unsubscribe"    # asks to stop receiving our mail
    PLATFORM = "platform"          # a B2B platform forwards a buyer's inquiry
    NEWSLETTER = "newsletter"      # bulk mail to us (List-Id, Precedence: bulk)
    SPAM = "spam"                  # cold sales pitch, phishing
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision was made: the rule's name and words a salesperson understands."""

    rule: str
    text: str


@dataclass(frozen=True, slots=True)
class PlatformLead:
    """A buyer's inquiry as a platform notification tells it (the buyer's address hidden)."""

    platform: str
    buyer_name: str = ""
    buyer_company: str = ""
    country: str = ""          # as written ("United Arab Emirates"), not a code
    product: str = ""
    quantity: str = ""
    message: str = ""
    reply_url: str = ""


@dataclass(frozen=True, slots=True)
class Classification:
    kind: Kind
    reasons: tuple[Reason, ...] = ()
    platform: PlatformLead | None = None
    bounced: tuple[str, ...] = ()        # failed recipients, for bounces
    permanent_failure: bool = False      # a 5.x.x bounce


@dataclass(frozen=True, slots=True)
class ProductHit:
    sku: str
    name: str
    matched: str               # the keyword or SKU found in the text
    by_code: bool = False      # the model number itself was written, not a product word


@dataclass(frozen=True, slots=True)
class Quantity:
    amount: int
    unit: str                  # "pcs", "pairs", "sets", "cartons", "dozen" ...
    sku: str = ""              # the product it was written next to, when clear
    text: str = ""             # as written


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str              # ISO 4217: USD, EUR ...
    text: str = ""


@dataclass(frozen=True, slots=True)
class Incoterm:
    term: str                  # FOB, CIF, EXW, DDP, ...
    place: str = ""            # port or city, when given


@dataclass(frozen=True, slots=True)
class Extracted:
    """Everything the text tells about what the buyer wants."""

    products: tuple[ProductHit, ...] = ()
    quantities: tuple[Quantity, ...] = ()
    target_prices: tuple[Money, ...] = ()
    incoterms: tuple[Incoterm, ...] = ()
    delivery: date | None = None
    delivery_text: str = ""
    payment_terms: tuple[str, ...] = ()          # "T/T", "L/C", "30% deposit" ...
    requests: frozenset[str] = frozenset()       # sample, pi, catalogue, price_list, certificates, contract
    country: str = ""                            # ISO 3166 alpha-2, '' when unknown
    country_reason: str = ""                     # "phone prefix +971", "city Dubai", "domain .ae"
    language: str = ""                           # ISO 639-1 guess: en, es, fr, ru, ar, zh ...
    company: str = ""                            # company name from the signature, when clear
    contact_name: str = ""


@dataclass(frozen=True, slots=True)
class GradeResult:
    grade: str                                   # "A", "B", "C" or "D"
    reasons: tuple[Reason, ...] = ()
