"""Confirmation letters, proforma invoices and contracts: numbered per kind and year,
kept under state/documents/, drafted into the review folder; on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import hashlib
import json
import sqlite3
import subprocess
import threading
from datetime import datetime, timezone
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from daemon import deal_documents, sweep
from daemon.cli import main
from daemon.config import Settings
from daemon.db import Database
from daemon.deal_terms import DealTerms
from daemon.models import (Buyer, BuyerAddress, DealDocument, Draft, DraftState, Event,
                           Inquiry, Message, Stage, StageChange)
from daemon.review_folder import ReviewFolder
from tests.helpers import settings_for

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)       # 10:00 in Shanghai
NEW_YEAR = datetime(2026, 12, 31, 17, 0, tzinfo=timezone.utc)  # 2027-01-01 01:00 there
PRODUCTS = [{"sku": "BS-NK-101", "name": "Stainless steel pendant necklace", "matched": "necklace"},
            {"sku": "BS-RG-620", "name": "Adjustable ring", "matched": "rings"}]
TERMS = {"quantities": [{"amount": 5000, "unit": "pcs", "sku": "BS-NK-101"},
                        {"amount": 1200, "unit": "pcs", "sku": "BS-RG-620"}],
         "incoterms": [{"term": "FOB", "place": "Ningbo"}], "payment_terms": [],
         "delivery": "2027-02-15", "requests": ["pi"], "language": "en"}


def desk(tmp_path: Path, db: Database) -> Settings:
    box = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "inbox"}"\n'
    extra = (f'[database]\nurl = "{db.url}"\n'
             '[smtp]\nsender = "Lily Chen <lily@brightstar.example>"\n')
    return settings_for(tmp_path, box, extra=extra)


def seed(db: Database, products: list[dict[str, str]] = PRODUCTS) -> tuple[int, list[str]]:
    """A buyer's inquiry, our quotation sent, and the buyer's counter-offer: the inquiry
    id and the thread's Message-IDs in order."""
    ids = ["<inq-1@alnoor.example>", "<d20261120-quote@brightstar.example>",
           "<counter-1@alnoor.example>"]
    with db.unit_of_work() as s:
        buyer = Buyer(company="Al Noor Trading LLC", contact_name="Omar Haddad", country="AE",
                      region="middle_east", language="en", grade="A")
        s.add(buyer)
        s.flush()
        s.add(BuyerAddress(buyer_id=buyer.id, address="omar@alnoor.example",
                           domain="alnoor.example"))
        first = _message(s, ids[0], "in", buyer.id, "Inquiry: necklaces and rings")
        inquiry = Inquiry(buyer_id=buyer.id, message_id=first.id, grade="A", products=products,
                          terms=TERMS, country="AE", stage=Stage.NEGOTIATING)
        s.add(inquiry)
        s.flush()
        s.add(Draft(id="d20261120-quote", kind="reply", state=DraftState.SENT,
                    buyer_id=buyer.id, inquiry_id=inquiry.id, in_reply_to_message=first.id,
                    outgoing_message_id=ids[1], to_addr="omar@alnoor.example"))
        _message(s, ids[1], "out", buyer.id, "Re: Inquiry: necklaces and rings")
        counter = _message(s, ids[2], "in", buyer.id, "Re: Inquiry: necklaces and rings")
        s.add(StageChange(inquiry_id=inquiry.id, from_stage="quoted", to_stage="negotiating",
                          reason="the buyer answered our quotation", message_id=counter.id))
        return inquiry.id, ids


def _message(s, message_id: str, direction: str, buyer_id: int, subject: str) -> Message:  # type: ignore[no-untyped-def]
    row = Message(direction=direction, message_id=message_id, dedup_key=message_id, size=100,
                  buyer_id=buyer_id, subject=subject, kind="inquiry" if direction == "in" else "reply",
                  from_addr="omar@alnoor.example" if direction == "in" else "lily@brightstar.example")
    s.add(row)
    s.flush()
    return row


