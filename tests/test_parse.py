"""The parse stage: raw bytes in, Mail values out, as plain tables (imapclient style).

Charsets, encoded words, reply splitting, attachments and bounces are table rows; the
adversarial messages are generated here (never stored) and must be refused by the
limits; every file of the shared corpus must parse or be refused, nothing else.
"""

from __future__ import annotations

import ast
import base64
import os
import quopri
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import PermanentError
from daemon.parse import parse
from daemon.types import Address, Attachment, DeliveryStatus, Mail, ParseLimits

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
INBOX = ROOT / "examples" / "inbox" / "new"


class Has:
    """Matches a str that contains every given piece (and, optionally, lacks others)."""

    def __init__(self, *pieces: str, lacks: tuple[str, ...] = ()) -> None:
        self.pieces, self.lacks = pieces, lacks

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, str) and all(p in other for p in self.pieces)
                and not any(p in other for p in self.lacks))

    def __repr__(self) -> str:
        return f"Has{self.pieces}" + (f" lacking {self.lacks}" if self.lacks else "")


def b64(text: str, codec: str) -> bytes:
    return base64.b64encode(text.encode(codec))


def word(text: str, label: str, codec: str | None = None) -> bytes:
    """An RFC 2047 B-encoded word carrying `text` in `codec`, labelled `label`."""
    return b"=?" + label.encode() + b"?B?" + b64(text, codec or label) + b"?="


def qp(text: str, codec: str) -> bytes:
    return quopri.encodestring(text.encode(codec))


def mail(*headers: bytes, body: bytes = b"hello\n") -> bytes:
    """A message with a From line unless one is given, headers as given, LF endings."""
    if not any(h.lower().startswith(b"from:") for h in headers):
        headers = (b"From: buyer@example.com", *headers)
    return b"\n".join(headers) + b"\n\n" + body


def plain(label: str, body: bytes, *headers: bytes, cte: str = "8bit") -> bytes:
    """A text/plain message in charset `label` with `body` already encoded."""
    return mail(*headers, b"MIME-Version: 1.0",
                f"Content-Type: text/plain; charset={label}".encode(),
                f"Content-Transfer-Encoding: {cte}".encode(), body=body)


def multipart(kind: str, *parts: bytes, boundary: str = "BOUNDARY") -> tuple[bytes, bytes]:
    """(Content-Type header, body) of a multipart whose parts are given raw."""
    sep = b"--" + boundary.encode()
    body = b"".join(sep + b"\n" + part + b"\n" for part in parts) + sep + b"--\n"
    return f'Content-Type: {kind}; boundary="{boundary}"'.encode(), body


# ---------------------------------------------------------------------------- tables

GBK_TEXT = "朱镕基，张堃，王喆：请报价 BS-HC-402"
BIG5_TEXT = "您好，請報價 BS-ER-310，三千對。"
JIS_TEXT = "見積もりをお願いします。"
KOI8_TEXT = "Здравствуйте, пришлите прайс."
CP1251_TEXT = "Добрый день! Цена за 5000 шт?"
KOREAN_TEXT = "똠방각하 견적 부탁드립니다"  # 똠 is in cp949 but not in EUC-KR
SJIS_TEXT = "①番の商品を５個"  # ① is a Windows (cp932) extension to Shift_JIS

