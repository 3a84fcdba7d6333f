"""A whole deal, scripted through Dovecot and aiosmtpd: the buyer's inquiry, our quotation
approved and sent, a counter-offer, a sample request, our confirmation letter approved
and sent, the buyer's confirmation, then the proforma invoice and the contract drafted.
Every stage change is recorded with its reason, and every document states the terms of
the inquiry."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from daemon import deal_documents, runner, sweep
from daemon.cli import main
from daemon.db import Database
from daemon.deal_terms import DealTerms
from daemon.models import (Buyer, DealDocument, Draft, DraftState, Inquiry, Message, Stage,
                           StageChange)
from daemon.review_folder import ReviewFolder
from tests.helpers import imap_block, settings_for

pytestmark = pytest.mark.imap

BUYER = "Omar Haddad <omar@alnoor-trading.example>"
US = "sales@brightstar-crafts.example"
SIGNATURE = ("\nBest regards,\nOmar Haddad\nPurchasing Manager\nAl Noor Trading LLC\n"
             "Deira, Dubai, United Arab Emirates\nTel: +971 4 555 0199\n")


def desk(tmp_path: Path, user: Any, smtp: Any, db: Database):  # type: ignore[no-untyped-def]
    extra = (f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
             f'sender = "Lily Chen <lily@brightstar-crafts.example>"\ntimeout_seconds = 5\n'
             "[sending]\nper_minute = 10000\n"
             f'[review]\npath = "{tmp_path / "review"}"\n'
             f'[database]\nurl = "{db.url}"\n')
    box = imap_block(user, name="sales") + \
        'sender = "Lily Chen <lily@brightstar-crafts.example>"\n'
    return settings_for(tmp_path, box, extra=extra, environ={"PW_SALES": user.password})


def buyer_mail(n: int, subject: str, body: str, thread: list[str]) -> bytes:
    msg = EmailMessage()
    msg["From"] = BUYER
    msg["To"] = US
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20 + n, 8, 0, tzinfo=timezone.utc))
    msg["Message-ID"] = f"<deal-{n}@alnoor-trading.example>"
    if thread:
        msg["In-Reply-To"] = thread[-1]
        msg["References"] = " ".join(thread)
    msg.set_content(body + SIGNATURE)
    return msg.as_bytes()


class Desk:
    """The salesperson's side: poll, approve what is pending, send."""

    def __init__(self, settings: Any, db: Database, imap_user: Any, smtp: Any,
                 capsys: pytest.CaptureFixture[str]) -> None:
        self.settings, self.db, self.user, self.smtp, self.capsys = \
            settings, db, imap_user, smtp, capsys
        self.review = ReviewFolder(settings.review_path)
        self.thread: list[str] = []

    def receive(self, raw: bytes) -> None:
        self.user.server.append(self.user.name, "INBOX", raw)
        runner.poll(self.settings, self.db)
        self.thread.append(raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].decode().strip())

    def pending(self, kind: str) -> list[Draft]:
        with self.db.unit_of_work() as s:
            return list(s.scalars(select(Draft).where(
                Draft.kind == kind, Draft.state == DraftState.PENDING).order_by(Draft.created_at)))

    def approve_and_send(self, draft: Draft) -> EmailMessage:
        (path,) = (self.settings.review_path / "pending").glob(f"*{draft.id}.eml")
        shutil.move(path, self.settings.review_path / "approved" / path.name)
        before = len(self.smtp.accepted)
        result = sweep.sweep(self.settings, self.db, self.review, threading.Event(),
                             settle_seconds=0)
        assert result.sent == 1 and len(self.smtp.accepted) == before + 1
        sent = self.smtp.accepted[-1].message
        self.thread.append(sent["Message-ID"])
        return sent

    def cli(self, *argv: str) -> str:
        with pytest.raises(SystemExit) as info:
            main(["-c", str(self.settings.source), *argv])
        out, err = self.capsys.readouterr()
        assert info.value.code in (0, None), err
        return out

    def stage(self, inquiry_id: int) -> Stage:
        with self.db.unit_of_work() as s:
            return s.get_one(Inquiry, inquiry_id).stage