def pending(settings: Settings, draft_id: str) -> EmailMessage:
    (path,) = (settings.review_path / "pending").glob(f"*{draft_id}.eml")
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[return-value]


def test_the_confirmation_letter_restates_every_term_threaded_on_the_last_mail(
        tmp_path: Path, db: Database) -> None:
    settings = desk(tmp_path, db)
    inquiry_id, thread = seed(db)
    done = deal_documents.issue(settings, db, inquiry_id, "confirmation", now=NOW)
    assert done.number == "TC-2026-0001" and done.path is None
    letter = pending(settings, done.draft_id)
    assert letter["In-Reply-To"] == thread[-1]
    assert letter["References"].split() == thread
    assert letter["To"] == "Omar Haddad <omar@alnoor.example>"
    assert "TC-2026-0001" in letter["Subject"] and "necklaces and rings" in letter["Subject"]
    body = letter.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # 5,000 necklaces at the 10x MOQ tier (0.86 -> 0.82), 1,200 rings at 2x MOQ (0.55).
    for text in ("BS-NK-101", "5,000 pcs", "USD 0.82", "USD 4,100.00", "BS-RG-620",
                 "1,200 pcs", "USD 0.55", "USD 660.00", "USD 4,760.00", "FOB Ningbo",
                 "Port of loading: Ningbo", "30% T/T deposit, 70% before shipment",
                 "OPP bag", "30 days after the deposit", "2027-02-15", "Valid until",
                 "316L stainless steel"):
        assert text in body, text
    assert "floor" not in body.lower() and "0.78" not in body  # the floor price stays ours
    context = (settings.review_path / "pending").glob(f"*{done.draft_id}.txt")
    assert "TC-2026-0001" in next(context).read_text("utf-8")
    with db.unit_of_work() as s:
        draft = s.get_one(Draft, done.draft_id)
        doc = s.scalars(select(DealDocument)).one()
        assert (draft.kind, draft.inquiry_id, draft.state) == ("confirmation", inquiry_id,
                                                               DraftState.PENDING)
        assert draft.outgoing_message_id == letter["Message-ID"]
        assert (doc.kind, doc.year, doc.seq, doc.draft_id) == ("confirmation", 2026, 1,
                                                              done.draft_id)
        terms = DealTerms.from_dict(doc.terms)
    assert terms.total == Decimal("4760.00") and terms.buyer.company == "Al Noor Trading LLC"


def test_numbers_run_per_kind_and_start_again_each_year(tmp_path: Path, db: Database) -> None:
    settings = desk(tmp_path, db)
    inquiry_id, _ = seed(db)
    numbers = [deal_documents.issue(settings, db, inquiry_id, kind, now=when).number
               for kind, when in (("confirmation", NOW), ("confirmation", NOW), ("pi", NOW),
                                  ("confirmation", NEW_YEAR), ("pi", NEW_YEAR))]
    assert numbers == ["TC-2026-0001", "TC-2026-0002", "PI-2026-0001", "TC-2027-0001",
                       "PI-2027-0001"]
    assert (tmp_path / "state" / "documents" / "2027" / "PI-2027-0001.xlsx").is_file()


