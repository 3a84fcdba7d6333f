"""Answering a buyer inside a quoted thread: what the reply asks (tables of buyer texts),
the counter-offer against the floor price, and the whole path through the pipeline on
SQLite and PostgreSQL: inquiry, quote sent, counter-offer, sample request."""

from __future__ import annotations

import email
import shutil
from datetime import date, datetime, timezone
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon import negotiation, outbox, pipeline, rulebook
from daemon.catalog import Catalog
from daemon.config import Company
from daemon.db import Database
from daemon.explain import explain
from daemon.draft import BuyerView, compose, sample_contexts
from daemon.extract import extract
from daemon.match_buyer import BuyerMatch, Lookup
from daemon.models import Draft, Inquiry, Message, RawMessage, Stage
from daemon.parse import parse
from daemon.quotation import tier_prices
from daemon.templating import environment, render_all_for_check
from daemon.types import Classification, GradeResult, Kind, Mail, Money, ParseLimits, Reason
from daemon.understand import Decision
from tests.helpers import ROOT, settings_for

BOOK = rulebook.load(ROOT / "rules")
CATALOG: Catalog = BOOK.catalog
NECKLACE = CATALOG.get("BS-NK-101")
TODAY = date(2026, 11, 21)
BUYER = "Ahmed Al Noor <ahmed@alnoor-trading.example>"
SIGNATURE = ("Best regards,\nAhmed Al Noor\nAl Noor Trading LLC\nDubai, United Arab Emirates\n"
             "Tel: +971 4 123 4567\n")


