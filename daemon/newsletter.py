"""Newsletters, the pure part: who is in a segment, who may be written to this week,
and the unsubscribe tokens every newsletter carries.

No I/O here: campaigns.py loads the files and buyers and sends; record.py applies the
token and bounce decisions to the database.

Unsubscribe tokens. Each newsletter's `List-Unsubscribe` is
`<mailto:SENDER?subject=unsubscribe%20TOKEN>`, TOKEN = `<address id>-<20 hex>`, the hex
being HMAC-SHA256(secret, "unsubscribe:<address id>") cut to 80 bits. The token names the
address the newsletter went to, so a click from a forwarded copy or a colleague's
mailbox still unsubscribes the right address, and a guessed or edited token does
nothing. A token is found in the subject ("unsubscribe TOKEN", what a mailto click
sends) or in a recipient address `local+unsubscribe-TOKEN@domain` (for desks whose
server delivers plus-addresses to the sales mailbox). The secret lives in
`<state>/unsubscribe.key` (0600, made on first use), never in the config.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from urllib.parse import quote

from daemon.errors import ConfigError

# Buyers in these states never get newsletters (domain.md: won, lost, do-not-contact).
NO_NEWSLETTER_STATUSES = frozenset({"won", "lost", "do-not-contact", "do_not_contact"})
# Messages counted by the weekly frequency cap, shared with follow-ups.
AUTOMATIC_KINDS = ("followup", "newsletter")
CAP_WINDOW = timedelta(days=7)

SEGMENT_KEYS = ("grades", "regions", "countries", "sources", "buyer_types", "products",
                "last_contact_before", "last_contact_after")
_TOKEN = re.compile(r"\b(\d{1,12})-([0-9a-f]{20})\b")
_SUBJECT_TOKEN = re.compile(r"unsubscribe[\s:_-]+(\d{1,12}-[0-9a-f]{20})\b", re.IGNORECASE)
_PLUS_TOKEN = re.compile(r"\+unsubscribe-(\d{1,12}-[0-9a-f]{20})@", re.IGNORECASE)


# -- segments ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """Who a campaign is for; an empty criterion matches everyone."""

    grades: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    buyer_types: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()      # SKUs a buyer asked about in an inquiry
    last_contact_before: datetime | None = None
    last_contact_after: datetime | None = None

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], where: str) -> Segment:
        """A segment from a `[segment]` table; ConfigError naming `where` and the key."""
        unknown = sorted(set(data) - set(SEGMENT_KEYS))
        if unknown:
            raise ConfigError([f"{where}: segment.{k}: unknown key (one of "
                               f"{', '.join(SEGMENT_KEYS)})" for k in unknown])
        values: dict[str, Any] = {}
        for key in SEGMENT_KEYS[:6]:
            items = data.get(key, [])
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{where}: segment.{key}: a list of words, e.g. [\"A\", \"B\"]")
            fold = str.upper if key in ("grades", "countries", "products") else str.lower
            values[key] = frozenset(fold(i.strip()) for i in items if i.strip())
        for key in SEGMENT_KEYS[6:]:
            if key in data:
                values[key] = _moment(data[key], f"{where}: segment.{key}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for the Campaign row."""
        out: dict[str, Any] = {k: sorted(getattr(self, k)) for k in SEGMENT_KEYS[:6]
                               if getattr(self, k)}
        for key in SEGMENT_KEYS[6:]:
            value = getattr(self, key)
            if value is not None:
                out[key] = value.isoformat()
        return out


