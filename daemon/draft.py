"""Drafting the reply to one message (pure): Decision + Mail -> ComposedDraft -> EmailMessage.

`compose` picks the template for the kind, grade and language, renders it with the
company profile, the buyer's history, what the buyer asked for and the quotation for
the buyer's region, and chooses the attachments (company profile, regional price
sheet, one e-sample per product). It returns None when no reply may be drafted: not a
buyer talking about buying (bounces, auto-replies, lists, spam ...), or a sender we must
never auto-answer (RFC 3834: our own domains, mailer-daemon, noreply, Auto-Submitted,
Precedence: bulk, List-Id). `skip_reason` says which, in words.

Which template (templates/README.md has the full layout):
  platform notification       -> platform (a text the salesperson pastes into the platform)
  grade A                     -> A   (quotation and PI offer)
  asks for samples, not A     -> sample
  grade B / C / D             -> B / C / D
in the buyer's language when templates/reply/<lang>/ has it, else English
(daemon.language). The first line of a rendered template is "Subject: ...".

A platform notification hides the buyer's address: the reply is typed into the
platform's message centre. Its draft is therefore addressed to the salesperson (the
configured sender), marked as a text to paste, with the platform's reply link.

What the reviewer needs (grade and reasons, buyer history, matched products and the
terms extracted) goes into `ComposedDraft.context`, the .txt beside the draft; the
templates receive the grade too, but the shipped ones never print it, and the tests
hold that line.

`build_message` turns a ComposedDraft and the attachment bytes into the RFC 5322 message
written to the review folder: From the configured sender, threaded (In-Reply-To,
References), Auto-Submitted: auto-replied, X-Inquiryd-Draft and X-Inquiryd-Loop.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any, Literal, Protocol

from jinja2 import TemplateError

from daemon import language
from daemon.catalog import Catalog, Product
from daemon.header_text import clean_line
from daemon.quotation import Quote, build_quote, money, render_quote
from daemon.templating import RenderError, render, split_subject
from daemon.types import Address, Classification, Extracted, GradeResult, Kind, Mail

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from daemon.config import Company
    from daemon.negotiation import Plan

DRAFTED_KINDS = frozenset({Kind.INQUIRY, Kind.PLATFORM, Kind.REPLY})
MAX_SUBJECT = 200                 # characters; a longer subject is a pasted message body
MAX_REFERENCES = 20               # RFC 5322 lets us trim the middle of a long thread
MAX_E_SAMPLES = 5                 # more e-samples than this and a price sheet says it better
LOOP_HEADER = "X-Inquiryd-Loop"
DRAFT_HEADER = "X-Inquiryd-Draft"
PLATFORM_HEADER = "X-Inquiryd-Platform-Reply"

# Local parts that are machines, never people (RFC 3834 section 2).
_MACHINE = re.compile(r"^(mailer-daemon|postmaster|listserv|majordomo|bounces?([-+.].*)?|"
                      r".*no[-_.]?reply.*|.*do[-_.]?not[-_.]?reply.*)$", re.IGNORECASE)
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$")
_DRAFT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")
# Reply prefixes in the languages of the trade: "Re: RE: AW: Antw: 回复: ..." (one or many).
_REPLY_PREFIX = re.compile(r"^(\s*(re|aw|sv|vs|antw|ref|rif|res|r|odp|ynt|回复|回覆|答复|答覆|"
                           r"ответ|رد)\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.IGNORECASE)
_BLANK_RUNS = re.compile(r"\n{3,}")


class DecisionLike(Protocol):
    """What drafting reads of daemon.understand.Decision."""

    @property
    def classification(self) -> Classification: ...
    @property
    def extracted(self) -> Extracted: ...
    @property
    def grade(self) -> GradeResult | None: ...
    @property
    def country(self) -> str: ...
    @property
    def region(self) -> str: ...


@dataclass(frozen=True, slots=True)
class BuyerView:
    """The buyer as the database knows them before this message."""

    name: str = ""
    company: str = ""
    country: str = ""                 # ISO 3166 alpha-2
    region: str = ""                  # market region: the price column and price sheet
    inquiries: int = 0                # earlier inquiries (0: first contact)
    last_contact: date | None = None


@dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """An attachment to add, before its file is found (daemon.attachments does that).

    `name` is the file name the buyer sees, without extension: the source file's own
    extension (.pdf, .xlsx) is added when it is read.
    """

    kind: Literal["profile", "price_sheet", "e_sample"]
    name: str
    sku: str = ""
    region: str = ""


@dataclass(frozen=True, slots=True)
class ComposedDraft:
    """A drafted reply: what the .eml holds, plus the reviewer's context (never sent)."""

    subject: str
    body: str
    to: Address
    in_reply_to: str
    references: tuple[str, ...]
    language: str
    template: str
    attachments: tuple[AttachmentSpec, ...]
    context: str
    message_id: str
    grade: str
    variant: str
    via_platform: bool = False
    platform_reply_url: str = ""