def mail_bytes(subject: str, body: str, *, message_id: str, in_reply_to: str = "",
               references: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = BUYER
    msg["To"] = "sales@brightstar.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 21, 6, 30, tzinfo=timezone.utc))
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references
    msg.set_content(body)
    return msg.as_bytes()


def parsed(text: str) -> Mail:
    return parse(mail_bytes("Re: Quotation", text, message_id="<t@alnoor-trading.example>"),
                 ParseLimits())


def asks(text: str) -> negotiation.Asks:
    mail = parsed(text)
    assert NECKLACE is not None
    ours = [price for _, price in tier_prices(NECKLACE.price_for("middle_east"), NECKLACE.moq,
                                              NECKLACE.floor_price)]   # 0.86 0.83 0.82 0.79
    return negotiation.what_is_asked(mail.text, extract(mail, CATALOG, BOOK.geo, TODAY), ours)


# ------------------------------------------------------------------ what is asked (pure)


@pytest.mark.parametrize(("text", "topics", "offers"), [
    ("Your price is too high. Can you do USD 0.80?", ("price",), ["0.80"]),
    ("Your price of USD 0.86 is too high, we can pay 0.75", ("price",), ["0.75"]),
    ("At USD 0.86 it is too expensive; we can accept USD 0.79 like your 10,000 pcs price",
     ("price",), ["0.79"]),
    ("Your price of USD 0.82 for 5,000 pcs is ok, what is the MOQ?", ("moq",), []),
    ("Could you do it at 0,80 for 5.000 pcs?", ("price",), ["0.80"]),
    ("What is your best price for 10,000 pcs?", ("price",), []),
    ("Could you give us a discount on the necklaces?", ("price",), []),
    ("Our target price is USD 0.75 per piece.", ("price",), ["0.75"]),
    ("What is the MOQ for the pendant necklace?", ("moq",), []),
    ("What is the minimum order quantity?", ("moq",), []),
    ("How long is the lead time after deposit?", ("lead_time",), []),
    ("Do you have CE and RoHS certificates for this item?", ("certification",), []),
    ("Please send us a sample before we order.", ("sample",), []),
    ("Thank you, we will discuss internally and come back to you.", (), []),
    ("Merci pour ce devis, nous revenons vers vous.", (), []),
    ("We need 5.000 pcs at the end of March.", (), []),
    ("El precio es muy caro, ¿pueden hacer un descuento?", ("price",), []),
    ("Le prix est trop cher. Quel est le délai de livraison ?", ("price", "lead_time"), []),
    ("价格太贵了，起订量是多少？交期多久？", ("price", "moq", "lead_time"), []),
    ("Какой срок изготовления и есть ли сертификат?", ("lead_time", "certification"), []),
    ("السعر غالي، هل يمكن خصم؟", ("price",), []),
    ("Too high. Can you do 0.80? What is the MOQ and lead time? Do you have CE? "
     "Please send samples.", ("price", "moq", "lead_time", "certification", "sample"),
     ["0.80"]),
])
def test_what_a_reply_asks(text: str, topics: tuple[str, ...], offers: list[str]) -> None:
    found = asks(text)
    assert found.topics == topics
    assert [str(o.amount) for o in found.offers] == offers
    assert [r.rule for r in found.reasons] == list(topics)


@pytest.mark.parametrize(("text", "certs"), [
    ("Do you have CE and RoHS?", ("CE", "RoHS")),
    ("is it EN71 tested, and Prop 65 compliant?", ("EN 71", "Prop 65")),
    ("Merci, ce prix nous convient", ()),
    ("We need an SGS test report and ISO9001", ("SGS", "ISO 9001")),
])
def test_named_certificates(text: str, certs: tuple[str, ...]) -> None:
    assert negotiation.named_certificates(text) == certs


def offer(amount: str, currency: str = "USD") -> Money:
    return Money(Decimal(amount), currency, f"{currency} {amount}")


@pytest.mark.parametrize(("given", "verdict"), [
    (offer("0.86"), "confirm"), (offer("0.90"), "confirm"), (offer("0.80"), "meet"),
    (offer("0.78"), "meet"), (offer("0.77"), "decline"), (offer("0.50"), "decline"),
    (offer("0.70", "EUR"), "restate"), (None, "restate")])
def test_a_counter_offer_against_our_price_and_the_floor(given: Money | None,
                                                        verdict: str) -> None:
    assert NECKLACE is not None and NECKLACE.floor_price == Decimal("0.78")
    answer = negotiation.price_answer(NECKLACE, "middle_east", given, 5000)
    assert (answer.price, answer.column, answer.verdict) == (
        Decimal("0.86"), "price_middle_east", verdict)
    assert answer.quantity == 5000
    assert negotiation.price_answer(NECKLACE, "", given, 0).quantity == NECKLACE.moq


@pytest.mark.parametrize(("given", "counter"), [
    ("0.80", "0.83"), ("0.78", "0.82"), ("0.85", "0.86")])
def test_above_the_floor_the_draft_meets_the_buyer_halfway(given: str, counter: str) -> None:
    assert NECKLACE is not None
    answer = negotiation.price_answer(NECKLACE, "middle_east", offer(given), 5000)
    assert answer.verdict == "meet" and answer.counter == Decimal(counter)
    assert negotiation.halfway(Decimal("0.50"), Decimal("0.86"), Decimal("0.78")) == Decimal("0.78")


def test_without_a_floor_a_person_decides() -> None:
    assert NECKLACE is not None
    bare = NECKLACE.__class__(**{**{f: getattr(NECKLACE, f) for f in NECKLACE.__slots__},
                                 "floor_price": None})
    assert negotiation.price_answer(bare, "europe", offer("0.50"), 0).verdict == "check"


def test_each_product_gets_the_figure_written_after_it() -> None:
    bracelet = CATALOG.get("BS-BR-205")
    assert NECKLACE and bracelet
    text = "For the pendant necklace USD 0.80, and for the beaded bracelet USD 0.40."
    offers = (offer("0.80"), offer("0.40"))
    both = (NECKLACE, bracelet)
    assert negotiation.offer_for(NECKLACE, offers, text, both) == offers[0]
    assert negotiation.offer_for(bracelet, offers, text, both) == offers[1]
    # One product: the buyer's lowest figure is the offer, whatever else they compare.
    assert negotiation.offer_for(NECKLACE, (offer("0.86"), offer("0.79")), "x",
                                 (NECKLACE,)).amount == Decimal("0.79")


def test_the_thread_is_quoted_as_the_mail_had_it() -> None:
    mail = parse(mail_bytes("Re: x", "Can you do 0.80?\n\nAhmed\n\nOn Fri, Lily wrote:\n"
                            "> Our price is USD 0.86\n", message_id="<q@x.example>"),
                 ParseLimits())
    thread = negotiation.quoted_thread(mail)
    assert thread["name"] == "Ahmed Al Noor" and thread["date"] == "2026-11-21 06:30"
    lines = thread["quoted"].splitlines()
    assert lines[0] == "> Can you do 0.80?" and ">> Our price is USD 0.86" in lines
    assert all(line.startswith(">") for line in lines)


# ------------------------------------------------------------------ composing (pure)


def compose_reply(text: str, stage: str = "quoted", skus: tuple[str, ...] = ("BS-NK-101",),
                  subject: str = "RE: Re: Inquiry: necklaces") -> Any:
    mail = parse(mail_bytes(subject, text, message_id="<r2@alnoor.example>",
                            in_reply_to="<d1@brightstar.example>",
                            references="<i1@alnoor.example> <d1@brightstar.example>"),
                 ParseLimits())
    extracted = extract(mail, CATALOG, BOOK.geo, TODAY)
    decision = Decision(Classification(Kind.REPLY, (Reason("reply", "answers us"),)), extracted,
                        BuyerMatch(1, "address", Lookup(address="ahmed@alnoor.example"), ()),
                        GradeResult("B", (Reason("b", "interested"),)), "AE", "middle_east")
    thread = negotiation.Thread(7, stage, skus, "d1", (("BS-NK-101", 5000),))
    plan = negotiation.plan(thread, extracted, mail, CATALOG, "middle_east")
    return compose(decision, mail, settings_company=Company(name="Brightstar"),
                   sender="Lily <lily@brightstar.example>",
                   buyer=BuyerView("Ahmed", "Al Noor", "AE", "middle_east", 1), catalog=CATALOG,
                   env=environment(ROOT / "templates"), today=TODAY, draft_id="d2",
                   message_id_domain="brightstar.example", plan=plan)


def test_a_counter_offer_below_the_floor_is_declined_with_the_tiers() -> None:
    draft = compose_reply("Sorry, USD 0.86 is too high. Can you do USD 0.70?")
    assert draft.template == "reply/en/negotiation.txt.j2"
    assert "USD 0.70 is below our production cost" in draft.body
    assert "from 5,000 pcs: USD 0.82" in draft.body and "0.78" not in draft.body
    assert "floor USD 0.78" in draft.context and "BELOW the floor (by USD 0.08)" in draft.context
    assert draft.attachments == ()        # a price answer: nothing attached again
    assert draft.subject == "Re: Inquiry: necklaces"


def test_questions_are_answered_from_the_catalogue_in_the_buyers_language() -> None:
    draft = compose_reply("Bonjour, quel est le délai de production et la quantité "
                          "minimum ? Avez-vous le certificat CE ?")
    assert NECKLACE is not None
    assert draft.template == "reply/fr/negotiation.txt.j2"
    assert f"{NECKLACE.lead_time_days} jours après réception de votre acompte" in draft.body
    assert f"{NECKLACE.moq} {NECKLACE.unit}" in draft.body
    assert "non disponible pour cet article : CE" in draft.body
    assert "a écrit :" in draft.body and "> Bonjour" in draft.body


def test_nothing_asked_gets_a_short_thank_you_with_the_thread() -> None:
    draft = compose_reply("Thank you, we will discuss it with our manager.")
    assert "We have noted your message" in draft.body
    assert "Ahmed Al Noor wrote:" in draft.body and "Asks:         nothing" in draft.context


# ------------------------------------------------------------------ through the pipeline


def store(db: Database, data: bytes, key: str) -> None:
    with db.unit_of_work() as s:
        s.add(Message(direction="in", message_id="", dedup_key=key, size=len(data),
                      raw=RawMessage(sha256="0" * 64, data=data)))


def run_pipeline(db: Database, stages: list[Any]) -> None:
    outcomes = pipeline.process_pending(db, ParseLimits(), 3, stages)
    assert [o.state.value for o in outcomes] == ["processed"], outcomes


def send(db: Database, draft_id: str, path: Path) -> None:
    """What the reviewer and the sweep do: approve the draft and send it."""
    data = path.read_bytes()
    now = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)
    with db.unit_of_work() as s:
        outbox.approve(s, s.get_one(Draft, draft_id), (), s.get_one(Draft, draft_id).subject,
                       now)
        assert outbox.claim_for_sending(s, draft_id, now)
    with db.unit_of_work() as s:
        subject = str(email.message_from_bytes(data, policy=policy.default)["Subject"])
        outbox.mark_sent(s, draft_id, outbox.Sent(data, "250 ok", "sales@brightstar.example",
                                                  subject), now)
    path.rename(path.parent.parent / "sent" / path.name)