def _moment(value: Any, where: str) -> datetime:
    """A TOML date or datetime as an aware UTC datetime (a date means its midnight UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc)
    raise ConfigError(f"{where}: a TOML date (2025-01-31) or date-time, not {value!r}")


@dataclass(frozen=True)
class BuyerFacts:
    """What segment matching needs to know of one buyer and their chosen address."""

    buyer_id: int
    address: str
    address_status: str = "active"
    status: str = "active"
    grade: str | None = None
    region: str = ""
    country: str = ""
    source: str = ""
    buyer_type: str = ""
    skus: frozenset[str] = field(default_factory=frozenset)
    last_contact_at: datetime | None = None


def never_mailed(facts: BuyerFacts) -> str:
    """Why this buyer or address may get no newsletter at all ('' when they may)."""
    if facts.address_status != "active":
        return f"address {facts.address} is {facts.address_status}"
    if facts.status.lower() in NO_NEWSLETTER_STATUSES:
        return f"buyer is {facts.status}"
    return ""


def outside(segment: Segment, facts: BuyerFacts) -> str:
    """Why the buyer is not in the segment ('' when they are)."""
    checks = (("grade", segment.grades, (facts.grade or "").upper()),
              ("region", segment.regions, facts.region.lower()),
              ("country", segment.countries, facts.country.upper()),
              ("source", segment.sources, facts.source.lower()),
              ("buyer type", segment.buyer_types, facts.buyer_type.lower()))
    for name, wanted, value in checks:
        if wanted and value not in wanted:
            return f"{name} {value or '(none)'} not in {', '.join(sorted(wanted))}"
    if segment.products and not segment.products & {s.upper() for s in facts.skus}:
        return "never asked about " + ", ".join(sorted(segment.products))
    last = facts.last_contact_at
    if segment.last_contact_before and (last is None or last >= segment.last_contact_before):
        return f"last contact {_day(last)} not before {_day(segment.last_contact_before)}"
    if segment.last_contact_after and (last is None or last <= segment.last_contact_after):
        return f"last contact {_day(last)} not after {_day(segment.last_contact_after)}"
    return ""


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "never"


def exclusion(segment: Segment, facts: BuyerFacts) -> str:
    """'' when the buyer gets this newsletter; otherwise why not, in words."""
    return never_mailed(facts) or outside(segment, facts)


# -- the frequency cap ----------------------------------------------------------------------

def over_cap(recent_automatic: int, per_week: int) -> bool:
    """True when a buyer already had `per_week` automatic messages in the last 7 days."""
    return recent_automatic >= per_week


def cap_reason(recent_automatic: int, per_week: int) -> str:
    return (f"frequency cap: {recent_automatic} automatic messages in the last 7 days "
            f"(at most {per_week} a week)")


# -- unsubscribe tokens ---------------------------------------------------------------------

def make_token(secret: bytes, address_id: int) -> str:
    """The unsubscribe token of one buyer address."""
    return f"{address_id}-{_mac(secret, address_id)}"


def _mac(secret: bytes, address_id: int) -> str:
    digest = hmac.new(secret, f"unsubscribe:{address_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def verify_token(secret: bytes, token: str) -> int | None:
    """The address id a token names, or None when it is not one we made."""
    found = _TOKEN.fullmatch(token.strip().lower())
    if not found:
        return None
    address_id = int(found.group(1))
    return address_id if hmac.compare_digest(found.group(2), _mac(secret, address_id)) else None


def find_tokens(subject: str, recipients: Iterable[str]) -> tuple[str, ...]:
    """Candidate tokens in a message: "unsubscribe TOKEN" subjects, +unsubscribe-TOKEN
    addresses. Never the body: a buyer's reply may quote a newsletter."""
    found = [m.group(1) for m in _SUBJECT_TOKEN.finditer(subject or "")]
    found += [m.group(1) for a in recipients if (m := _PLUS_TOKEN.search(a))]
    return tuple(dict.fromkeys(t.lower() for t in found))


def list_unsubscribe(sender: str, token: str, url: str = "") -> str:
    """The List-Unsubscribe value (RFC 2369; the https URL for RFC 8058 one-click)."""
    value = f"<mailto:{sender}?subject={quote('unsubscribe ' + token)}>"
    if url:
        joiner = "&" if "?" in url else "?"
        value += f", <{url}{joiner}token={quote(token)}>"
    return value


