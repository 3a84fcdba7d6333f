"""Drafting replies: template by kind, grade, language; threading; headers; no reply to machines."""

from __future__ import annotations

import ast
import email
import email.policy
import tomllib
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from daemon import draft as drafting
from daemon.catalog import Catalog
from daemon.config import Company
from daemon.draft import (AttachmentSpec, BuyerView, ComposedDraft, build_message,
                          choose_attachments, compose, make_message_id, note_problems,
                          reply_subject, thread_references)
from daemon.match_buyer import BuyerMatch, Lookup
from daemon.templating import RenderError, environment
from daemon.types import (Address, Classification, Extracted, GradeResult, Incoterm, Kind,
                          Mail, Money, PlatformLead, ProductHit, Quantity, Reason)
from daemon.understand import Decision

ROOT = Path(__file__).resolve().parents[1]
SENDER = "Lily Chen <lily@brightstar-crafts.example>"
TODAY = date(2026, 11, 20)
LANGS = ("en", "es", "fr", "ru", "ar", "zh")
GRADE_REASON = "GRADE-REASON quantity 5,000 pcs and a target price"
KIND_REASON = "KIND-REASON asks for a price"
GREETING = {"en": "Dear Ahmed Al-Mansoori,", "es": "Estimado/a Ahmed Al-Mansoori:",
            "fr": "Bonjour Ahmed Al-Mansoori,", "ru": "Здравствуйте, Ahmed Al-Mansoori!",
            "ar": "السيد/ة Ahmed Al-Mansoori المحترم/ة،", "zh": "Ahmed Al-Mansoori，您好！"}


@pytest.fixture(scope="module")
def company() -> Company:
    data = tomllib.loads((ROOT / "inquiryd.example.toml").read_text("utf-8"))["company"]
    return Company(**data)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_csv_text((ROOT / "rules" / "catalog.csv").read_text("utf-8"), "c")


@pytest.fixture(scope="module")
def env() -> Any:
    return environment(ROOT / "templates")


def asked(*skus: str, **fields: Any) -> Extracted:
    return Extracted(products=tuple(ProductHit(s, s, s.lower()) for s in skus), **fields)


def decision(kind: Kind = Kind.INQUIRY, grade: str | None = "B",
             extracted: Extracted | None = None, platform: PlatformLead | None = None,
             country: str = "AE", region: str = "middle_east") -> Decision:
    return Decision(
        Classification(kind, (Reason("inquiry-words", KIND_REASON),), platform=platform),
        extracted if extracted is not None else asked("BS-NK-101"),
        BuyerMatch(7, "address", Lookup(address="ahmed@almansoori.example"),
                   (Reason("same-address", "MATCH-REASON seen before"),)),
        GradeResult(grade, (Reason("signals", GRADE_REASON),)) if grade else None,
        country, region)


def mail(**fields: Any) -> Mail:
    base: dict[str, Any] = {
        "from_": Address("Ahmed Al-Mansoori", "ahmed@almansoori.example"),
        "to": (Address("", "sales@brightstar-crafts.example"),),
        "subject": "Inquiry: name necklaces", "message_id": "<m1@almansoori.example>",
        "text": "Please quote 5000 pcs."}
    return Mail(**{**base, **fields})


BUYER = BuyerView("Ahmed Al-Mansoori", "Al Mansoori Gifts", "AE", "middle_east", 2,
                  date(2026, 10, 1))


def make(dec: Decision, env: Any, company: Company, catalog: Catalog, m: Mail | None = None,
         buyer: BuyerView = BUYER, **kw: Any) -> ComposedDraft | None:
    return compose(dec, m or mail(), settings_company=company, sender=SENDER, buyer=buyer,
                   catalog=catalog, env=env, today=TODAY, draft_id="d-20261120-0001",
                   message_id_domain="brightstar-crafts.example", **kw)


# ------------------------------------------------------------------ each grade and language


FULL = asked("BS-NK-101", "BS-ER-310", quantities=(Quantity(5000, "pcs"),),
             target_prices=(Money(Decimal("0.70"), "USD", "USD 0.70"),),
             incoterms=(Incoterm("CIF", "Jebel Ali"),))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("grade", ["A", "B", "C", "D"])