CHARSET_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("gb2312 label, GBK-only characters",
     plain("gb2312", b64(GBK_TEXT, "gbk"),
           b"From: " + word("张堃", "gb2312", "gbk") + b" <Rongda@163.com>",
           b"Subject: " + word("询价：镕达贸易", "gb2312", "gbk"), cte="base64"),
     {"subject": "询价：镕达贸易", "text": GBK_TEXT,
      "from_": Address("张堃", "rongda@163.com"), "languages_hint": Has("gb2312"),
      "defects": ()}),
    ("gbk label", plain('"GBK"', GBK_TEXT.encode("gbk")), {"text": GBK_TEXT}),
    ("big5 subject and body",
     plain("big5", b64(BIG5_TEXT, "big5"), b"Subject: " + word("報價單", "big5"),
           cte="base64"),
     {"subject": "報價單", "text": BIG5_TEXT}),
    ("iso-2022-jp subject and body",
     plain("ISO-2022-JP", JIS_TEXT.encode("iso2022_jp"),
           b"Subject: " + word("見積もり依頼", "ISO-2022-JP", "iso2022_jp"), cte="7bit"),
     {"subject": "見積もり依頼", "text": JIS_TEXT}),
    ("koi8-r subject and body",
     plain("koi8-r", KOI8_TEXT.encode("koi8_r"),
           b"Subject: =?koi8-r?Q?" + qp("Запрос_цены", "koi8_r") + b"?="),
     {"subject": "Запрос цены", "text": KOI8_TEXT}),
    ("windows-1251 subject and quoted-printable body",
     plain("windows-1251", qp(CP1251_TEXT, "cp1251"),
           b"Subject: " + word("Запрос", "windows-1251", "cp1251"), cte="quoted-printable"),
     {"subject": "Запрос", "text": CP1251_TEXT}),
    ("ks_c_5601-1987 read as cp949",
     plain("ks_c_5601-1987", KOREAN_TEXT.encode("cp949")), {"text": KOREAN_TEXT}),
    ("shift_jis read as cp932", plain("shift_jis", SJIS_TEXT.encode("cp932")),
     {"text": SJIS_TEXT}),
    ("utf-7", plain("utf-7", "Preis: 5 €".encode("utf-7")), {"text": "Preis: 5 €"}),
    ("unknown charset does not raise", plain("x-unknown", "Café crème".encode("latin-1")),
     {"text": "Café crème", "defects": (Has("x-unknown"),)}),
    ("empty charset does not raise", plain('""', "naïve".encode("utf-8")),
     {"text": "naïve"}),
    ("charset that is a codec but not a charset", plain("unicode_escape", rb"\u0041 plain"),
     {"text": r"\u0041 plain", "defects": (Has("unicode_escape"),)}),
    ("unknown charset in an encoded word",
     mail(b"Subject: =?x-unknown?Q?caf=C3=A9?="), {"subject": "café"}),
    ("utf-8 character split across two encoded words",
     mail(b"Subject: =?utf-8?B?5Lu3?= =?utf-8?B?5qC8?= =?utf-8?B?4oKs?="),
     {"subject": "价格€"}),
    ("encoded newline in the subject",
     mail(b"Subject: =?utf-8?Q?Order=0D=0ABcc:_x@evil.example?= \t and\n more\x0b"),
     {"subject": "Order Bcc: x@evil.example and more"}),
    ("raw 8-bit GBK subject guessed from the body's charset",
     plain("gb2312", "你好".encode("gbk"), b"Subject: " + "报价".encode("gbk")),
     {"subject": "报价", "text": "你好"}),
    ("raw 8-bit UTF-8 display name",
     mail("From: Jürgen Müller <J.Mueller@Example.DE>".encode()),
     {"from_": Address("Jürgen Müller", "j.mueller@example.de")}),
]