def test_a_number_taken_meanwhile_is_settled_by_the_constraint(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL, where several instances share one database: another instance takes
    # the number between our read of the next seq and our insert.
    from tests.db.fixtures import _reset_postgres

    _reset_postgres(postgres_url)
    db = Database(postgres_url)
    db.upgrade()
    settings = desk(tmp_path, db)
    inquiry_id, _ = seed(db)
    real = deal_documents.next_seq
    calls: list[int] = []

    def stale_once(session, kind: str, year: int) -> int:  # type: ignore[no-untyped-def]
        seq = real(session, kind, year)
        if not calls:
            with db.unit_of_work() as other:
                other.add(DealDocument(inquiry_id=inquiry_id, kind=kind, year=year, seq=seq,
                                       number=deal_documents.number_of(kind, year, seq)))
        calls.append(seq)
        return seq

    monkeypatch.setattr(deal_documents, "next_seq", stale_once)
    try:
        done = deal_documents.issue(settings, db, inquiry_id, "pi", now=NOW)
        assert calls == [1, 2] and done.number == "PI-2026-0002"
        with db.unit_of_work() as s:
            assert sorted(s.scalars(select(DealDocument.number))) == ["PI-2026-0001",
                                                                      "PI-2026-0002"]
            assert s.get_one(Draft, done.draft_id).kind == "pi"
    finally:
        db.dispose()


def test_on_sqlite_a_second_numbering_waits_for_the_first(tmp_path: Path,
                                                          sqlite_db: Database) -> None:
    # One writer at a time: the lock is taken before the next seq is read, so another
    # writer waits its turn (busy timeout) rather than reading a number about to go.
    with sqlite_db.unit_of_work() as session:
        deal_documents.take_write_lock(session)
        path = sqlite_db.engine.url.database
        other = sqlite3.connect(str(path), timeout=0.2)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO deal_documents (inquiry_id, kind, year, seq, number, "
                          "terms, file_name, sha256, created_at) VALUES "
                          "(1, 'pi', 2026, 1, 'PI-2026-0001', '{}', '', '', '2026-01-01')")
        other.close()


def test_the_pi_opens_and_carries_the_confirmed_terms(tmp_path: Path, db: Database) -> None:
    settings = desk(tmp_path, db)
    inquiry_id, thread = seed(db)
    letter = deal_documents.issue(settings, db, inquiry_id, "confirmation", now=NOW)
    with db.unit_of_work() as s:  # the reviewer agreed 6,000 necklaces before sending
        doc = s.scalars(select(DealDocument).where(DealDocument.number == letter.number)).one()
        data = dict(doc.terms)
        data["lines"] = [dict(line) for line in data["lines"]]
        data["lines"][0].update(quantity=6000, amount="4920.00")
        data["total"] = "5580.00"
        doc.terms = DealTerms.from_dict(data).as_dict()
    done = deal_documents.issue(settings, db, inquiry_id, "pi", now=NOW)
    assert done.number == "PI-2026-0001" and done.total == "5,580.00"
    path = tmp_path / "state" / "documents" / "2026" / "PI-2026-0001.xlsx"
    assert done.path == path
    data_bytes = path.read_bytes()
    sheet = load_workbook(path).active
    rows = {r[0]: r for r in sheet.iter_rows(values_only=True) if r[0] is not None}
    assert rows["PI number"][2] == "PI-2026-0001"
    assert Decimal(str(rows["Total amount (USD)"][2])) == Decimal("5580.00")
    assert rows[1][1] == "BS-NK-101" and rows[1][3] == 6000
    assert Decimal(str(rows[1][5])) == Decimal("0.82") and Decimal(str(rows[1][6])) == 4920
    assert rows[2][1] == "BS-RG-620" and Decimal(str(rows[2][6])) == 660
    formula = next(r[6] for r in sheet.iter_rows(values_only=True)
                   if isinstance(r[6], str) and r[6].startswith("="))
    first = next(i for i, r in enumerate(sheet.iter_rows(values_only=True), 1) if r[0] == 1)
    assert formula == f"=SUM(G{first}:G{first + 1})"
    covering = pending(settings, done.draft_id)
    (part,) = covering.iter_attachments()
    assert part.get_filename() == "PI-2026-0001.xlsx" and part.get_content() == data_bytes
    assert covering["In-Reply-To"] == thread[-1]
    assert "USD 5,580.00" in covering.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with db.unit_of_work() as s:
        doc = s.scalars(select(DealDocument).where(DealDocument.kind == "pi")).one()
        draft = s.get_one(Draft, done.draft_id)
        assert doc.sha256 == hashlib.sha256(data_bytes).hexdigest() == done.sha256
        assert doc.file_name == "documents/2026/PI-2026-0001.xlsx"
        assert doc.terms == data and (draft.kind, draft.inquiry_id) == ("pi", inquiry_id)


def test_the_contract_pdf_renders_and_shows_its_number_and_total(tmp_path: Path,
                                                                 db: Database) -> None:
    settings = desk(tmp_path, db)
    inquiry_id, _ = seed(db)
    done = deal_documents.issue(settings, db, inquiry_id, "contract", now=NOW)
    assert done.number == "SC-2026-0001"
    pdf = tmp_path / "state" / "documents" / "2026" / "SC-2026-0001.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and all(p.read_bytes().startswith(b"\x89PNG") for p in pages)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, timeout=60,
                          capture_output=True, text=True).stdout
    for words in ("SC-2026-0001", "USD 4,760.00", "Al Noor Trading LLC", "BS-NK-101",
                  "FOB, port of loading Ningbo", "Force majeure", "Arbitration", "Inspection",
                  "Signature"):
        assert words in text, words
    (part,) = pending(settings, done.draft_id).iter_attachments()
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == pdf.read_bytes()


