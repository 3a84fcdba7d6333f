"""The rule kinds of the classify stage: each a small frozen class with a `check`.

A rule in `rules/classify.toml` names one of these kinds in its `kind` key; the other
keys are the kind's parameters (declared in `PARAMS`, converted and checked by
`daemon.classify` before the class is built). `check(mail, context)` returns a `Hit`
(the values its description may use, and the lead a platform rule read) or None.
Also here: how a bounce is recognised without a delivery-status part, and how a
platform notification's fields become a `PlatformLead`. Pure: stdlib and daemon.types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from daemon.types import Attachment, Kind, Mail, PlatformLead

if TYPE_CHECKING:
    from daemon.classify import ClassifyContext

ParamType = Literal["text", "texts", "regexes", "flag", "count", "kind", "fields"]

# Mail fields a `header` rule may read; "Auto-Submitted" and "auto_submitted" both work.
HEADER_FIELDS = ("auto_submitted", "precedence", "list_id", "list_unsubscribe",
                 "return_path", "x_autoreply", "content_type", "report_type")
TEXT_PARTS = ("subject", "text", "quoted", "signature")
LEAD_FIELDS = tuple(f.name for f in fields(PlatformLead) if f.name != "platform")
_SHOWN = 80  # characters of a header or subject quoted in a reason


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter a rule kind accepts: its type and whether the rule must give it."""

    type: ParamType
    required: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """What a matching rule found: placeholder values and, for some kinds, more."""

    values: dict[str, str] = field(default_factory=dict)
    kind: Kind | None = None              # overrides the rule's result (default rule)
    platform: PlatformLead | None = None
    description: str = ""                 # replaces the rule's description when set


def short(text: str, limit: int = _SHOWN) -> str:
    """A value cut to fit in one line of a reason."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def keyword(value: str) -> str:
    """The first word of a header value, lower-cased: "auto-generated (failure)" -> it."""
    return re.split(r"[\s;(]", value.strip(), maxsplit=1)[0].lower()


def in_domains(domain: str, domains: tuple[str, ...] | frozenset[str]) -> bool:
    """Is `domain` one of `domains` or a subdomain of one (mx.example.com of example.com)?"""
    domain = domain.lower().rstrip(".")
    return bool(domain) and any(
        domain == d or domain.endswith("." + d) for d in (x.lower().strip(".") for x in domains))


def first_hit(patterns: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    return next((m for p in patterns if (m := p.search(text))), None)


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """A loop-related header is present, equals one of some values, or matches a regex."""

    KIND: ClassVar[str] = "header"
    PARAMS: ClassVar[dict[str, Param]] = {
        "header": Param("text", required=True), "present": Param("flag"),
        "equals": Param("texts"), "matches": Param("regexes"), "unless": Param("texts")}
    FILLS: ClassVar[frozenset[str]] = frozenset({"header", "value"})

    header: str
    present: bool = False
    equals: tuple[str, ...] = ()
    matches: tuple[re.Pattern[str], ...] = ()
    unless: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.attribute not in HEADER_FIELDS:
            raise ValueError(f"header {self.header!r} is not one classify reads; use one "
                             f"of {', '.join(HEADER_FIELDS)}")
        if sum((self.present, bool(self.equals), bool(self.matches))) != 1:
            raise ValueError("give exactly one of present, equals or matches")

    @property
    def attribute(self) -> str:
        return self.header.strip().lower().replace("-", "_")

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        value = str(getattr(mail, self.attribute))
        word = keyword(value)
        if not value.strip() or word in {u.lower() for u in self.unless}:
            return None
        if (self.present or word in {e.lower() for e in self.equals}
                or any(p.search(value) for p in self.matches)):
            return Hit({"header": self.header, "value": short(value)})
        return None


@dataclass(frozen=True, slots=True)
class SenderRule:
    """The From address (whole), its local part (whole) or its domain looks like a machine's."""

    KIND: ClassVar[str] = "sender"
    PARAMS: ClassVar[dict[str, Param]] = {
        "addresses": Param("regexes"), "local_parts": Param("regexes"),
        "domains": Param("texts")}
    FILLS: ClassVar[frozenset[str]] = frozenset({"address", "name"})

    addresses: tuple[re.Pattern[str], ...] = ()
    local_parts: tuple[re.Pattern[str], ...] = ()
    domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.addresses or self.local_parts or self.domains):
            raise ValueError("give at least one of addresses, local_parts or domains")

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        sender = mail.from_
        if sender is None:
            return None
        local = sender.email.rpartition("@")[0]
        if (any(p.fullmatch(sender.email) for p in self.addresses)
                or any(p.fullmatch(local) for p in self.local_parts)
                or in_domains(sender.domain, self.domains)):
            return Hit({"address": sender.email, "name": sender.name})
        return None