HEADER_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("addresses, ids and date",
     mail(b'From: "Smith, John" <John.Smith@Buyer.Example>',
          b"To: sales@brightstar.example, Lily <lily@brightstar.example>",
          b"Cc: =?utf-8?Q?Jos=C3=A9?= <jose@buyer.example>",
          b"Reply-To: purchasing@buyer.example",
          b"Date: Fri, 20 Nov 2026 12:36:41 +0530",
          b"Message-ID: <abc@buyer.example>",
          b"In-Reply-To: <q-1@brightstar.example> (our quote)",
          b"References: <a@x.example>\n <q-1@brightstar.example>"),
     {"from_": Address("Smith, John", "john.smith@buyer.example"),
      "to": (Address("", "sales@brightstar.example"),
             Address("Lily", "lily@brightstar.example")),
      "cc": (Address("José", "jose@buyer.example"),),
      "reply_to": (Address("", "purchasing@buyer.example"),),
      "date": datetime(2026, 11, 20, 7, 6, 41, tzinfo=timezone.utc),
      "message_id": "<abc@buyer.example>", "in_reply_to": "<q-1@brightstar.example>",
      "references": ("<a@x.example>", "<q-1@brightstar.example>")}),
    ("no optional headers",
     mail(b"Subject: hi"),
     {"to": (), "date": None, "message_id": "", "references": (), "return_path": "",
      "content_type": "text/plain", "html": False, "attachments": ()}),
    ("loop headers of an auto-reply",
     mail(b"Auto-Submitted: auto-replied", b"Precedence: bulk", b"Return-Path: <>",
          b"List-Id: Weekly <weekly.tradehub.example>",
          b"List-Unsubscribe: <mailto:unsub@tradehub.example>", b"X-Autoreply: yes"),
     {"auto_submitted": "auto-replied", "precedence": "bulk", "return_path": "<>",
      "list_id": "Weekly <weekly.tradehub.example>",
      "list_unsubscribe": "<mailto:unsub@tradehub.example>", "x_autoreply": "yes"}),
    ("X-Autorespond counts too", mail(b"X-Autorespond: vacation"),
     {"x_autoreply": "vacation"}),
    ("unparseable date is None, with a defect",
     mail(b"Date: sometime next week"), {"date": None, "defects": (Has("date"),)}),
    ("date without a zone is not guessed", mail(b"Date: 1 Dec 2026 08:00:00"),
     {"date": None}),
    ("wrong weekday is tolerated, zone applied",
     mail(b"Date: Mon, 1 Dec 2026 08:00:00 +0800 (CST)"),
     {"date": datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc),
      "defects": (Has("weekday"),)}),
]

BODY_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("HTML only",
     mail(b"Content-Type: text/html; charset=utf-8",
          body=b"<html><head><style>p{}</style><title>x</title></head><body>"
               b"<p>Hello&nbsp;<b>Lily</b>,</p><div>We need <a href='http://x'>5,000 pcs"
               b"</a></div><script>alert(1)</script><table><tr><td>A</td><td>B</td></tr>"
               b"</table></body></html>"),
     {"text": "Hello Lily,\nWe need 5,000 pcs\nA B", "html": True}),
    ("plain part preferred to HTML",
     mail(*multipart("multipart/alternative",
                     b"Content-Type: text/plain\n\nplain words",
                     b"Content-Type: text/html\n\n<p>html words</p>")),
     {"text": "plain words", "html": True, "content_type": "multipart/alternative"}),
    ("'-- ' signature and '>' history",
     mail(body=b"Dear Lily,\n\nCan you do USD 0.82?\n\nRegards,\nRajesh\n\n-- \n"
               b"Rajesh Mehta\nMehta Impex, Mumbai\n\n"
               b"On Wed, 18 Nov 2026 at 10:42, Lily Chen\n<sales@brightstar.example> wrote:"
               b"\n> Unit price: USD 0.92\n>\n> Lily\n"),
     {"text": "Dear Lily,\n\nCan you do USD 0.82?\n\nRegards,\nRajesh",
      "signature": "Rajesh Mehta\nMehta Impex, Mumbai",
      "quoted": Has("wrote:", "> Unit price: USD 0.92")}),
    ("Outlook 'Original Message' block",
     mail(body=b"OK, confirmed.\n\n-----Original Message-----\nFrom: Lily\nSent: Monday\n"
               b"Subject: PI\n\nPlease confirm the PI.\n"),
     {"text": "OK, confirmed.", "quoted": Has("Original Message", "Please confirm")}),
    ("Outlook From/Sent block under a rule",
     mail(body=b"Price is fine.\n\n________________________________\n"
               b"From: Lily <l@b.example>\nSent: Monday, 16 November 2026 10:00\n"
               b"To: Tom\nSubject: Quote\n\nOld text\n"),
     {"text": "Price is fine.", "quoted": Has("From: Lily", "Old text", lacks=("Price",))}),
    ("Chinese client header block",
     mail(body="好的，请发PI。\n\n发件人： Lily\n发送时间： 2026年11月16日\n主题： 报价\n\n旧内容\n"
          .encode()),
     {"text": "好的，请发PI。", "quoted": Has("发件人", "旧内容")}),
    ("trailing '>' block without an attribution",
     mail(body=b"Yes please.\n\n> Do you want samples?\n> Lily\n"),
     {"text": "Yes please.", "quoted": "> Do you want samples?\n> Lily"}),
    ("interleaved quoting is kept whole",
     mail(body=b"> Quantity?\n5,000 pcs\n> Port?\nNingbo\n"),
     {"text": "> Quantity?\n5,000 pcs\n> Port?\nNingbo", "quoted": ""}),
    ("sign-off with a short tail becomes the signature",
     mail(body=b"Please quote 2,000 pairs.\n\nBest regards,\nAnna Schmidt\nSchmuck GmbH\n"),
     {"text": "Please quote 2,000 pairs.",
      "signature": "Best regards,\nAnna Schmidt\nSchmuck GmbH"}),
    ("HTML-only reply with a Gmail quote",
     mail(b"Content-Type: text/html; charset=utf-8",
          body=b'<div dir="ltr">Yes, 3,000 pcs.</div><br><div class="gmail_quote">'
               b'<div class="gmail_attr">On Mon, 16 Nov 2026 at 10:00, Lily &lt;l@b.example'
               b'&gt; wrote:<br></div><blockquote class="gmail_quote"><p>How many?</p>'
               b'</blockquote></div>'),
     {"text": "Yes, 3,000 pcs.", "quoted": Has("wrote:", "> How many?"), "html": True}),
    ("'thanks' is not taken for a sign-off",
     mail(body=b"Thank you.\nWe need 5,000 pcs of BS-NK-101.\nTom\n"),
     {"text": "Thank you.\nWe need 5,000 pcs of BS-NK-101.\nTom", "signature": ""}),
    ("NUL bytes and bare CR",
     b"From: a@example.com\rSubject: nul\x00ls\r\rline one\x00\rline two\r",
     {"subject": "nulls", "text": "line one\nline two",
      "defects": (Has("NUL"), Has("bare CR"))}),
    ("CRLF line endings", b"From: a@example.com\r\nSubject: crlf\r\n\r\nbody\r\n",
     {"subject": "crlf", "text": "body", "defects": ()}),
    ("leading blank lines and obsolete 'Name :' syntax",
     b"   \n\nSubject : spaced\nFrom  : a@example.com\n\nbody\n",
     {"subject": "spaced", "from_": Address("", "a@example.com"), "text": "body"}),
    ("broken boundary keeps the text",
     mail(b'Content-Type: multipart/mixed; boundary="nowhere"', body=b"raw words\n"),
     {"text": "raw words", "defects": (Has("StartBoundaryNotFound"), Has("Multipart"))}),
]

