"""Generated buyer text and `Mail` values, made of what the rules in rules/ look for.

Every pattern of rules/classify.toml is a source of text that matches it
(`st.from_regex`), mixed with catalogue words, places from rules/countries.toml,
quantities, prices, Incoterms, dates and numbers no buyer would write, so that each
rule and each extractor is reached with both sensible and senseless input.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from daemon import rulebook
from daemon.header_text import clean_line
from daemon.rules import Rulebook
from daemon.types import Address, Attachment, DeliveryStatus, Mail
from tests.fuzz.charsets import ALPHABETS, CONTROL, LATIN

RULES = Path(__file__).resolve().parents[2] / "rules"
BOOK: Rulebook = rulebook.load(RULES)
_CLASSIFY = tomllib.loads((RULES / "classify.toml").read_text(encoding="utf-8"))
_COUNTRIES = tomllib.loads((RULES / "countries.toml").read_text(encoding="utf-8"))
_PATTERN_KEYS = {"signatures", "subjects", "bodies", "patterns", "require", "matches",
                 "senders", "local_parts", "fields"}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


PATTERNS = sorted({p for rule in _CLASSIFY["rule"] for key, value in rule.items()
                   if key in _PATTERN_KEYS for p in _strings(value)})
WORDS = sorted({w for rule in _CLASSIFY["rule"] for key, value in rule.items()
                if key in ("equals", "unless", "domains", "addresses") for w in _strings(value)})
PLACES = sorted(set(_strings(_COUNTRIES)))
PRODUCT_WORDS = sorted({w for p in BOOK.catalog for w in (p.sku, p.name, *p.keywords)})
PHRASES = [
    "Please quote", "5,000 pcs", "1.200,50 USD", "USD 0.82/pc", "EUR 1,20", "FOB Ningbo",
    "CIF Jebel Ali", "DDP", "EXW", "30% deposit", "T/T", "L/C at sight", "before 15 March",
    "by end of next month", "delivery in 45 days", "2026-02-30", "31/04/2027", "MOQ?",
    "send catalogue", "samples please", "PI", "Best regards", "Kind regards,", "--",
    "Tel: +971 4 123 4567", "Mob. +7 495 123-45-67", "ABC Trading LLC", "Dubai, UAE",
    "-- \nJohn Smith\nPurchasing Manager", "On Mon, 1 Jan 2026, Lily wrote:", "> quoted",
    "-----Original Message-----", "From: sales@brightstar.example", "Sent: today",
    "发件人: 张三", "报价 5000 件", "价格 1.5 美元", "12 dozen", "3 cartons", "1e9 pcs",
    "0 pcs", "-5 pcs", "½ dozen", "٣٠٠ قطعة", "５０００個", "1,2,3,4,5,6", "$$$", "€€",
    "9" * 5000, "1" + ",000" * 400, "0." + "5" * 3000, "USD " + "9" * 4400,
]


def _from_regex(pattern: str) -> st.SearchStrategy[str] | None:
    try:
        strategy = st.from_regex(re.compile(pattern, re.I | re.M))
        strategy.validate()
    except Exception:  # noqa: BLE001 - a construct Hypothesis cannot invert: skip it
        return None
    return strategy


_MATCHING = [s for s in map(_from_regex, PATTERNS) if s is not None]
PIECES = st.one_of(
    st.sampled_from(PHRASES), st.sampled_from(PRODUCT_WORDS), st.sampled_from(PLACES),
    st.sampled_from(WORDS), st.one_of(_MATCHING).map(lambda s: s[:300]),
    st.integers().map(str), st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(LATIN + "".join(ALPHABETS.values()) + "/:-+%$€.,\n", max_size=40),
)
SEPARATORS = st.sampled_from([" ", "\n", ", ", "\n\n", ": ", "\t", " x ", "/"])


@st.composite
def buyer_text(draw: st.DrawFn, most: int = 30) -> str:
    pieces = draw(st.lists(PIECES, max_size=most))
    return "".join(p + draw(SEPARATORS) for p in pieces)


def cleaned(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return text.map(clean_line)


DOMAINS = sorted({w for w in WORDS if "." in w and " " not in w} | {
    "brightstar.example", "gmail.com", "shop.ae", "importer.example", "163.com", ""})
ADDRESSES = st.builds(
    Address, cleaned(st.one_of(st.text(LATIN, max_size=20), st.sampled_from(PLACES))),
    st.builds("{}@{}".format, st.one_of(st.sampled_from(["buyer", "mailer-daemon",
                                                         "no-reply", "owner-list", "a"]),
                                        st.text(LATIN, min_size=1, max_size=10)),
              st.sampled_from(DOMAINS)))
HEADER_VALUES = cleaned(st.one_of(st.sampled_from(WORDS), st.text(LATIN + CONTROL, max_size=30),
                                   st.just("")))
STATUSES = st.builds(
    DeliveryStatus, final_recipient=cleaned(st.one_of(
        st.just("rfc822; buyer@shop.ae"), st.text(LATIN + "@;<>", max_size=40))),
    action=st.sampled_from(["failed", "delayed", "delivered", "", "x"]),
    status=st.sampled_from(["5.1.1", "4.4.7", "2.0.0", "", "5", "5.x.y", "9" * 30]),
    diagnostic_code=cleaned(st.text(LATIN + "@<>;", max_size=60)))


@st.composite
def mails(draw: st.DrawFn) -> Mail:
    """A Mail as parse could hand it over: header fields on one line, any body text."""
    line = cleaned(buyer_text(most=6)).map(lambda s: s[:2000])
    ids = st.lists(st.sampled_from(["<d20260101-abcd1234@brightstar.example>", "<x@y>", ""]),
                   max_size=3)
    return Mail(
        from_=draw(st.none() | ADDRESSES), reply_to=tuple(draw(st.lists(ADDRESSES, max_size=2))),
        to=tuple(draw(st.lists(ADDRESSES, max_size=3))), cc=(), subject=draw(line),
        date=draw(st.none() | st.datetimes(timezones=st.just(timezone.utc),
                                           min_value=datetime(1970, 1, 2))),
        message_id="<m@shop.ae>", in_reply_to=draw(ids.map(lambda i: i[0] if i else "")),
        references=tuple(draw(ids)), text=draw(buyer_text()), quoted=draw(buyer_text(most=5)),
        signature=draw(buyer_text(most=6)), html=draw(st.booleans()),
        auto_submitted=draw(HEADER_VALUES), precedence=draw(HEADER_VALUES),
        list_id=draw(HEADER_VALUES), list_unsubscribe=draw(HEADER_VALUES),
        return_path=draw(st.sampled_from(["", "<>", "<a@b.example>"])),
        x_autoreply=draw(HEADER_VALUES), x_failed_recipients=draw(HEADER_VALUES),
        content_type=draw(st.sampled_from(["text/plain", "multipart/report", "multipart/mixed"])),
        report_type=draw(st.sampled_from(["", "delivery-status", "disposition-notification",
                                          "feedback-report"])),
        attachments=tuple(draw(st.lists(st.builds(
            Attachment, cleaned(st.text(LATIN, max_size=20)),
            st.sampled_from(["application/pdf", "message/rfc822", "image/png"]),
            st.integers(0, 10**9)), max_size=3))),
        languages_hint=draw(st.sampled_from(["", "gb2312", "koi8-r,utf-8", "x"])),
        delivery_status=tuple(draw(st.lists(STATUSES, max_size=3))))