def pending(review: Path, known: set[Path]) -> tuple[Path, email.message.EmailMessage]:
    (path,) = set((review / "pending").glob("*.eml")) - known
    return path, email.message_from_bytes(path.read_bytes(), policy=policy.default)


def text_of(message: email.message.EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def quoted(message: email.message.EmailMessage, sender: str) -> str:
    body = text_of(message)
    return f"On Sat, 21 Nov 2026 at 10:00, {sender} wrote:\n" + "".join(
        f"> {line}\n" for line in body.splitlines())


def test_quote_counter_offer_and_sample_request_through_the_pipeline(
        db: Database, tmp_path: Path) -> None:
    box = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "inbox"}"\n'
    settings = settings_for(tmp_path, box, extra=f'[review]\npath = "{tmp_path / "review"}"\n')
    stages = pipeline.default_stages(settings, BOOK)
    review = settings.review_path

    store(db, mail_bytes("Inquiry: pendant necklaces BS-NK-101",
                         "Dear Sir,\n\nWe are an importer in Dubai. Please quote 5,000 pcs of "
                         "your stainless steel pendant necklace BS-NK-101, FOB Ningbo.\n\n"
                         + SIGNATURE, message_id="<inq-1@alnoor-trading.example>"), "m1")
    run_pipeline(db, stages)
    first_path, first = pending(review, set())
    first_id = str(first["X-Inquiryd-Draft"])
    send(db, first_id, first_path)
    with db.unit_of_work() as s:
        deal = s.scalars(select(Inquiry).order_by(Inquiry.id)).first()
        assert deal is not None and deal.stage is Stage.QUOTED
        deal_id = deal.id

    # The buyer haggles, quoting our quotation under their text.
    ours = str(first["Message-ID"])
    refs = f"<inq-1@alnoor-trading.example> {ours}"
    haggle = mail_bytes(f"RE: {first['Subject']}",
                        "Dear Lily,\n\nThank you. Your price of USD 0.86 is too high for our "
                        "market. Can you do USD 0.80? And what is the MOQ?\n\nAhmed\n\n"
                        + quoted(first, "Lily"), message_id="<haggle@alnoor-trading.example>",
                        in_reply_to=ours, references=refs)
    # `explain` shows how the reply in the deal's thread will be planned, changing nothing.
    (tmp_path / "haggle.eml").write_bytes(haggle)
    (shown,) = explain(settings, db, tmp_path / "haggle.eml")
    assert shown["thread"]["inquiry"] == deal_id and shown["thread"]["stage"] == "quoted"
    assert shown["thread"]["answers_draft"] == first_id
    assert shown["thread"]["variant"] == "negotiation"
    assert any("floor" in line for line in shown["thread"]["plan"])
    store(db, haggle, "m2")
    run_pipeline(db, stages)
    path, answer = pending(review, set())
    body = text_of(answer)
    assert answer["Subject"] == first["Subject"] == "Re: Inquiry: pendant necklaces BS-NK-101"
    assert answer["In-Reply-To"] == "<haggle@alnoor-trading.example>"
    assert answer["References"].split() == [*refs.split(), "<haggle@alnoor-trading.example>"]
    assert "we can meet you at USD 0.83 each, FOB Ningbo" in body and "For an order of 5,000" in body
    assert "Stainless steel pendant necklace (BS-NK-101): 500 pcs" in body
    # The thread below the answer: the buyer's new text and our quotation as they quoted it.
    thread = body[body.index("Ahmed Al Noor wrote:"):]
    assert ("> Thank you. Your price of USD 0.86 is too high for our market. Can you do USD "
            "0.80? And what is the MOQ?\n") in thread
    assert ">> " in thread and "BS-NK-101" in thread.split(">> ", 1)[1]
    # The floor is the reviewer's alone.
    assert b"0.78" not in path.read_bytes() and "0.78" not in body
    context = path.with_suffix(".txt").read_text("utf-8")
    assert "buyer USD 0.80, ours USD 0.86 (price_middle_east" in context
    assert "floor USD 0.78 (reviewer only)" in context and "ABOVE the floor" in context
    answer_id = str(answer["X-Inquiryd-Draft"])
    with db.unit_of_work() as s:
        row = s.get_one(Draft, answer_id)
        assert (row.kind, row.inquiry_id) == ("reply", deal_id)
        # The reply continues the deal, graded again (one inquiry, not two).
        (deal,) = s.scalars(select(Inquiry)).all()
        assert deal.stage is Stage.NEGOTIATING and deal.grade in "ABCD" and deal.reasons
    send(db, answer_id, path)

    # Then samples, in the thread of our answer, naming no product: the inquiry's e-sample.
    refs2 = f"{refs} <haggle@alnoor-trading.example> {answer['Message-ID']}"
    store(db, mail_bytes(f"Re: {answer['Subject']}", "Hello Lily,\n\nBefore we decide, please "
                         "send us samples.\n\nAhmed\n\n" + quoted(answer, "Lily"),
                         message_id="<samples@alnoor-trading.example>",
                         in_reply_to=str(answer["Message-ID"]), references=refs2), "m3")
    run_pipeline(db, stages)
    path, sample = pending(review, set())
    body = text_of(sample)
    assert "The e-sample is attached" in body or "the e-sample is attached" in body
    assert [p.get_filename() for p in sample.iter_attachments()] == ["BS-NK-101-e-sample.pdf"]
    assert "> Before we decide, please send us samples." in body
    assert sample["In-Reply-To"] == "<samples@alnoor-trading.example>"
    context = path.with_suffix(".txt").read_text("utf-8")
    assert "template sample" in context and f"inquiry #{deal_id}" in context
    with db.unit_of_work() as s:
        row = s.get_one(Draft, str(sample["X-Inquiryd-Draft"]))
        assert (row.kind, row.inquiry_id) == ("reply", deal_id)
        assert s.get_one(Inquiry, deal_id).stage is Stage.SAMPLE