def test_each_grade_and_language(env: Any, company: Company, catalog: Catalog, grade: str,
                                 lang: str) -> None:
    extracted = Extracted(**{**{f: getattr(FULL, f) for f in FULL.__dataclass_fields__},
                             "language": lang})
    draft = make(decision(grade=grade, extracted=extracted), env, company, catalog)
    assert draft is not None
    assert (draft.template, draft.language, draft.grade) == (f"reply/{lang}/{grade}.txt.j2",
                                                            lang, grade)
    body = draft.body
    assert body.startswith(GREETING[lang] + "\n\n")
    for fact in (company.name, company.telephone, company.fax, company.website,
                 company.total_assets, company.annual_sales, "lily@brightstar-crafts.example"):
        assert fact in body, fact
    if grade in ("A", "B", "C"):
        assert "BS-NK-101" in body and "0.82" in body       # 5,000 pcs tier, Middle East
    assert draft.subject == "Re: Inquiry: name necklaces"
    assert draft.to == Address("Ahmed Al-Mansoori", "ahmed@almansoori.example")
    never_to_the_buyer(draft, catalog)


def never_to_the_buyer(draft: ComposedDraft, catalog: Catalog) -> None:
    """Grade, reasons, reviewer context and floor prices stay out of subject and body."""
    shown = draft.subject + "\n" + draft.body
    for secret in (GRADE_REASON, KIND_REASON, "MATCH-REASON", "for the reviewer only",
                   "floor"):
        assert secret not in shown
    for line in draft.context.splitlines()[2:]:
        if line.strip() and ":" in line and "floor" in line:
            assert line.strip() not in shown
    for product in catalog:
        assert product.floor_price is not None
        assert f" {product.floor_price}\n" not in shown and f" {product.floor_price} " not in shown
    assert "\r" not in shown and "\t" not in draft.body


def test_the_a_grade_offers_the_proforma_invoice(env: Any, company: Company,
                                                 catalog: Catalog) -> None:
    draft = make(decision(grade="A", extracted=FULL), env, company, catalog)
    assert draft is not None
    assert "proforma invoice (PI)" in draft.body
    assert "Total (USD, FOB Ningbo)" in draft.body
    assert "we noted: CIF Jebel Ali" in draft.body


def test_no_product_asks_what_to_quote(env: Any, company: Company, catalog: Catalog) -> None:
    for grade in "ABCD":
        draft = make(decision(grade=grade, extracted=Extracted()), env, company, catalog)
        assert draft is not None
        assert "QUOTATION" not in draft.body
        if grade != "C":
            assert "which products or models" in draft.body
            assert "target price" in draft.body and "destination port" in draft.body


@pytest.mark.parametrize(("tag", "template"), [
    ("es", "reply/es/B.txt.j2"), ("zh-TW", "reply/zh/B.txt.j2"), ("pt", "reply/en/B.txt.j2"),
    ("de", "reply/en/B.txt.j2"), ("", "reply/en/B.txt.j2"), ("RU", "reply/ru/B.txt.j2"),
])
def test_language_falls_back_to_english(env: Any, company: Company, catalog: Catalog,
                                        tag: str, template: str) -> None:
    draft = make(decision(extracted=asked("BS-NK-101", language=tag)), env, company, catalog)
    assert draft is not None and draft.template == template
    assert draft.language == template.split("/")[1]


@pytest.mark.parametrize(("grade", "requests", "variant"), [
    ("A", {"sample"}, "A"), ("B", {"sample"}, "sample"), ("D", {"sample", "pi"}, "sample"),
    ("C", set(), "C"), (None, set(), "D"),
])
def test_template_choice(env: Any, company: Company, catalog: Catalog, grade: str | None,
                         requests: set[str], variant: str) -> None:
    extracted = asked("BS-NK-101", requests=frozenset(requests))
    draft = make(decision(grade=grade, extracted=extracted), env, company, catalog)
    assert draft is not None and draft.variant == variant


def test_the_sample_reply_states_the_policy(env: Any, company: Company,
                                            catalog: Catalog) -> None:
    extracted = asked("BS-NK-101", requests=frozenset({"sample"}))
    draft = make(decision(extracted=extracted), env, company, catalog)
    assert draft is not None
    assert "e-sample" in draft.body and "freight collect" in draft.body
    assert "T/T in advance" in draft.body
    assert any(a.kind == "e_sample" and a.sku == "BS-NK-101" for a in draft.attachments)