@dataclass(frozen=True, slots=True)
class SubjectRule:
    """The subject matches one of the patterns (case-insensitive, any language)."""

    KIND: ClassVar[str] = "subject"
    PARAMS: ClassVar[dict[str, Param]] = {"patterns": Param("regexes", required=True)}
    FILLS: ClassVar[frozenset[str]] = frozenset({"subject", "matched"})

    patterns: tuple[re.Pattern[str], ...]

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        found = first_hit(self.patterns, mail.subject)
        if found is None:
            return None
        return Hit({"subject": short(mail.subject), "matched": short(found.group())})


@dataclass(frozen=True, slots=True)
class BodyRule:
    """Enough of the patterns occur in the chosen parts (the new text by default)."""

    KIND: ClassVar[str] = "body"
    PARAMS: ClassVar[dict[str, Param]] = {
        "patterns": Param("regexes", required=True), "min_hits": Param("count"),
        "require": Param("regexes"), "search_in": Param("texts")}
    FILLS: ClassVar[frozenset[str]] = frozenset({"matched", "hits"})

    patterns: tuple[re.Pattern[str], ...]
    min_hits: int = 1
    require: tuple[re.Pattern[str], ...] = ()
    # Only what the sender wrote now: a quoted newsletter footer says "unsubscribe" too.
    search_in: tuple[str, ...] = ("text",)

    def __post_init__(self) -> None:
        wrong = [p for p in self.search_in if p not in TEXT_PARTS]
        if wrong or not self.search_in:
            raise ValueError(f"search_in takes some of {', '.join(TEXT_PARTS)}, "
                             f"not {', '.join(wrong) or 'nothing'}")
        if self.min_hits < 1:
            raise ValueError("min_hits must be 1 or more")

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        text = "\n".join(str(getattr(mail, part)) for part in self.search_in)
        found = [m for p in self.patterns if (m := p.search(text))]
        if len(found) < self.min_hits or not all(p.search(text) for p in self.require):
            return None
        matched = ", ".join(f"“{short(m.group(), 40)}”" for m in found[:3])
        return Hit({"matched": matched, "hits": str(len(found))})


@dataclass(frozen=True, slots=True)
class DeliveryReportRule:
    """A bounce: an RFC 3464 report, or a server's own wording recognised by patterns.

    Without a delivery-status part, one `signatures` phrase (wording only mail servers
    use) is enough; otherwise two of three clues must agree: the subject, the sender's
    local part and the body wording. A buyer who writes "could not be delivered" about
    a parcel shows only one. (Who failed and how badly is read in daemon.classify.)
    """

    KIND: ClassVar[str] = "delivery-report"
    PARAMS: ClassVar[dict[str, Param]] = {
        "subjects": Param("regexes"), "senders": Param("regexes"),
        "bodies": Param("regexes"), "signatures": Param("regexes")}
    FILLS: ClassVar[frozenset[str]] = frozenset({"evidence"})

    subjects: tuple[re.Pattern[str], ...] = ()
    senders: tuple[re.Pattern[str], ...] = ()
    bodies: tuple[re.Pattern[str], ...] = ()
    signatures: tuple[re.Pattern[str], ...] = ()

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        evidence = bounce_evidence(mail, self.subjects, self.senders, self.bodies,
                                   self.signatures)
        return None if evidence is None else Hit({"evidence": evidence})


@dataclass(frozen=True, slots=True)
class ReplyToUsRule:
    """The pipeline found one of our Message-IDs in In-Reply-To or References."""

    KIND: ClassVar[str] = "reply-to-us"
    PARAMS: ClassVar[dict[str, Param]] = {}
    FILLS: ClassVar[frozenset[str]] = frozenset({"in_reply_to"})

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        if not context.refers_to_us:
            return None
        return Hit({"in_reply_to": mail.in_reply_to or next(iter(mail.references), "")})


@dataclass(frozen=True, slots=True)
class PlatformRule:
    """A B2B platform's notification: sender domain, subject, and the lead's fields.

    `fields` maps PlatformLead fields to regexes whose first group is the value. With
    `lead = false` (an RFQ digest: many buyers, none to answer by mail) the message is
    still a platform notification but carries no PlatformLead.
    """

    KIND: ClassVar[str] = "platform"
    PARAMS: ClassVar[dict[str, Param]] = {
        "platform": Param("text", required=True), "domains": Param("texts", required=True),
        "subjects": Param("regexes"), "lead": Param("flag"), "fields": Param("fields")}
    FILLS: ClassVar[frozenset[str]] = frozenset({"platform", "buyer", "country", "subject"})

    platform: str
    domains: tuple[str, ...]
    subjects: tuple[re.Pattern[str], ...] = ()
    lead: bool = True
    fields: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        sender = mail.from_
        if sender is None or not in_domains(sender.domain, self.domains):
            return None
        if self.subjects and first_hit(self.subjects, mail.subject) is None:
            return None
        lead = lead_from(self.platform, mail, self.fields) if self.lead else None
        values = {"platform": self.platform, "subject": short(mail.subject),
                  "buyer": (lead.buyer_name if lead else "") or "not named",
                  "country": (lead.country if lead else "") or "not named"}
        return Hit(values, platform=lead)