PDF = b"%PDF-1.4 tiny draft PO\n"
ATTACHMENT_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("attachments with names, types and decoded sizes",
     mail(*multipart(
         "multipart/mixed",
         b"Content-Type: text/plain\n\nDraft PO attached.",
         b"Content-Type: application/pdf; name=PO.pdf\nContent-Transfer-Encoding: base64\n"
         b"Content-Disposition: attachment; filename=\"PO-2026.pdf\"\n\n"
         + base64.encodebytes(PDF),
         b"Content-Type: image/png\nContent-Disposition: attachment;\n filename*=gb2312''"
         + "".join(f"%{b:02X}" for b in "镕达.png".encode("gbk")).encode() + b"\n\nPNG",
         b'Content-Type: text/csv; name="' + word("价格表.csv", "gb2312", "gbk") + b'"\n\na,b',
         b"Content-Type: text/plain\nContent-Disposition: attachment\n\nnotes",
         b"Content-Type: message/rfc822\n\n"
         b"From: x@y.example\nSubject: fwd\n\ninner words")),
     {"text": "Draft PO attached.",
      "attachments": (Attachment("PO-2026.pdf", "application/pdf", len(PDF)),
                      Attachment("镕达.png", "image/png", 3),
                      Attachment("价格表.csv", "text/csv", 3),
                      Attachment("", "text/plain", 5),
                      Attachment("", "message/rfc822", 11))}),
]