def test_a_reply_from_the_buyer_is_answered_as_a_reply(env: Any, company: Company,
                                                       catalog: Catalog) -> None:
    draft = make(decision(kind=Kind.REPLY), env, company, catalog,
                 m=mail(subject="RE: Re: Quotation", references=("<q1@brightstar-crafts.example>",),
                        in_reply_to="<q1@brightstar-crafts.example>"))
    assert draft is not None
    assert draft.subject == "Re: Quotation" and "Thank you for your reply." in draft.body


# ------------------------------------------------------------------ platform replies


LEAD = PlatformLead("Alibaba.com", "Ahmed Al-Mansoori", "Al Mansoori Gifts Trading",
                    "United Arab Emirates", "Stainless Steel Pendant Necklace (BS-NK-101)",
                    "2,000 Pieces", "Please quote", "https://message.alibaba.example/IQ1")


@pytest.mark.parametrize("lang", LANGS)
def test_platform_reply_goes_to_the_salesperson_to_paste(env: Any, company: Company,
                                                         catalog: Catalog, lang: str) -> None:
    notification = mail(from_=Address("Alibaba.com", "notification@service.alibaba.example"),
                        subject="You have a new inquiry from Ahmed Al-Mansoori")
    dec = decision(kind=Kind.PLATFORM, extracted=asked("BS-NK-101", language=lang),
                   platform=LEAD)
    draft = make(dec, env, company, catalog, m=notification)
    assert draft is not None and draft.variant == "platform" and draft.via_platform
    assert draft.to == Address("Lily Chen", "lily@brightstar-crafts.example")
    assert draft.platform_reply_url == LEAD.reply_url
    assert draft.subject.startswith("[Reply on Alibaba.com] Ahmed Al-Mansoori")
    banner, _, rest = draft.body.partition("copy from here")
    assert "FOR THE SALESPERSON" in banner and LEAD.reply_url in banner
    reply, _, after = rest.partition("copy up to here")
    assert GREETING[lang] in reply and company.name in reply
    assert after.strip() == "/ 复制到这里为止 -----"
    assert draft.body.rstrip().endswith("copy up to here / 复制到这里为止 -----")
    message = build_message(draft, [], sender=SENDER, draft_id="d1",
                            message_id=draft.message_id, date=datetime.now(timezone.utc))
    assert message["X-Inquiryd-Platform-Reply"] == LEAD.reply_url


def test_an_rfq_digest_gets_no_draft(env: Any, company: Company, catalog: Catalog) -> None:
    assert make(decision(kind=Kind.PLATFORM, platform=None), env, company, catalog) is None


# ------------------------------------------------------------------ who gets no draft


@pytest.mark.parametrize("kind", [Kind.AUTO_REPLY, Kind.BOUNCE, Kind.NEWSLETTER, Kind.SPAM,
                                  Kind.UNSUBSCRIBE, Kind.OTHER])
def test_no_draft_for_kinds_that_are_not_buying(env: Any, company: Company, catalog: Catalog,
                                                kind: Kind) -> None:
    assert make(decision(kind=kind, grade=None), env, company, catalog) is None
    assert drafting.skip_reason(decision(kind=kind), mail()) is not None


@pytest.mark.parametrize(("fields", "why"), [
    ({"from_": Address("Lily", "lily@brightstar-crafts.example")}, "our own"),
    ({"from_": Address("", "x@mail.brightstar-crafts.example")}, "our own"),
    ({"reply_to": (Address("", "sales@brightstar-crafts.example"),)}, "our own"),
    ({"from_": Address("Mail Delivery", "MAILER-DAEMON@mx.example")}, "machine"),
    ({"from_": Address("", "noreply@shop.example")}, "machine"),
    ({"from_": Address("", "do-not-reply@shop.example")}, "machine"),
    ({"from_": Address("", "postmaster@shop.example")}, "machine"),
    ({"auto_submitted": "auto-replied"}, "Auto-Submitted"),
    ({"precedence": "bulk"}, "Precedence"),
    ({"list_id": "<buyers.lists.example>"}, "mailing list"),
    ({"return_path": "<>"}, "empty return path"),
    ({"from_": None}, "no sender"),
    ({"from_": Address("", "not an address")}, "not an address"),
])
def test_no_draft_for_our_own_or_machine_senders(env: Any, company: Company, catalog: Catalog,
                                                 fields: dict[str, Any], why: str) -> None:
    m = mail(**fields)
    assert make(decision(), env, company, catalog, m=m) is None
    reason = drafting.skip_reason(decision(), m, own_domains=company.own_domains)
    assert reason is not None and why in reason


