"""Reading a platform's RFQ digest (pure): the buyers' requests for quotation it lists.

Alibaba.com ("New RFQs matching your products", "Buying Requests"), Made-in-China.com
("Sourcing Requests") and others mail a list of RFQs, each a few lines:

    1. Custom acrylic keychains with logo, double-sided print
       Quantity: 10,000 Pieces | Destination: United States | Posted: 22 Nov 2026
       Quote now: https://sourcing.alibaba.example/rfq/RFQ-8820461733

`parse_digest(text)` splits the text into blocks (a numbered line starts one; so does a
blank line, or a "Title:"-like field after one block's fields) and reads in each the
title, `label: value` fields (several on one line when split by "|", "·" or "•"), the
first link and the RFQ id. A block is an RFQ when it has a title and a quantity or an
id: greetings, footers and subscription links are neither.

`rfq_key` is what de-duplicates a lead listed in two digests: the platform's RFQ id,
else a sha256 of the title, quantity and country, folded.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime

MAX_RFQS = 100                   # a digest lists a dozen; more is not a digest
MAX_FIELD = 300

_NUMBERED = re.compile(r"^\s*(?:#\s*)?\d{1,3}\s*[.)、:]\s+(\S.*)$")
_BULLET = re.compile(r"^\s*[-*•]\s+(\S.*)$")
_URL = re.compile(r"https?://[^\s<>\"')]+")
_SEPARATORS = re.compile(r"\s+[|·•]\s+|\s{3,}")
# An RFQ id: in its own field, or the last part of the link ("RFQ-8820461733", "12345678").
_ID_IN_URL = re.compile(r"(?:[?&](?:id|rfqId|rfq_id|requestId)=|/)"
                        r"((?:RFQ|SR|BR)?[-_]?\d{5,}[A-Za-z0-9-]*)(?:[/?#&]|$)", re.IGNORECASE)

# label (lower-case, without the colon) -> field
LABELS: dict[str, str] = {
    "title": "title", "rfq": "title", "product": "title", "product name": "title",
    "sourcing request": "title", "buying request": "title", "request": "title",
    "looking for": "title", "采购需求": "title", "产品": "title",
    "quantity": "quantity", "qty": "quantity", "purchase quantity": "quantity",
    "order quantity": "quantity", "quantity required": "quantity", "数量": "quantity",
    "采购量": "quantity",
    "destination": "country", "country": "country", "country/region": "country",
    "buyer from": "country", "buyer country": "country", "location": "country",
    "国家": "country", "国家/地区": "country", "目的地": "country",
    "buyer": "buyer", "buyer name": "buyer", "posted by": "buyer", "contact": "buyer",
    "买家": "buyer",
    "company": "company", "buyer company": "company", "公司": "company",
    "posted": "posted", "posted on": "posted", "date posted": "posted", "date": "posted",
    "published": "posted", "发布时间": "posted", "发布日期": "posted",
    "rfq id": "id", "rfq no": "id", "rfq no.": "id", "request id": "id", "id": "id",
    "编号": "id",
}
_FIELD = re.compile(r"^\s*([^:：|]{1,40}?)\s*[:：]\s*(.*)$")
_DATE_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%Y-%m-%d", "%Y/%m/%d",
                 "%d/%m/%Y", "%d.%m.%Y", "%b %d %Y")


@dataclass(frozen=True, slots=True)
class Rfq:
    """One buyer's request for quotation, as the digest shows it ('' where it does not)."""

    title: str
    quantity: str = ""
    country: str = ""                # as written: "United States"
    buyer_name: str = ""
    company: str = ""
    rfq_id: str = ""
    url: str = ""
    posted: date | None = None


def parse_digest(text: str) -> tuple[Rfq, ...]:
    """Every RFQ the digest lists, in order, each once (by key)."""
    found: dict[str, Rfq] = {}
    for block in _blocks(text):
        rfq = _rfq(block)
        if rfq is not None:
            found.setdefault(rfq_key(rfq), rfq)
        if len(found) >= MAX_RFQS:
            break
    return tuple(found.values())


def rfq_key(rfq: Rfq) -> str:
    """The platform's id, else a hash of what the buyer asked (title, quantity, country)."""
    if rfq.rfq_id:
        return rfq.rfq_id[:200]
    folded = "\n".join(" ".join(v.casefold().split())
                       for v in (rfq.title, rfq.quantity, rfq.country))
    return "sha256:" + hashlib.sha256(folded.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ blocks


def _blocks(text: str) -> list[list[str]]:
    """Lines grouped by RFQ: a numbered or bulleted line, a blank line, or a new title
    field after the fields of the one before starts a block."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        starts = _starts_item(line) or (
            _label(line) == "title" and any(_label(x) not in ("", "title") for x in current))
        if not line.strip() or starts:
            if current:
                blocks.append(current)
            current = [line] if line.strip() else []
        else:
            current.append(line)
    if current:
        blocks.append(current)
    return _joined(blocks)


def _joined(blocks: list[list[str]]) -> list[list[str]]:
    """A title line alone (a blank line before its fields) belongs with the fields."""
    out: list[list[str]] = []
    for block in blocks:
        if out and len(out[-1]) == 1 and not _has_fields(out[-1]) and _has_fields(block) \
                and not _label(block[0]) == "title" and not _starts_item(block[0]):
            out[-1] = out[-1] + block
        else:
            out.append(block)
    return out


def _starts_item(line: str) -> bool:
    return bool(_NUMBERED.match(line) or _BULLET.match(line))


def _has_fields(block: list[str]) -> bool:
    return any(_label(part) for line in block for part in _SEPARATORS.split(line.strip()))


def _label(line: str) -> str:
    found = _FIELD.match(line)
    if not found:
        return ""
    return LABELS.get(" ".join(found.group(1).lower().split()), "")


# ------------------------------------------------------------------ one RFQ


def _rfq(block: list[str]) -> Rfq | None:
    values: dict[str, str] = {}
    title = ""
    for n, line in enumerate(block):
        head = _NUMBERED.match(line) or _BULLET.match(line)
        text = head.group(1) if head else line.strip()
        parts = _SEPARATORS.split(text)
        labelled = [(p, _label(p)) for p in parts]
        if n == 0 and not labelled[0][1] and not _URL.match(text):
            title, labelled = labelled[0][0], labelled[1:]  # "Title · Qty: 100 · ..."
        for part, field in labelled:
            if field:
                values.setdefault(field, _value(part))
    url = next((m.group(0).rstrip(".,;") for line in block for m in _URL.finditer(line)), "")
    title = values.get("title") or title
    rfq_id = values.get("id") or _id_from(url)
    quantity = values.get("quantity", "")
    if not title or not (quantity or rfq_id):
        return None
    return Rfq(title=_short(title), quantity=_short(quantity),
               country=_short(values.get("country", "")),
               buyer_name=_short(values.get("buyer", "")),
               company=_short(values.get("company", "")), rfq_id=_short(rfq_id),
               url=url[:2000], posted=_date(values.get("posted", "")))


def _value(part: str) -> str:
    found = _FIELD.match(part)
    return found.group(2).strip() if found else ""


def _id_from(url: str) -> str:
    found = _ID_IN_URL.search(url)
    return found.group(1) if found else ""


def _short(text: str) -> str:
    return " ".join(text.split())[:MAX_FIELD]


def _date(text: str) -> date | None:
    text = " ".join(text.replace("th,", ",").split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