# ------------------------------------------------------------------ whether to draft


def skip_reason(decision: DecisionLike, mail: Mail, *,
                own_domains: frozenset[str] | Sequence[str] = ()) -> str | None:
    """Why no reply is drafted for this message, or None when one is."""
    kind = decision.classification.kind
    if kind not in DRAFTED_KINDS:
        return f"a {kind.value} message is not answered"
    if kind is Kind.PLATFORM:
        # The reply goes to the salesperson, not to the notifier: only a lead is needed.
        if decision.classification.platform is None:
            return "a platform digest (several RFQs): quote each on the platform"
        return None
    return _loop_reason(mail) or _address_reason(mail, frozenset(d.lower() for d in own_domains))


def _loop_reason(mail: Mail) -> str | None:
    """RFC 3834: never auto-answer automatic or list mail."""
    auto = mail.auto_submitted.strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto} (automatic mail is never answered)"
    if mail.precedence.strip().lower() in ("bulk", "junk", "list"):
        return f"Precedence: {mail.precedence.strip().lower()} (list or bulk mail)"
    if mail.list_id or mail.list_unsubscribe:
        return "sent through a mailing list (List-Id/List-Unsubscribe)"
    if mail.return_path.strip() == "<>":
        return "empty return path (a delivery report or automatic mail)"
    return None


def _address_reason(mail: Mail, own: frozenset[str]) -> str | None:
    if mail.from_ is None or not mail.from_.email:
        return "no sender address"
    for address in (mail.from_, reply_target(mail)):
        local, _, domain = address.email.rpartition("@")
        if domain in own or any(domain.endswith("." + d) for d in own):
            return f"{address.email} is one of our own addresses"
        if _MACHINE.match(local):
            return f"{address.email} is a machine address (mailer-daemon, noreply ...)"
        if not _ADDRESS.match(_ascii_address(address.email)):
            return f"{address.email!r} is not an address a reply can be sent to"
    return None


def reply_target(mail: Mail) -> Address:
    """Whom a reply goes to: the first Reply-To, else From (RFC 5322 section 3.6.2)."""
    for address in mail.reply_to:
        if address.email:
            return address
    return mail.from_ or Address("", "")


def _ascii_address(email: str) -> str:
    """The address with an internationalised domain in its ASCII (IDNA) form."""
    local, _, domain = email.rpartition("@")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return email


# ------------------------------------------------------------------ choosing


def choose_variant(decision: DecisionLike) -> str:
    """Which reply template: platform, A, sample, B, C or D (see the module docstring)."""
    if decision.classification.kind is Kind.PLATFORM:
        return "platform"
    letter = grade_letter(decision)
    if letter != "A" and "sample" in decision.extracted.requests:
        return "sample"
    return letter


def grade_letter(decision: DecisionLike) -> str:
    grade = decision.grade
    return grade.grade if grade is not None and grade.grade in ("A", "B", "C", "D") else "D"


def choose_attachments(*, grade: str, requests: frozenset[str], products: Sequence[Product],
                       region: str, first_contact: bool, company_name: str,
                       today: date) -> tuple[AttachmentSpec, ...]:
    """Which files go with the reply.

    - the company profile to a first contact and to every C grade (long-term buyers
      read up on a supplier), or when asked for;
    - the region's price sheet to B, C and D (D: "offers the catalogue") or when the
      buyer asks for a catalogue or price list; an A buyer has a precise quotation;
    - the e-sample of each product asked for (domain.md: with the first reply).
    """
    stem = _slug(company_name) or "company"
    specs: list[AttachmentSpec] = []
    if first_contact or grade == "C" or "catalogue" in requests:
        specs.append(AttachmentSpec("profile", f"{stem}-company-profile"))
    if grade in ("B", "C", "D") or requests & {"catalogue", "price_list"}:
        specs.append(AttachmentSpec("price_sheet", f"{stem}-price-list-{today:%Y-%m}",
                                    region=region or "default"))
    for product in [p for p in products if p.e_sample][:MAX_E_SAMPLES]:
        specs.append(AttachmentSpec("e_sample", f"{product.sku}-e-sample", sku=product.sku))
    return tuple(specs)