def test_auto_submitted_no_is_a_person(env: Any, company: Company, catalog: Catalog) -> None:
    assert make(decision(), env, company, catalog, m=mail(auto_submitted="no")) is not None


def test_reply_to_is_where_the_reply_goes(env: Any, company: Company, catalog: Catalog) -> None:
    m = mail(reply_to=(Address("Purchasing", "buy@almansoori.example"),))
    draft = make(decision(), env, company, catalog, m=m)
    assert draft is not None and draft.to.email == "buy@almansoori.example"


# ------------------------------------------------------------------ subject and threading


@pytest.mark.parametrize(("original", "subject"), [
    ("Inquiry", "Re: Inquiry"),
    ("Re: Inquiry", "Re: Inquiry"),
    ("RE: Re: AW: Inquiry", "Re: Inquiry"),
    ("Re[2]: Inquiry", "Re: Inquiry"),
    ("回复：询价", "Re: 询价"),
    ("Fwd: price list", "Re: Fwd: price list"),
    ("Inquiry\r\nBcc: victim@example.com", "Re: Inquiry Bcc: victim@example.com"),
    ("a\x00b\x1bc", "Re: a b c"),
    ("", "Re: Your inquiry"),
    ("x" * 500, "Re: " + "x" * 196),
])
def test_reply_subject(original: str, subject: str) -> None:
    assert reply_subject(original) == subject


def test_subject_of_a_draft_has_no_line_break(env: Any, company: Company,
                                              catalog: Catalog) -> None:
    draft = make(decision(), env, company, catalog,
                 m=mail(subject="Price\nBcc: victim@example.com"))
    assert draft is not None and "\n" not in draft.subject
    assert draft.subject == "Re: Price Bcc: victim@example.com"


def test_threading_headers() -> None:
    m = mail(message_id="<m3@b.example>", references=("<m1@b.example>", "<m2@b.example>",
                                                       "<m1@b.example>"))
    assert thread_references(m) == ("<m1@b.example>", "<m2@b.example>", "<m3@b.example>")
    long = mail(message_id="<last@b.example>",
                references=tuple(f"<r{i}@b.example>" for i in range(40)))
    refs = thread_references(long)
    assert len(refs) == 20 and refs[0] == "<r0@b.example>" and refs[-1] == "<last@b.example>"
    assert thread_references(mail(message_id="bare@b.example")) == ("<bare@b.example>",)


# ------------------------------------------------------------------ the message


def test_build_message(env: Any, company: Company, catalog: Catalog) -> None:
    draft = make(decision(grade="A", extracted=FULL), env, company, catalog,
                 m=mail(references=("<m0@almansoori.example>",)))
    assert draft is not None
    when = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    msg = build_message(draft, [("BS-NK-101-e-sample.pdf", "application/pdf", b"%PDF-1.4 x"),
                                ("../../etc/passwd\r\n.xlsx", "application/vnd.ms-excel",
                                 b"PK")],
                        sender=SENDER, draft_id="d-20261120-0001", message_id=draft.message_id,
                        date=when)
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["From"] == SENDER
    assert parsed["To"] == "Ahmed Al-Mansoori <ahmed@almansoori.example>"
    assert parsed["Subject"] == draft.subject
    assert parsed["Message-ID"] == "<d-20261120-0001@brightstar-crafts.example>"
    assert parsed["In-Reply-To"] == "<m1@almansoori.example>"
    assert parsed["References"] == "<m0@almansoori.example> <m1@almansoori.example>"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Inquiryd-Draft"] == "d-20261120-0001"
    assert parsed["X-Inquiryd-Loop"] == "inquiryd; brightstar-crafts.example"
    assert parsed["Content-Language"] == "en"
    assert parsed["Date"] == "Fri, 20 Nov 2026 09:30:00 +0000"
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content() == draft.body
    assert body.get_content_charset() == "utf-8"
    names = [part.get_filename() for part in parsed.iter_attachments()]
    assert names == ["BS-NK-101-e-sample.pdf", "passwd .xlsx"]