def test_a_deal_from_inquiry_to_contract(tmp_path: Path, imap_user: Any, smtp_server: Any,
                                         db: Database,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    imap_user.server.create_folder(imap_user.name, "Sent")
    settings = desk(tmp_path, imap_user, smtp_server, db)
    sales = Desk(settings, db, imap_user, smtp_server, capsys)

    # 1. The inquiry, and our quotation approved and sent: new -> quoted.
    sales.receive(buyer_mail(0, "Inquiry: pendant necklaces and adjustable rings",
                             "Dear Lily,\n\nWe are an importer in Dubai. Please quote 5,000 pcs "
                             "BS-NK-101 pendant necklaces and 1,200 pcs BS-RG-620 adjustable "
                             "rings, FOB Ningbo, delivery before 15 February 2027.\n"
                             "Please send your PI with payment terms.\n", []))
    with db.unit_of_work() as s:
        (inquiry,) = s.scalars(select(Inquiry)).all()
        inquiry_id = inquiry.id
    (quote,) = sales.pending("reply")
    sales.approve_and_send(quote)
    assert sales.stage(inquiry_id) is Stage.QUOTED

    # 2. The buyer haggles: quoted -> negotiating, and the answer stays in this deal.
    sales.receive(buyer_mail(1, "Re: Inquiry: pendant necklaces and adjustable rings",
                             "Dear Lily,\n\nThank you for the quotation. Your price for the "
                             "necklaces is too high for our market: our target price is "
                             "USD 0.70 per piece. Can you do better?\n", sales.thread))
    assert sales.stage(inquiry_id) is Stage.NEGOTIATING
    (answer,) = sales.pending("reply")  # the negotiation answer, in this deal's thread
    assert answer.inquiry_id == inquiry_id
    sales.approve_and_send(answer)

    # 3. The buyer asks for samples: negotiating -> sample.
    sales.receive(buyer_mail(2, "Re: Inquiry: pendant necklaces and adjustable rings",
                             "Dear Lily,\n\nOK, we accept your price. Before we order, could "
                             "you send us samples of the necklace and the ring? We pay the "
                             "courier.\n", sales.thread))
    assert sales.stage(inquiry_id) is Stage.SAMPLE
    (answer,) = sales.pending("reply")  # the e-sample answer
    assert answer.inquiry_id == inquiry_id
    sales.approve_and_send(answer)

    # 4. The confirmation letter, approved and sent; the buyer confirms: -> confirmed.
    out = sales.cli("deals", "confirm", str(inquiry_id))
    assert out.startswith("TC-2") and "USD 4,760.00" in out
    (letter,) = sales.pending("confirmation")
    sent = sales.approve_and_send(letter)
    assert sent["In-Reply-To"] == sales.thread[-2]  # threaded on the last mail before it
    assert "USD 4,760.00" in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    sales.receive(buyer_mail(3, f"Re: {sent['Subject']}",
                             "Dear Lily,\n\nWe confirm the order as per your letter. Please "
                             "send the proforma invoice and the contract.\n", sales.thread))
    assert sales.stage(inquiry_id) is Stage.CONFIRMED

    # 5. The PI and the contract, drafted with their files, on the confirmed terms.
    pi = sales.cli("deals", "pi", str(inquiry_id))
    contract = sales.cli("deals", "contract", str(inquiry_id))
    assert pi.startswith("PI-2") and contract.startswith("SC-2")
    (pi_draft,) = sales.pending("pi")
    (contract_draft,) = sales.pending("contract")
    for draft in (pi_draft, contract_draft):
        assert draft.inquiry_id == inquiry_id and draft.to_addr == "omar@alnoor-trading.example"
        assert list((settings.review_path / "pending").glob(f"*{draft.id}.eml"))
        (note,) = (settings.review_path / "pending").glob(f"*{draft.id}.txt")
        assert re.search(r"Terms: confirmation TC-\d{4}-0001, sent as drafted\.",
                         note.read_text("utf-8"))

    with db.unit_of_work() as s:
        moves = s.scalars(select(StageChange).where(StageChange.inquiry_id == inquiry_id)
                          .order_by(StageChange.id)).all()
        docs = s.scalars(select(DealDocument).order_by(DealDocument.id)).all()
        inquiry = s.get_one(Inquiry, inquiry_id)
        buyer = s.get_one(Buyer, inquiry.buyer_id)
        buyer_mails = {m.message_id: m.id for m in s.scalars(select(Message).where(
            Message.direction == "in"))}
        expected, _ = deal_documents.terms_for(
            s, settings, deal_documents.load_catalog(settings), inquiry, buyer,
            "omar@alnoor-trading.example", "lily@brightstar-crafts.example", "confirmation",
            docs[0].created_at)

    # Every stage change, with its reason and the mail that caused it.
    assert [(m.from_stage, m.to_stage) for m in moves] == [
        ("new", "quoted"), ("quoted", "negotiating"), ("negotiating", "sample"),
        ("sample", "confirmed")]
    assert [m.reason.split(" (")[0] for m in moves] == [
        "our quotation was sent", "the buyer answered our quotation",
        "the buyer asked for samples", "the buyer confirmed our confirmation letter"]
    assert "We confirm" in moves[-1].reason
    assert moves[0].draft_id == quote.id and all(m.by == "inquiryd" for m in moves)
    assert [m.message_id for m in moves[1:]] == [buyer_mails[f"<deal-{n}@alnoor-trading.example>"]
                                                 for n in (1, 2, 3)]

    # Every document states the terms of the inquiry.
    assert [d.kind for d in docs] == ["confirmation", "pi", "contract"]
    assert all(d.terms == expected.as_dict() for d in docs)
    terms = DealTerms.from_dict(docs[1].terms)
    assert [(l.sku, l.quantity) for l in terms.lines] == [("BS-NK-101", 5000),
                                                          ("BS-RG-620", 1200)]
    assert str(terms.total) == "4760.00" and terms.basis == "FOB Ningbo"
    sheet = load_workbook(settings.paths.state / docs[1].file_name).active
    assert any(r[0] == "Total amount (USD)" and float(r[2]) == 4760.0
               for r in sheet.iter_rows(values_only=True))
    assert (settings.paths.state / docs[2].file_name).read_bytes().startswith(b"%PDF-")