DSN = b"""From: MAILER-DAEMON@mx.brightstar.example
To: sales@brightstar.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Return-Path: <>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

Your message could not be delivered.
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.brightstar.example

Final-Recipient: rfc822; Purchasing@Old-Bazaar.example
Original-Recipient: rfc822;purchasing@old-bazaar.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx1.old-bazaar.example
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--R
Content-Type: text/rfc822-headers

Message-ID: <f-1@brightstar.example>
--R--
"""
REPORT_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("delivery-status report",
     DSN,
     {"content_type": "multipart/report", "report_type": "delivery-status",
      "return_path": "<>", "text": "Your message could not be delivered.",
      "delivery_status": (DeliveryStatus(
          final_recipient="rfc822; Purchasing@Old-Bazaar.example", action="failed",
          status="5.1.1", diagnostic_code="smtp; 550 5.1.1 User unknown",
          original_recipient="rfc822;purchasing@old-bazaar.example",
          remote_mta="dns; mx1.old-bazaar.example",
          reporting_mta="dns; mx.brightstar.example"),),
      "attachments": (Attachment("", "text/rfc822-headers", 36),)}),
]

ALL_CASES = CHARSET_CASES + HEADER_CASES + BODY_CASES + ATTACHMENT_CASES + REPORT_CASES


@pytest.mark.parametrize(("raw", "expected"),
                         [pytest.param(r, e, id=i) for i, r, e in ALL_CASES])
def test_parse_table(raw: bytes, expected: dict[str, Any]) -> None:
    parsed = parse(raw)
    assert {key: getattr(parsed, key) for key in expected} == expected


def test_subject_never_contains_line_breaks() -> None:
    for _, raw, _ in ALL_CASES:
        subject = parse(raw).subject
        assert not any(ch in subject for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def test_delivery_status_helpers() -> None:
    status = parse(DSN).delivery_status[0]
    assert (status.recipient, status.permanent) == ("purchasing@old-bazaar.example", True)


def test_address_is_lower_cased_with_its_domain() -> None:
    assert Address("A", " Tom@Buyer.EXAMPLE ").email == "tom@buyer.example"
    assert Address("A", "Tom@Buyer.EXAMPLE").domain == "buyer.example"
    assert Address("", "postmaster").domain == ""


# --------------------------------------------------------------------------- refusals

HEADERS = b"From: a@example.com\nTo: b@example.com\nSubject: x\n"


def nested(depth: int) -> bytes:
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i)
                       for i in range(depth))
    closing = b"".join(b"\n--b%d--\n" % i for i in reversed(range(depth)))
    return HEADERS + opening + b"Content-Type: text/plain\n\ndeep\n" + closing


def flat(parts: int) -> bytes:
    body = b"".join(b"--x\nContent-Type: text/plain\n\npart %d\n" % i for i in range(parts))
    return HEADERS + b'Content-Type: multipart/mixed; boundary="x"\n\n' + body + b"--x--\n"


def big(size: int) -> bytes:
    return HEADERS + b"\n" + (b"a" * 76 + b"\n") * (size // 77 + 1)


def encoded_subject(words: int) -> bytes:
    return (b"From: a@example.com\nSubject: " + b" ".join([b"=?utf-8?q?ab?="] * words)
            + b"\n\nbody\n")


ADVERSARIAL: dict[str, tuple[Callable[[], bytes], str]] = {
    "1,000-deep nesting": (lambda: nested(1000), "multipart nesting deeper than 50"),
    "100,000 parts": (lambda: flat(100_000), "more than 500 MIME parts"),
    "50 MB body": (lambda: big(50 * 1024 * 1024), "over the 25 MiB limit"),
    "200,000 encoded words in the subject": (lambda: encoded_subject(200_000),
                                             "over the 256 KiB limit"),
}

REFUSED: list[tuple[str, bytes, ParseLimits, str]] = [
    ("empty", b"", ParseLimits(), "message is empty"),
    ("only blank lines", b"\r\n\r\n  \n", ParseLimits(), "message is empty"),
    ("not a message", b"%PDF-1.4\n1 0 obj\n", ParseLimits(), "no headers found"),
    ("binary", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), ParseLimits(),
     "no headers found"),
    ("one part too many", flat(4), ParseLimits(max_parts=3), "more than 3 MIME parts"),
    ("one level too deep", nested(4), ParseLimits(max_depth=3), "deeper than 3"),
    ("headers too large", mail(b"X-Junk: " + b"j" * 3000),
     ParseLimits(max_header_bytes=2048), "headers are 3,"),
    ("message/rfc822 chain too deep",
     HEADERS + b"Content-Type: message/rfc822\n\n" * 60 + b"Subject: in\n\nx\n",
     ParseLimits(), "deeper than 50"),
]


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_messages_are_refused_by_the_limits(name: str) -> None:
    make, reason = ADVERSARIAL[name]
    with pytest.raises(PermanentError, match=reason):
        parse(make())