def test_without_any_product_the_answer_asks_what_to_quote() -> None:
    draft = compose_reply("Your price is too high, can you give a discount?", skus=(),
                          subject="RE: Re: Your inquiry")
    assert "which products or models you are interested in" in draft.body
    assert "Counter-offer" not in draft.context and "asks for a better price" in draft.context


def test_check_renders_the_negotiation_templates(tmp_path: Path) -> None:
    """`inquiryd check` renders every language's negotiation template: a misspelt name in
    one is named with its file and line."""
    root = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", root, ignore=shutil.ignore_patterns("attachments"))
    contexts = sample_contexts(Company(name="Brightstar"), CATALOG, today=TODAY)
    assert {c["variant"] for c in contexts if c.get("negotiation")} == {"negotiation", "sample"}
    assert render_all_for_check(root, contexts) == []
    path = root / "reply" / "es" / "negotiation.txt.j2"
    lines = path.read_text("utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if "{% if negotiation.moq %}" in line)
    lines.insert(at, "{{ negotiation.moqq }}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (problem,) = render_all_for_check(root, contexts)
    assert problem.startswith(f"{path}:{at + 1}: ") and "moqq" in problem


def test_the_thread_is_read_from_the_stored_inquiry() -> None:
    thread = negotiation.Thread.of(
        4, "quoted", [{"sku": "BS-NK-101", "name": "x"}, {"name": "no sku"}, "junk"],
        {"quantities": [{"amount": 5000, "unit": "pcs", "sku": "BS-NK-101"},
                        {"amount": 3, "unit": "pcs", "sku": ""}, None]}, "d9")
    assert thread == negotiation.Thread(4, "quoted", ("BS-NK-101",), "d9",
                                        (("BS-NK-101", 5000),))
    assert negotiation.Thread.of(5, "new", None, None, "d1").skus == ()