@dataclass(frozen=True, slots=True)
class OwnDomainRule:
    """Mail from one of our own domains (or a subdomain): a colleague, not a buyer."""

    KIND: ClassVar[str] = "own-domain"
    PARAMS: ClassVar[dict[str, Param]] = {}
    FILLS: ClassVar[frozenset[str]] = frozenset({"address"})

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        sender = mail.from_
        if sender is None or not in_domains(sender.domain, tuple(context.own_domains)):
            return None
        return Hit({"address": sender.email})


_LETTERS = re.compile(r"[^\W\d_]{2}")


def _is_document(attachment: Attachment) -> bool:
    """A file a person attached, not a returned message or its headers."""
    kind = attachment.content_type.lower()
    return not (kind.startswith("message/") or kind == "text/rfc822-headers")


@dataclass(frozen=True, slots=True)
class DefaultRule:
    """The last rule: a person wrote to us (the rule's result), or nothing to read."""

    KIND: ClassVar[str] = "default"
    PARAMS: ClassVar[dict[str, Param]] = {
        "otherwise": Param("kind"), "otherwise_description": Param("text")}
    FILLS: ClassVar[frozenset[str]] = frozenset({"address", "words"})

    otherwise: Kind = Kind.OTHER
    otherwise_description: str = "Nothing a person wrote to us"

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None:
        address = mail.from_.email if mail.from_ else ""
        values = {"address": address or "(none)", "words": str(len(mail.text.split()))}
        # A short "send price" is a buyer; an attachment with only a subject can be too.
        written = _LETTERS.search(mail.text) or (
            any(map(_is_document, mail.attachments)) and _LETTERS.search(mail.subject))
        if address and written:
            return Hit(values)
        return Hit(values, kind=self.otherwise, description=self.otherwise_description)


class RuleKind(Protocol):
    """What every rule kind class has: its name, parameters, placeholders and check."""

    KIND: ClassVar[str]
    PARAMS: ClassVar[dict[str, Param]]
    FILLS: ClassVar[frozenset[str]]

    def __init__(self, **params: Any) -> None: ...

    def check(self, mail: Mail, context: ClassifyContext) -> Hit | None: ...


RULE_KINDS: dict[str, type[RuleKind]] = {cls.KIND: cls for cls in (
    HeaderRule, SenderRule, SubjectRule, BodyRule, DeliveryReportRule, ReplyToUsRule,
    PlatformRule, OwnDomainRule, DefaultRule)}


# --------------------------------------------------------------- bounce evidence

# RFC 3464 2.3.3: these actions say the message went on; a report of only these is a
# receipt, not a failure.
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})


def bounce_evidence(mail: Mail, subjects: tuple[re.Pattern[str], ...],
                    senders: tuple[re.Pattern[str], ...], bodies: tuple[re.Pattern[str], ...],
                    signatures: tuple[re.Pattern[str], ...]) -> str | None:
    """Why `mail` is a bounce, in words; None when it is not one."""
    if mail.report_type == "delivery-status" or mail.delivery_status:
        actions = {keyword(d.action) for d in mail.delivery_status}
        success = bool(actions) and actions <= _SUCCESS_ACTIONS
        return None if success else "a delivery-status report (RFC 3464)"
    # A bounce's own wording may sit below a line the reply splitter took for a quote.
    body = f"{mail.text}\n{mail.quoted}"
    if signature := first_hit(signatures, body):
        return f"wording only mail servers use: “{short(signature.group(), 60)}”"
    address = mail.from_.email if mail.from_ else ""
    clues = [f"subject “{short(found.group(), 60)}”"
             for found in (first_hit(subjects, mail.subject),) if found]
    if address and any(p.fullmatch(address.rpartition("@")[0]) for p in senders):
        clues.append(f"sent by {address}")
    clues += [f"“{short(found.group(), 60)}”" for found in (first_hit(bodies, body),) if found]
    # Two clues of three: a buyer may write "could not be delivered" about a parcel.
    return " and ".join(clues) if len(clues) >= 2 else None


# ---------------------------------------------------------------- platform leads

_DASHES = "-\u2013\u2014_=*"  # hyphen, en and em dash, and the other rule characters
_PLACEHOLDER = re.compile(rf"^\(.*\)$|^[{_DASHES}\s]*$")  # "(not provided)", a rule


def _field_value(raw: str) -> str:
    lines = [line.strip() for line in raw.strip().splitlines()]
    # Platforms frame the buyer's message with rules of dashes; those are not words.
    lines = [line for line in lines if not re.fullmatch(f"[{_DASHES}]{{3,}}", line)]
    value = "\n".join(lines).strip()
    return "" if _PLACEHOLDER.match(value) else value


def lead_from(platform: str, mail: Mail,
              patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> PlatformLead:
    """The buyer's inquiry as the notification tells it; fields not found stay ''."""
    values: dict[str, str] = {}
    for name, pattern in patterns:
        found = pattern.search(mail.text)
        if found and name not in values:
            values[name] = _field_value(found.group(1) if pattern.groups else found.group())
    return PlatformLead(platform=platform, **values)
