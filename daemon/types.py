"""Typed data passed between the stages: what a parsed message looks like.

Pure and stdlib-only. `daemon.parse` turns raw bytes into a `Mail`; every later stage
(classify, extract, match, grade, draft) reads a `Mail` and never sees mail-parser's
dynamic objects. Everything here is frozen, so a stage cannot change what another saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
    content_type: str = "text/plain"
    report_type: str = ""
    attachments: tuple[Attachment, ...] = ()
    languages_hint: str = ""
    defects: tuple[str, ...] = ()
    delivery_status: tuple[DeliveryStatus, ...] = ()