def _slug(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    stop = {"co", "ltd", "limited", "inc", "llc", "company", "the", "corp"}
    return "-".join(w for w in words if w.lower() not in stop)[:40]


def reply_subject(original: str, fallback: str = "Your inquiry") -> str:
    """`Re: <original>`, never `Re: Re:`, on one line without control characters."""
    subject = _REPLY_PREFIX.sub("", clean_line(original)).strip() or fallback
    return clean_line(f"Re: {subject}")[:MAX_SUBJECT]


def matched_products(extracted: Extracted, catalog: Catalog) -> list[Product]:
    """The catalogue products the buyer named, in order, each once."""
    found: dict[str, Product] = {}
    for hit in extracted.products:
        product = catalog.get(hit.sku)
        if product is not None:
            found.setdefault(product.sku, product)
    return list(found.values())


# ------------------------------------------------------------------ composing


def compose(decision: DecisionLike, mail: Mail, *, settings_company: Company, sender: str,
            buyer: BuyerView, catalog: Catalog, env: SandboxedEnvironment, today: date,
            draft_id: str, message_id_domain: str,
            validity_days: int = 30, plan: Plan | None = None,
            signature: str = "") -> ComposedDraft | None:
    """The reply to `mail`, rendered; None when no reply may be drafted (`skip_reason`).

    `plan` answers a reply inside one of our threads (daemon.negotiation): its template,
    products, attachments, answers and the quoted thread.

    Raises RenderError (a ConfigError naming template file and line) when a template is
    broken, and ValueError for a malformed `sender`, `draft_id` or `message_id_domain`.
    """
    own = frozenset(d.lower() for d in (*settings_company.own_domains, _domain(sender)))
    if skip_reason(decision, mail, own_domains=own) is not None:
        return None
    message_id = make_message_id(draft_id, message_id_domain)
    variant = plan.variant if plan else choose_variant(decision)
    name = _pick_template(env, decision.extracted.language, variant)
    lang = language.language_of(name)
    region = buyer.region or decision.region
    products = list(plan.products) if plan else matched_products(decision.extracted, catalog)
    quote = build_quote(decision.extracted.products, catalog, decision.extracted, region,
                        today=today, validity_days=validity_days)
    attachments = choose_attachments(
        grade=grade_letter(decision), requests=decision.extracted.requests, products=products,
        region=region, first_contact=buyer.inquiries == 0,
        company_name=settings_company.name, today=today)
    if plan:
        attachments = tuple(a for a in attachments
                            if plan.keeps(a.kind, decision.extracted.requests))
    context = template_context(
        decision, mail, company=settings_company, sender=sender, buyer=buyer,
        products=products, quote=quote, lang=lang, variant=variant, region=region,
        attachments=attachments, today=today, signature=signature,
    ) | (plan.template_names(mail) if plan else {})
    subject, body = _render(env, name, context)
    platform = decision.classification.platform if variant == "platform" else None
    draft = ComposedDraft(
        subject=subject or context["reply_subject"], body=body,
        to=_parse_sender(sender) if platform else reply_target(mail),
        in_reply_to=_msgid(mail.message_id), references=thread_references(mail),
        language=lang, template=name, attachments=attachments, context="",
        message_id=message_id, grade=grade_letter(decision), variant=variant,
        via_platform=platform is not None,
        platform_reply_url=clean_line(platform.reply_url) if platform else "")
    return dataclasses.replace(draft, context=reviewer_context(
        draft, decision, mail, buyer=buyer, products=products, quote=quote, region=region,
        draft_id=draft_id) + (plan.reviewer_lines() if plan else ""))


def _pick_template(env: SandboxedEnvironment, lang_tag: str, variant: str) -> str:
    """The reply template to use: the buyer's language if it has one, else English."""
    names = language.template_candidates(lang_tag, variant)
    try:
        return env.select_template(names).name or names[-1]
    except TemplateError:
        return render(env, names, {}).name     # raises RenderError naming the file


def _render(env: SandboxedEnvironment, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    text = render(env, name, context).text
    try:
        subject, body = split_subject(text)
    except ValueError as exc:
        raise RenderError(name, 1, str(exc)) from None
    return clean_line(subject)[:MAX_SUBJECT], tidy(body)


def tidy(body: str) -> str:
    """Trailing spaces off, at most one blank line in a row, one final newline."""
    lines = "\n".join(line.rstrip() for line in body.replace("\r\n", "\n").split("\n"))
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n") + "\n"


def make_message_id(draft_id: str, domain: str) -> str:
    """`<draft-id@domain>`: unique because draft ids are, and fixed when drafted."""
    if not _DRAFT_ID.match(draft_id):
        raise ValueError(f"draft id {draft_id!r}: letters, digits, '.', '_' and '-' only")
    if not _DOMAIN.match(domain):
        raise ValueError(f"message id domain {domain!r} is not a domain name")
    return f"<{draft_id}@{domain.lower()}>"


_ANGLE_ID = re.compile(r"<[^<>\s]+>")


def _msgid(value: str) -> str:
    """One message id, `<...>`, from whatever a header held ('' when none)."""
    value = clean_line(value)
    found = _ANGLE_ID.search(value)
    if found:
        return found.group(0)
    bare = value.split(" ", 1)[0].strip("<>")
    return f"<{bare}>" if bare else ""


def thread_references(mail: Mail) -> tuple[str, ...]:
    """References of a reply: the parent's References and its Message-ID (RFC 5322 3.6.4).

    A long thread keeps its first id and the latest ones.
    """
    ids = [i for i in (_msgid(r) for r in (*mail.references, mail.message_id)) if i]
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return tuple(ids)


def _parse_sender(sender: str) -> Address:
    name, email = parseaddr(clean_line(sender))
    if not email or "@" not in email:
        raise ValueError(f"sender {sender!r} is not an address (smtp.sender or mailbox.sender)")
    return Address(clean_line(name), email)


def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2].lower()


def note_earlier_drafts(draft: ComposedDraft, earlier: Sequence[str]) -> ComposedDraft:
    """The buyer wrote again before an earlier draft was approved: say so to the reviewer."""
    if not earlier:
        return draft
    lines = ["", "NOTE: the buyer wrote again while earlier drafts still wait for review:",
             *(f"  - {name}" for name in earlier),
             "  Send the one that answers best and reject the others."]
    return dataclasses.replace(draft, context=draft.context.rstrip("\n") + "\n"
                               + "\n".join(lines) + "\n")


def note_problems(draft: ComposedDraft, problems: Sequence[str]) -> ComposedDraft:
    """The draft with attachment problems added to the reviewer's context."""
    if not problems:
        return draft
    lines = ["", "ATTENTION, attachments not added (fix and re-attach by hand):",
             *(f"  - {p}" for p in problems)]
    return dataclasses.replace(draft, context=draft.context.rstrip("\n") + "\n"
                               + "\n".join(lines) + "\n")



# ------------------------------------------------------------------ what templates get


def template_context(decision: DecisionLike, mail: Mail, *, company: Company, sender: str,
                     buyer: BuyerView, products: Sequence[Product], quote: Quote | None,
                     lang: str, variant: str, region: str,
                     attachments: Sequence[AttachmentSpec], today: date,
                     signature: str = "") -> dict[str, Any]:
    """The names a reply template gets (templates/README.md lists them all).

    Plain dicts, strings and lists, so templates need no method calls. `grade` is here
    for templates that vary wording by grade; it must never be printed to the buyer.
    """
    ex = decision.extracted
    platform = decision.classification.platform
    me = _parse_sender(sender)
    kinds = {a.kind for a in attachments}
    return {
        "kind": decision.classification.kind.value, "variant": variant, "lang": lang,
        "today": today.isoformat(),
        "reply_subject": reply_subject(mail.subject, language.subject_fallback(lang)),
        "company": _company_view(company, me, today),
        "sender": {"name": me.name, "email": me.email, "signature": signature.strip()},
        "buyer": _buyer_view(buyer, ex, mail, decision),
        "inquiry": _inquiry_view(ex, mail),
        "grade": {"letter": grade_letter(decision),
                  "reasons": [{"rule": r.rule, "text": r.text} for r in _grade_reasons(decision)]},
        "quotation": render_quote(quote, lang) if quote is not None else "",
        "quote": _quote_view(quote),
        "products": [_product_view(p, region) for p in products],
        "certifications": sorted({c for p in products for c in p.certifications}),
        "price_from": money(min(p.price_for(region) for p in products)) if products else "",
        "moq_from": min(p.moq for p in products) if products else "",
        "e_sample_names": [p.name for p in products
                           if any(a.kind == "e_sample" and a.sku == p.sku for a in attachments)],
        "attachments": [{"kind": a.kind, "name": a.name} for a in attachments],
        "has_profile": "profile" in kinds, "has_price_sheet": "price_sheet" in kinds,
        "has_e_samples": "e_sample" in kinds,
        "platform": _platform_view(platform) if platform is not None else None,
        "thread": None,             # the quoted thread of a reply in one of our threads
    }


def _company_view(company: Company, me: Address, today: date) -> dict[str, Any]:
    founded = getattr(company, "founded", None)
    return {
        "name": company.name, "founded": founded or "",
        "years": today.year - founded if founded else "",
        "total_assets": getattr(company, "total_assets", ""),
        "annual_sales": getattr(company, "annual_sales", ""),
        "awards": list(getattr(company, "awards", ())),
        "contact_person": getattr(company, "contact_person", ""),
        "telephone": getattr(company, "telephone", ""), "fax": getattr(company, "fax", ""),
        "website": getattr(company, "website", ""), "address": getattr(company, "address", ""),
        "strengths": list(getattr(company, "strengths", ())), "email": me.email,
    }


def _buyer_view(buyer: BuyerView, ex: Extracted, mail: Mail,
                decision: DecisionLike) -> dict[str, Any]:
    lead = decision.classification.platform
    names = (buyer.name, ex.contact_name, lead.buyer_name if lead else "",
             mail.from_.name if mail.from_ and decision.classification.kind is not Kind.PLATFORM
             else "")
    name = next((clean_line(n) for n in names if n and "@" not in n and clean_line(n)), "")
    return {
        "name": name,
        "company": buyer.company or ex.company or (lead.buyer_company if lead else ""),
        "country": buyer.country or decision.country, "region": buyer.region or decision.region,
        "inquiries": buyer.inquiries, "known": buyer.inquiries > 0,
        "last_contact": buyer.last_contact.isoformat() if buyer.last_contact else "",
        "email": reply_target(mail).email if decision.classification.kind is not Kind.PLATFORM
        else "",
    }


def _inquiry_view(ex: Extracted, mail: Mail) -> dict[str, Any]:
    incoterm = ex.incoterms[0] if ex.incoterms else None
    return {
        "subject": clean_line(mail.subject),
        "products": [{"sku": h.sku, "name": h.name, "matched": h.matched} for h in ex.products],
        "quantities": [{"amount": q.amount, "unit": q.unit, "sku": q.sku,
                        "text": q.text or f"{q.amount:,} {q.unit}"} for q in ex.quantities],
        "target_prices": [{"amount": str(m.amount), "currency": m.currency,
                           "text": m.text or f"{m.currency} {m.amount}"} for m in ex.target_prices],
        "incoterm": {"term": incoterm.term, "place": incoterm.place} if incoterm else None,
        "delivery": ex.delivery.isoformat() if ex.delivery else "",
        "delivery_text": ex.delivery_text, "payment_terms": list(ex.payment_terms),
        "requests": sorted(ex.requests),
        "asks_sample": "sample" in ex.requests, "asks_pi": "pi" in ex.requests,
        "asks_catalogue": "catalogue" in ex.requests,
        "asks_price_list": "price_list" in ex.requests,
        "asks_certificates": "certificates" in ex.requests,
        "language": ex.language, "company": ex.company, "contact_name": ex.contact_name,
    }


def _quote_view(quote: Quote | None) -> dict[str, Any] | None:
    if quote is None:
        return None
    total = quote.total
    return {
        "items": [{"sku": i.sku, "name": i.name, "unit": i.unit, "moq": i.moq,
                   "quantity": i.quantity or "", "unit_price": money(i.unit_price),
                   "amount": money(i.amount) if i.amount is not None else "",
                   "lead_time_days": i.lead_time_days or ""} for i in quote.items],
        "total": money(total) if total is not None else "",
        "has_quantities": quote.has_quantities, "basis": f"{quote.term} {quote.place}",
        "buyer_term": (f"{quote.buyer_term.term} {quote.buyer_term.place}".strip()
                       if quote.buyer_term else ""),
        "valid_until": quote.valid_until.isoformat(),
        "lead_time_days": max((i.lead_time_days or 0 for i in quote.items), default=0) or "",
    }


def _product_view(product: Product, region: str) -> dict[str, Any]:
    # No floor price here: templates reach the buyer.
    return {"sku": product.sku, "name": product.name, "spec": product.spec,
            "moq": product.moq, "unit": product.unit, "price": money(product.price_for(region)),
            "lead_time_days": product.lead_time_days or "",
            "certifications": list(product.certifications), "has_e_sample": bool(product.e_sample)}


def _platform_view(lead: Any) -> dict[str, str]:
    return {"name": clean_line(lead.platform) or "the platform",
            "reply_url": clean_line(lead.reply_url), "buyer_name": clean_line(lead.buyer_name),
            "buyer_company": clean_line(lead.buyer_company), "country": clean_line(lead.country),
            "product": clean_line(lead.product), "quantity": clean_line(lead.quantity),
            "message": lead.message}


def _grade_reasons(decision: DecisionLike) -> tuple[Any, ...]:
    return decision.grade.reasons if decision.grade is not None else ()


# ------------------------------------------------------------------ the reviewer's .txt


def reviewer_context(draft: ComposedDraft, decision: DecisionLike, mail: Mail, *,
                     buyer: BuyerView, products: Sequence[Product], quote: Quote | None,
                     region: str, draft_id: str) -> str:
    """What a reviewer needs beside the draft; none of it goes to the buyer."""
    ex = decision.extracted
    lines = [f"inquiryd draft {draft_id}: for the reviewer only, never sent to the buyer",
             "=" * 72]
    if draft.via_platform:
        lines.append(f"Reply on:     {_platform_name(decision)}: paste the marked text there"
                     + (f" ({draft.platform_reply_url})" if draft.platform_reply_url else ""))
    else:
        lines.append(f"Reply to:     {_show_address(draft.to)}")
    lines += [f"Original:     {clean_line(mail.subject)!r} from "
              f"{_show_address(mail.from_) if mail.from_ else '?'}",
              f"Template:     {draft.template} (language {draft.language}; "
              f"buyer wrote {ex.language or 'unknown'})",
              f"Kind:         {decision.classification.kind.value}",
              *_reasons(decision.classification.reasons),
              f"Grade:        {draft.grade}", *_reasons(_grade_reasons(decision)),
              *_buyer_lines(buyer, decision, region),
              *_product_lines(products, region, ex),
              *_terms_lines(ex, quote),
              "Attachments:  " + (", ".join(f"{a.kind} {a.name}" for a in draft.attachments)
                                  or "none")]
    return "\n".join(lines) + "\n"


def _reasons(reasons: Sequence[Any]) -> list[str]:
    return [f"  - {r.rule}: {r.text}" for r in reasons]


def _buyer_lines(buyer: BuyerView, decision: DecisionLike, region: str) -> list[str]:
    country = buyer.country or decision.country or "unknown"
    why = decision.extracted.country_reason
    history = (f"{buyer.inquiries} earlier inquir{'y' if buyer.inquiries == 1 else 'ies'}"
               + (f", last contact {buyer.last_contact.isoformat()}" if buyer.last_contact else "")
               if buyer.inquiries else "first contact")
    lines = [f"Buyer:        {buyer.name or '-'}, {buyer.company or '-'}, {country}"
             f"{f' ({why})' if why else ''}, region {region or 'none (default prices)'}",
             f"History:      {history}"]
    match = getattr(decision, "match", None)
    if match is not None:
        lines += [f"Matched by:   {match.how}", *_reasons(match.reasons)]
    return lines


def _product_lines(products: Sequence[Product], region: str, ex: Extracted) -> list[str]:
    if not products:
        return ["Products:     none recognised: the reply asks which products and quantities"]
    found = {h.sku.upper(): h.matched for h in ex.products}
    lines = ["Products:"]
    for p in products:
        column = f"price_{region}" if region in p.prices else "price_default"
        lines.append(f"  - {p.sku} {p.name} (found {found.get(p.sku, p.sku)!r}): "
                     f"USD {money(p.price_for(region))} from {column}")
        for target in ex.target_prices:
            lines.append("    " + _target_note(p, region, target.amount, target.currency))
    return lines


def _target_note(product: Product, region: str, target: Any, currency: str) -> str:
    """The buyer's target against our price and floor (internal: the floor shows here only)."""
    ours = product.price_for(region)
    note = f"target {currency} {target} vs our USD {money(ours)}"
    if currency != "USD":
        return note + " (other currency: compare by hand)"
    if product.floor_price is not None and target < product.floor_price:
        return note + f": below the floor price {money(product.floor_price)}, needs the manager"
    if target < ours:
        return note + ": below our price, room to negotiate down to the floor"
    return note + ": at or above our price"


def _terms_lines(ex: Extracted, quote: Quote | None) -> list[str]:
    lines = [
        "Quantities:   " + (", ".join(q.text or f"{q.amount:,} {q.unit}" for q in ex.quantities)
                            or "none given"),
        "Incoterm:     " + (", ".join(f"{i.term} {i.place}".strip() for i in ex.incoterms)
                            or "none given (quoted FOB Ningbo)"),
        "Delivery:     " + (ex.delivery_text or (ex.delivery.isoformat() if ex.delivery else "")
                            or "none given"),
        "Payment:      " + ("; ".join(ex.payment_terms) or "none given (our default terms)"),
        "Asks for:     " + (", ".join(sorted(ex.requests)) or "nothing specific"),
    ]
    if quote is not None and quote.total is not None:
        lines.append(f"Quote total:  USD {money(quote.total)} {quote.term} {quote.place}")
    return lines


def _platform_name(decision: DecisionLike) -> str:
    lead = decision.classification.platform
    return clean_line(lead.platform) if lead is not None else "the platform"


def _show_address(address: Address) -> str:
    return f"{address.name} <{address.email}>" if address.name else address.email


# ------------------------------------------------------------------ the message


def loop_marker(sender: str) -> str:
    """The X-Inquiryd-Loop value: stable per sending domain, so our own mail is known."""
    return f"inquiryd; {_domain(sender) or 'localhost'}"


def build_message(composed: ComposedDraft,
                  attachments_bytes: Sequence[tuple[str, str, bytes]], *, sender: str,
                  draft_id: str, message_id: str, date: datetime) -> EmailMessage:
    """The draft as an RFC 5322 message, ready for the review folder and for SMTP."""
    if not _DRAFT_ID.match(draft_id):
        raise ValueError(f"draft id {draft_id!r}: letters, digits, '.', '_' and '-' only")
    msg = EmailMessage()
    msg["From"] = _header_address(_parse_sender(sender))
    msg["To"] = _header_address(composed.to)
    msg["Subject"] = clean_line(composed.subject)[:MAX_SUBJECT]
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = _msgid(message_id)
    if composed.in_reply_to:
        msg["In-Reply-To"] = _msgid(composed.in_reply_to)
    if composed.references:
        msg["References"] = " ".join(_msgid(r) for r in composed.references)
    msg["Auto-Submitted"] = "auto-replied"
    msg[DRAFT_HEADER] = draft_id
    msg[LOOP_HEADER] = loop_marker(sender)
    if composed.via_platform and composed.platform_reply_url:
        msg[PLATFORM_HEADER] = clean_line(composed.platform_reply_url)[:900]
    msg.set_content(composed.body, subtype="plain", charset="utf-8")
    for filename, content_type, data in attachments_bytes:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype or "application",
                           subtype=subtype or "octet-stream", filename=safe_filename(filename))
    # Last: set_content() drops Content-* headers and add_attachment() moves them into
    # the text part. The language is said for the message and for its text.
    lang = language.normalise(composed.language) or language.FALLBACK
    msg["Content-Language"] = lang
    text = msg.get_body(("plain",))
    if text is not None and text is not msg:
        text["Content-Language"] = lang
    return msg