def test_markup_in_a_buyers_name_stays_text_in_the_contract(tmp_path: Path,
                                                            db: Database) -> None:
    settings = desk(tmp_path, db)
    inquiry_id, _ = seed(db)
    with db.unit_of_work() as s:
        s.scalars(select(Buyer)).one().company = "<b>Evil</b> & Sons <img src=x>"
    deal_documents.issue(settings, db, inquiry_id, "contract", now=NOW)
    pdf = tmp_path / "state" / "documents" / "2026" / "SC-2026-0001.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    assert "<b>Evil</b> & Sons <img src=x>" in text


def test_the_commands(tmp_path: Path, db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    settings = desk(tmp_path, db)
    inquiry_id, _ = seed(db)
    config = str(settings.source)

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["-c", config, *argv])
        out, err = capsys.readouterr()
        return int(info.value.code or 0), out, err

    code, out, _ = run("deals", "confirm", str(inquiry_id))
    assert code == 0 and out.startswith("TC-") and "USD 4,760.00" in out
    code, out, _ = run("deals", "pi", str(inquiry_id), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["number"].startswith("PI-") and shown["file"].endswith(".xlsx")
    code, out, err = run("deals", "contract", "999")
    assert (code, out) == (1, "") and err.strip() == \
        "inquiryd: no inquiry 999 (see `inquiryd deals list`)"
    with db.unit_of_work() as s:
        s.get_one(Inquiry, inquiry_id).products = [{"sku": "XX-1", "name": "x", "matched": "x"}]
    code, _, err = run("deals", "confirm", str(inquiry_id))
    assert code == 1 and "no product of the catalogue" in err and "Traceback" not in err


# -- the confirmation as sent -----------------------------------------------------------------

def send_edited(settings: Settings, db: Database, draft_id: str, smtp: Any,
                *pairs: tuple[str, str]) -> None:
    """The reviewer edits the letter's terms, approves it, and the sweep sends it."""
    (path,) = (settings.review_path / "pending").glob(f"*{draft_id}.eml")
    letter = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = letter.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for old, new in pairs:
        assert old in body, old
        body = body.replace(old, new, 1)
    letter.set_content(body)  # type: ignore[attr-defined]
    (settings.review_path / "approved" / path.name).write_bytes(letter.as_bytes())
    path.unlink()
    report = sweep.sweep(settings, db, ReviewFolder(settings.review_path), threading.Event(),
                         settle_seconds=0)
    assert report.sent == 1 and "USD" in smtp.accepted[-1].message.get_body(
        ("plain",)).get_content()


def sending_desk(tmp_path: Path, db: Database, smtp: Any) -> Settings:
    box = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "inbox"}"\n'
    extra = (f'[database]\nurl = "{db.url}"\n'
             f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
             'sender = "Lily Chen <lily@brightstar.example>"\n'
             "[sending]\nper_minute = 10000\n")
    return settings_for(tmp_path, box, extra=extra)