# -- bounces ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AddressRules:
    """How ingest treats unsubscribe tokens and soft bounces (built from the config)."""

    secret: bytes | None = None          # None: tokens are not checked
    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=30)


def soft_bounces_exhausted(times: Iterable[datetime], now: datetime, rules: AddressRules) -> bool:
    """True when the soft bounces within the window reach the limit."""
    since = now - rules.soft_bounce_window
    return sum(1 for t in times if t >= since) >= rules.soft_bounce_limit


# -- the message: built once, filled per recipient -------------------------------------------

@dataclass(frozen=True)
class Recipient:
    """The per-recipient fields of one newsletter copy."""

    address: str
    name: str
    message_id: str          # "<...>"
    token: str


class NewsletterMessage:
    """One campaign's message as bytes, built once; `for_recipient` adds To, Message-ID
    and List-Unsubscribe (and the body, when the template names the buyer).

    Field notes: an EmailMessage costs ~2.8 ms and ~96 KiB to build, so the shared
    headers are built and flattened once; per recipient only a few header lines are
    formatted and joined to the shared bytes.
    """

    def __init__(self, *, sender: str, subject: str, date: datetime, campaign: str,
                 loop_marker: str, unsubscribe_url: str = "", language: str = "en",
                 body: str | None = None):
        head = EmailMessage()
        head["From"] = sender
        head["Subject"] = _one_line(subject)[:200]
        head["Date"] = format_datetime(date)
        head["Auto-Submitted"] = "auto-generated"
        head["Precedence"] = "bulk"
        if unsubscribe_url:
            head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        head["X-Inquiryd-Campaign"] = campaign
        head["X-Inquiryd-Loop"] = loop_marker
        head["MIME-Version"] = "1.0"
        head["Content-Language"] = language
        self._head = head.as_bytes(policy=email.policy.SMTP).rstrip(b"\r\n") + b"\r\n"
        self._sender = _address_only(sender)
        self._url = unsubscribe_url
        self._body = text_part(body) if body is not None else None

    def for_recipient(self, recipient: Recipient, body: str | None = None) -> bytes:
        """The whole message for one recipient; `body` only when not shared."""
        part = self._body if body is None else text_part(body)
        if part is None:
            raise ValueError("this newsletter's body depends on the buyer: pass it")
        to = formataddr((_one_line(recipient.name)[:200], recipient.address), "utf-8")
        unsubscribe = list_unsubscribe(self._sender, recipient.token, self._url)
        lines = (f"To: {to}\r\nMessage-ID: {recipient.message_id}\r\n"
                 f"List-Unsubscribe: {unsubscribe}\r\n").encode("ascii")
        return lines + self._head + part


def text_part(body: str) -> bytes:
    """Content headers, the blank line and the body: 7bit when it can be, else base64."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= 900 for line in text.split("\n")):
        encoding, payload = "7bit", text.replace("\n", "\r\n").encode("ascii")
    else:
        encoding = "base64"
        payload = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return (b'Content-Type: text/plain; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: " + encoding.encode() + b"\r\n\r\n" + payload)


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def _one_line(text: str) -> str:
    return " ".join(_CONTROLS.sub(" ", text).split())


def _address_only(sender: str) -> str:
    return parseaddr(sender)[1]


__all__ = [
    "AUTOMATIC_KINDS",
    "CAP_WINDOW",
    "NO_NEWSLETTER_STATUSES",
    "AddressRules",
    "BuyerFacts",
    "NewsletterMessage",
    "Recipient",
    "Segment",
    "cap_reason",
    "exclusion",
    "find_tokens",
    "list_unsubscribe",
    "make_token",
    "never_mailed",
    "outside",
    "over_cap",
    "soft_bounces_exhausted",
    "text_part",
    "verify_token",
]