@pytest.mark.parametrize(("raw", "limits", "reason"),
                         [pytest.param(r, lim, why, id=i) for i, r, lim, why in REFUSED])
def test_refusals_name_the_reason(raw: bytes, limits: ParseLimits, reason: str) -> None:
    with pytest.raises(PermanentError, match=reason):
        parse(raw, limits)


def test_within_the_limits_is_parsed() -> None:
    assert parse(nested(3), ParseLimits(max_depth=3)).text == "deep"
    assert len(parse(flat(3), ParseLimits(max_parts=3)).text.split("\n\n")) == 3


def test_huge_subject_is_handled_when_the_header_limit_allows_it() -> None:
    parsed = parse(encoded_subject(200_000), ParseLimits(max_header_bytes=4 * 1024 * 1024))
    assert parsed.subject == "ab" * 1000
    assert any("subject: cut" in defect for defect in parsed.defects)


def test_pathological_html_is_converted() -> None:
    html = b"<p>" + b"</" * 200_000 + b"<!" * 200_000 + b"<![CDATA[" * 20_000 + b"end"
    parsed = parse(mail(b"Content-Type: text/html", body=html))
    assert parsed.text.endswith("end")


# ---------------------------------------------------------------- corpus and inbox

REFUSAL_REASONS = ("no headers found", "message is empty", "MIME parts", "nesting deeper",
                   "over the")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the shared mail corpus is missing: {CORPUS}")
        pytest.skip(f"no shared mail corpus at {CORPUS}")
    return [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name != "LICENSE"
            and p.suffix != ".md" and not p.name.startswith(".")]


def test_every_corpus_file_parses_or_is_refused_with_a_reason() -> None:
    problems, refused, parsed = [], 0, 0
    for path in corpus_files():
        try:
            assert isinstance(parse(path.read_bytes()), Mail)
            parsed += 1
        except PermanentError as exc:
            refused += 1
            if not any(reason in str(exc) for reason in REFUSAL_REASONS):
                problems.append(f"{path}: refused for an unexpected reason: {exc}")
        except Exception as exc:  # noqa: BLE001 - collect them all, report together
            problems.append(f"{path}: {type(exc).__name__}: {exc}")
    assert not problems, "\n".join(problems)
    assert parsed > 800 and refused < 20


def test_sample_inbox_gb2312_with_gbk_characters() -> None:
    parsed = parse(next(INBOX.glob("*.sample17.*")).read_bytes())
    assert "镕" in parsed.subject and "堃" in parsed.from_.name  # type: ignore[union-attr]
    assert "镕" in parsed.text and "喆" in parsed.text and "\ufffd" not in parsed.text


def test_sample_inbox_bounce() -> None:
    parsed = parse(next(INBOX.glob("*.sample26.*")).read_bytes())
    assert [(s.recipient, s.status) for s in parsed.delivery_status] == [
        ("purchasing@old-bazaar-imports.example", "5.1.1")]


# --------------------------------------------------------------------------- purity

def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom)}
    return {name.split(".")[0] for name in names}


def test_only_parse_imports_mailparser() -> None:
    daemon = ROOT / "daemon"
    users = [p.name for p in daemon.rglob("*.py") if "mailparser" in imports_of(p)]
    assert users == ["parse.py"]


def test_types_is_stdlib_only() -> None:
    import sys
    assert imports_of(ROOT / "daemon" / "types.py") <= set(sys.stdlib_module_names) | {
        "__future__"}