def test_the_pi_restates_the_letter_as_sent_with_the_reviewers_changes(
        tmp_path: Path, db: Database, smtp_server: Any) -> None:
    settings = sending_desk(tmp_path, db, smtp_server)
    inquiry_id, _ = seed(db)
    letter = deal_documents.issue(settings, db, inquiry_id, "confirmation", now=NOW)
    # The buyer agreed 0.80 on the phone; the salesperson changed the letter to say so.
    send_edited(settings, db, letter.draft_id, smtp_server,
                ("USD 0.82", "USD 0.80"), ("USD 4,100.00", "USD 4,000.00"),
                ("USD 4,760.00 (FOB", "USD 4,660.00 (FOB"),
                ("Payment:         30% T/T deposit, 70% before shipment",
                 "Payment:         50% T/T deposit, 50% before shipment"))
    done = deal_documents.issue(settings, db, inquiry_id, "pi", now=NOW)
    assert done.total == "4,660.00"
    sheet = load_workbook(done.path).active
    rows = {r[0]: r for r in sheet.iter_rows(values_only=True) if r[0] is not None}
    assert Decimal(str(rows[1][5])) == Decimal("0.80") and Decimal(str(rows[1][6])) == 4000
    assert Decimal(str(rows["Total amount (USD)"][2])) == Decimal("4660.00")
    (note,) = (settings.review_path / "pending").glob(f"*{done.draft_id}.txt")
    text = note.read_text("utf-8")
    assert "Terms: confirmation TC-2026-0001 as sent; the reviewer changed:" in text
    assert "  - BS-NK-101 unit price USD 0.82 -> 0.80" in text
    assert "  - payment \u201c30% T/T deposit, 70% before shipment\u201d -> " \
           "\u201c50% T/T deposit, 50% before shipment\u201d" in text
    with db.unit_of_work() as s:
        pi = s.scalars(select(DealDocument).where(DealDocument.kind == "pi")).one()
        edited = s.scalars(select(Event).where(Event.name == "confirmation_edited")).one()
    terms = DealTerms.from_dict(pi.terms)
    assert terms.payment == "50% T/T deposit, 50% before shipment"
    assert terms.total == Decimal("4660.00") and edited.data["number"] == "TC-2026-0001"
    # The contract restates the same terms.
    contract = deal_documents.issue(settings, db, inquiry_id, "contract", now=NOW)
    assert contract.total == "4,660.00"


def test_a_letter_edited_beyond_reading_stops_the_pi_until_told(
        tmp_path: Path, db: Database, smtp_server: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = sending_desk(tmp_path, db, smtp_server)
    inquiry_id, _ = seed(db)
    letter = deal_documents.issue(settings, db, inquiry_id, "confirmation", now=NOW)
    send_edited(settings, db, letter.draft_id, smtp_server, ("USD 0.82", "USD 0.80"))

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["-c", str(settings.source), *argv])
        out, err = capsys.readouterr()
        return int(info.value.code or 0), out, err

    code, out, err = run("deals", "pi", str(inquiry_id))
    assert (code, out) == (1, "") and "Traceback" not in err
    assert "confirmation TC-2026-0001 was edited before it was sent" in err
    assert "line 1 (BS-NK-101): the amount USD 4,100.00 is not 5,000 x USD 0.80" in err
    assert "--as-drafted" in err
    with db.unit_of_work() as s:  # nothing numbered, nothing drafted
        assert s.scalars(select(DealDocument.kind)).all() == ["confirmation"]
    code, out, _ = run("deals", "pi", str(inquiry_id), "--as-drafted")
    assert code == 0 and out.startswith("PI-2026-0001: USD 4,760.00")