def test_headers_are_sanitised(env: Any, company: Company, catalog: Catalog) -> None:
    m = mail(from_=Address("Evil\r\nBcc: victim@example.com", "ahmed@almansoori.example"),
             message_id="<m1@x.example>\r\nBcc: victim@example.com")
    draft = make(decision(), env, company, catalog, m=m)
    assert draft is not None
    msg = build_message(draft, [], sender=SENDER, draft_id="d1", message_id=draft.message_id,
                        date=datetime(2026, 11, 20, tzinfo=timezone.utc))
    raw = msg.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert b"\nBcc:" not in raw
    assert parsed["To"].addresses[0].addr_spec == "ahmed@almansoori.example"
    assert parsed["In-Reply-To"] == "<m1@x.example>"


@pytest.mark.parametrize(("draft_id", "domain"), [
    ("bad id", "b.example"), ("x" * 41, "b.example"), ("d1", "not a domain"),
    ("d1\r\n", "b.example"),
])
def test_message_id_parts_are_checked(draft_id: str, domain: str) -> None:
    with pytest.raises(ValueError):
        make_message_id(draft_id, domain)


# ------------------------------------------------------------------ attachments and context


def test_attachment_choice(catalog: Catalog) -> None:
    products = [p for p in catalog][:7]
    pick = lambda **kw: choose_attachments(  # noqa: E731
        **{"grade": "B", "requests": frozenset(), "products": products[:1],
           "region": "middle_east", "first_contact": False,
           "company_name": "Yiwu Brightstar Crafts Co., Ltd.", "today": TODAY, **kw})
    kinds = lambda specs: [s.kind for s in specs]  # noqa: E731
    assert kinds(pick(grade="A")) == ["e_sample"]
    assert kinds(pick(grade="A", first_contact=True)) == ["profile", "e_sample"]
    assert kinds(pick(grade="B")) == ["price_sheet", "e_sample"]
    assert kinds(pick(grade="C")) == ["profile", "price_sheet", "e_sample"]
    assert kinds(pick(grade="A", requests=frozenset({"price_list"}))) == ["price_sheet",
                                                                          "e_sample"]
    assert kinds(pick(grade="D", products=products)).count("e_sample") == 5
    sheet = pick(region="")[0]
    assert sheet == AttachmentSpec("price_sheet", "Yiwu-Brightstar-Crafts-price-list-2026-11",
                                   region="default")
    assert "middle" not in pick()[0].name          # the buyer never sees the region


def test_reviewer_context(env: Any, company: Company, catalog: Catalog) -> None:
    draft = make(decision(grade="A", extracted=FULL), env, company, catalog)
    assert draft is not None
    context = draft.context
    for expected in ("for the reviewer only", "Grade:        A", GRADE_REASON, KIND_REASON,
                     "MATCH-REASON", "2 earlier inquiries, last contact 2026-10-01",
                     "BS-NK-101", "price_middle_east", "CIF Jebel Ali", "5,000 pcs",
                     "below the floor price 0.78", "reply/en/A.txt.j2",
                     "e_sample BS-NK-101-e-sample"):
        assert expected in context, expected
    new = make(decision(), env, company, catalog, buyer=BuyerView())
    assert new is not None and "first contact" in new.context
    noted = note_problems(draft, ["price_sheet x: missing"])
    assert noted.context.endswith("  - price_sheet x: missing\n")
    assert note_problems(draft, []) is draft


def test_a_broken_template_is_a_render_error(tmp_path: Path, company: Company,
                                             catalog: Catalog) -> None:
    import shutil
    shutil.copytree(ROOT / "templates" / "reply", tmp_path / "reply")
    (tmp_path / "reply" / "en" / "B.txt.j2").write_text(
        "Subject: x\n{{ buyer.nmae }}\n", encoding="utf-8")
    with pytest.raises(RenderError, match=r"B\.txt\.j2:2: 'dict object' has no attribute"):
        make(decision(), environment(tmp_path), company, catalog)


# ------------------------------------------------------------------ purity


@pytest.mark.parametrize("module", ["draft.py", "quotation.py", "language.py"])
def test_drafting_is_pure(module: str) -> None:
    """No I/O library imported, no file opened: the draft stage is data in, data out."""
    tree = ast.parse((ROOT / "daemon" / module).read_text("utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in names}
    assert not roots & {"imapclient", "aiosmtplib", "sqlalchemy", "mailparser", "openpyxl",
                        "os", "shutil", "socket", "subprocess", "pathlib"}
    assert "daemon.attachments" not in names
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not calls & {"open", "read_text", "read_bytes", "write_text", "write_bytes"}