def _header_address(address: Address) -> HeaderAddress:
    return HeaderAddress(display_name=clean_line(address.name)[:200],
                         addr_spec=_ascii_address(address.email))


def safe_filename(name: str) -> str:
    """An attachment file name with no path, control characters or leading dots."""
    base = clean_line(name.replace("\\", "/").rsplit("/", 1)[-1]).lstrip(". ")
    return base[:120] or "attachment"


# ------------------------------------------------------------------ for `inquiryd check`


@dataclass(frozen=True, slots=True)
class _SampleDecision:
    classification: Classification
    extracted: Extracted
    grade: GradeResult | None
    country: str
    region: str
    match: Any = None


@dataclass(frozen=True, slots=True)
class _BareCompany:
    """A company with only a name: the templates must read well without the rest."""

    name: str
    own_domains: tuple[str, ...] = ()


def sample_contexts(company: Company, catalog: Catalog, *, today: date,
                    sender: str = "Sales <sales@example.com>") -> list[dict[str, Any]]:
    """Template contexts covering every reply variant, with everything and with nothing.

    For `render_all_for_check`: each context has the `variant` its template renders for,
    and is built by the same code as a real draft, so a name a template misspells fails
    here exactly as it would on a real inquiry.
    """
    from daemon.types import Incoterm, Money, PlatformLead, ProductHit, Quantity, Reason

    hits = tuple(ProductHit(p.sku, p.name, p.keywords[0] if p.keywords else p.sku)
                 for p in list(catalog)[:2])
    full = Extracted(
        products=hits, quantities=tuple(Quantity(3000, "pcs", h.sku, "3,000 pcs") for h in hits),
        target_prices=(Money(Decimal("0.80"), "USD", "USD 0.80"),),
        incoterms=(Incoterm("CIF", "Jebel Ali"),), delivery=today, delivery_text="end of month",
        payment_terms=("T/T",), requests=frozenset({"sample", "pi", "catalogue", "price_list",
                                                    "certificates"}),
        country="AE", country_reason="phone prefix +971", language="en",
        company="Sample Trading LLC", contact_name="Sam Buyer")
    lead = PlatformLead("Alibaba.com", "Sam Buyer", "Sample Trading LLC", "United Arab Emirates",
                        "Sample product", "3,000 pieces", "Please quote.",
                        "https://message.example/reply/1")
    bare_lead = PlatformLead("Alibaba.com")
    cases = [(full, BuyerView("Sam Buyer", "Sample Trading LLC", "AE", "middle_east", 2, today),
              company, lead, Kind.INQUIRY),
             (Extracted(), BuyerView(), _BareCompany(company.name), bare_lead, Kind.REPLY)]
    contexts = []
    for extracted, buyer, who, platform_lead, kind in cases:
        for variant in ("A", "B", "C", "D", "sample", "platform"):
            letter = variant if variant in ("A", "B", "C", "D") else "B"
            decision = _SampleDecision(
                Classification(Kind.PLATFORM if variant == "platform" else kind,
                               (Reason("sample", "a sample message"),),
                               platform=platform_lead if variant == "platform" else None),
                extracted, GradeResult(letter, (Reason("sample", "a sample reason"),)),
                extracted.country, buyer.region)
            contexts.append(_sample_context(decision, extracted, who, sender, buyer, catalog,
                                            variant, today))
    from daemon.negotiation import check_contexts  # replies inside one of our threads

    return contexts + check_contexts(contexts, catalog)


def _sample_context(decision: _SampleDecision, extracted: Extracted, company: Any, sender: str,
                    buyer: BuyerView, catalog: Catalog, variant: str, today: date
                    ) -> dict[str, Any]:
    products = matched_products(extracted, catalog)
    quote = build_quote(extracted.products, catalog, extracted, buyer.region, today=today)
    mail = Mail(from_=Address(buyer.name, "buyer@example.net"), subject="Inquiry")
    attachments = choose_attachments(
        grade=grade_letter(decision), requests=extracted.requests, products=products,
        region=buyer.region, first_contact=buyer.inquiries == 0, company_name=company.name,
        today=today)
    return template_context(decision, mail, company=company, sender=sender, buyer=buyer,
                            products=products, quote=quote, lang="en", variant=variant,
                            region=buyer.region, attachments=attachments, today=today)
