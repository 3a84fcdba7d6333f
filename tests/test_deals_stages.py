"""Deal stages over a real database (SQLite and PostgreSQL): real mails through the
pipeline move the inquiry, our sent mails move it, the follow-up job makes it dormant,
a person sets it by hand; every move is recorded with its reason; `deals list|set` and
the buyer history show them."""

from __future__ import annotations

import email
import json
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon import followups_job, outbox, pipeline, rulebook
from daemon.cli import main
from daemon.db import Database
from daemon.models import Buyer, Draft, Inquiry, Message, RawMessage, Stage, StageChange
from daemon.review_folder import ReviewFolder
from daemon.types import ParseLimits
from tests.helpers import ROOT, settings_for

BOOK = rulebook.load(ROOT / "rules")
BUYER = "Ahmed Khalil <ahmed@alnoor-trading.example>"
SIGNATURE = "\nBest regards\nAhmed Khalil\nAl Noor Trading LLC\nDubai, UAE\nTel +971 4 555 0199\n"


class Desk:
    """A desk with its review folder; mails in through the pipeline, drafts out."""

    def __init__(self, db: Database, tmp_path: Path) -> None:
        box = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "inbox"}"\n'
        self.settings = settings_for(
            tmp_path, box, extra=f'[review]\npath = "{tmp_path / "review"}"\n'
                                 f'[database]\nurl = "{db.url}"\n')
        self.db, self.review = db, ReviewFolder(self.settings.review_path)
        self.stages = pipeline.default_stages(self.settings, BOOK)
        self.count = 0

    def receive(self, subject: str, body: str, answers: str = "") -> int:
        """A buyer's mail, stored and processed; its message row id."""
        self.count += 1
        msg = EmailMessage()
        msg["From"], msg["To"] = BUYER, "sales@brightstar.example"
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(timezone.utc))
        msg["Message-ID"] = f"<m{self.count}@alnoor-trading.example>"
        if answers:
            msg["In-Reply-To"] = msg["References"] = answers
        msg.set_content(body + SIGNATURE)
        data = msg.as_bytes()
        with self.db.unit_of_work() as s:
            row = Message(direction="in", message_id=msg["Message-ID"], size=len(data),
                          dedup_key=f"deal-{self.count}", raw=RawMessage(sha256="x" * 64,
                                                                         data=data))
            s.add(row)
            s.flush()
            number = row.id
        outcomes = pipeline.process_pending(self.db, ParseLimits(), 3, self.stages)
        assert [o.state.value for o in outcomes] == ["processed"], outcomes
        return number

    def newest_draft(self) -> Draft:
        with self.db.unit_of_work() as s:
            draft = s.scalars(select(Draft).order_by(Draft.created_at.desc(),
                                                     Draft.id.desc())).first()
            assert draft is not None
            s.expunge(draft)
            return draft

    def send(self, draft_id: str) -> str:
        """What the reviewer and the sweep do; the sent Message-ID."""
        path = next(self.review.root.glob(f"pending/*{draft_id}*.eml"), None)
        data = path.read_bytes() if path else b"Subject: x\r\n\r\nbody\r\n"
        subject = str(email.message_from_bytes(data, policy=policy.default)["Subject"])
        with self.db.unit_of_work() as s:
            draft = s.get_one(Draft, draft_id)
            outbox.approve(s, draft, (), draft.subject)
            assert outbox.claim_for_sending(s, draft_id)
        with self.db.unit_of_work() as s:
            draft = outbox.mark_sent(s, draft_id, outbox.Sent(data, "250 ok",
                                                              "sales@brightstar.example", subject))
            return draft.outgoing_message_id

    def document(self, kind: str, inquiry_id: int) -> str:
        """A confirmation letter or contract drafted for the inquiry (their own commands
        write these; here only the draft row matters), sent."""
        draft_id = f"{kind}-{inquiry_id}-{self.count}"
        with self.db.unit_of_work() as s:
            buyer_id = s.get_one(Inquiry, inquiry_id).buyer_id
            outbox.record_draft(s, draft_id, kind, "ahmed@alnoor-trading.example",
                                f"{kind} for your order", f"<{draft_id}@brightstar.example>",
                                "", buyer_id=buyer_id, inquiry_id=inquiry_id)
        return self.send(draft_id)

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["-c", str(self.settings.source), *argv])
        out, err = capsys.readouterr()
        return int(info.value.code or 0), out, err


def changes(db: Database, inquiry_id: int) -> list[tuple[str | None, str, str, str, Any, Any]]:
    with db.unit_of_work() as s:
        return [(c.from_stage, c.to_stage, c.reason, c.by, c.message_id, c.draft_id)
                for c in s.scalars(select(StageChange).where(
                    StageChange.inquiry_id == inquiry_id).order_by(StageChange.id))]


def stage(db: Database, inquiry_id: int) -> str:
    with db.unit_of_work() as s:
        return str(s.get_one(Inquiry, inquiry_id).stage)


def test_a_deal_from_inquiry_to_won_every_move_recorded(db: Database, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    desk = Desk(db, tmp_path)
    first = desk.receive("Inquiry: pendant necklaces",
                         "Dear Sir,\nPlease quote 3000 pcs of your stainless steel pendant "
                         "necklace BS-NK-101, CIF Jebel Ali, payment T/T.\n")
    quote = desk.newest_draft()
    assert quote.kind == "reply" and quote.inquiry_id is not None
    deal = quote.inquiry_id
    assert stage(db, deal) == "new"
    quoted_id = desk.send(quote.id)
    assert stage(db, deal) == "quoted"

    counter = desk.receive("Re: Inquiry: pendant necklaces",
                           "Thank you. Your price is too high for our market, can you do "
                           "USD 0.80?\n", answers=quoted_id)
    assert stage(db, deal) == "negotiating"
    answer = desk.newest_draft()
    assert answer.inquiry_id == deal and answer.in_reply_to_message == counter
    answer_id = desk.send(answer.id)
    assert stage(db, deal) == "negotiating"          # a second answer is no new quotation

    samples = desk.receive("Re: Inquiry: pendant necklaces",
                           "OK. Before ordering, please send us 2 samples of the necklace. "
                           "We can pay the courier.\n", answers=answer_id)
    assert stage(db, deal) == "sample"
    waiting = desk.receive("Re: Inquiry: pendant necklaces",
                           "Thanks, we are waiting for the samples.\n",
                           answers=desk.send(desk.newest_draft().id))
    assert stage(db, deal) == "sample"              # a reply in a sample thread stays

    letter = desk.document("confirmation", deal)
    desk.receive("Re: Order confirmation",
                 "Received, thank you.\n\nOn Tue, 24 Nov 2026 at 10:02, Lily wrote:\n"
                 "> Please reply 'We confirm' and we will send the PI.\n> Go ahead.\n",
                 answers=letter)
    assert stage(db, deal) == "sample"              # the quoted letter confirms nothing
    confirmed = desk.receive("Re: Order confirmation",
                             "Dear Lily,\nWe confirm the order as per your letter. OK, please "
                             "send the PI.\n", answers=letter)
    assert stage(db, deal) == "confirmed"
    desk.document("contract", deal)
    assert stage(db, deal) == "contract"

    code, out, _ = desk.run(capsys, "deals", "set", str(deal), "won", "--why",
                            "deposit received", "--by", "lily")
    assert code == 0 and f"inquiry #{deal} is now won (deposit received)" in out

    with db.unit_of_work() as s:
        assert s.scalars(select(Inquiry)).all() == [s.get_one(Inquiry, deal)]  # one deal
        letter_draft = s.scalars(select(Draft).where(Draft.kind == "confirmation")).one()
        contract_draft = s.scalars(select(Draft).where(Draft.kind == "contract")).one()
        assert s.get_one(Message, first).buyer_id == s.get_one(Inquiry, deal).buyer_id
    assert changes(db, deal) == [
        ("new", "quoted", "our quotation was sent", "inquiryd", None, quote.id),
        ("quoted", "negotiating", "the buyer answered our quotation", "inquiryd", counter, None),
        ("negotiating", "sample", "the buyer asked for samples", "inquiryd", samples, None),
        ("sample", "confirmed",
         "the buyer confirmed our confirmation letter (\u201cWe confirm\u201d)", "inquiryd",
         confirmed, None),
        ("confirmed", "contract", "our sales contract was sent", "inquiryd", None,
         contract_draft.id),
        ("contract", "won", "deposit received", "lily", None, None),
    ]
    assert waiting and letter_draft.state.value == "sent"

    # A mail in the thread of a won deal starts a new inquiry.
    desk.receive("Re: Order confirmation", "We would like to reorder 2000 pcs of "
                 "BS-NK-101.\n", answers=letter)
    with db.unit_of_work() as s:
        rows = s.scalars(select(Inquiry).order_by(Inquiry.id)).all()
        assert [str(i.stage) for i in rows] == ["won", "new"]


def test_a_reply_continues_the_deal_and_fills_terms_it_lacked(db: Database,
                                                              tmp_path: Path) -> None:
    desk = Desk(db, tmp_path)
    desk.receive("Inquiry", "Please quote your pendant necklace BS-NK-101, 3000 pcs.\n")
    quote = desk.newest_draft()
    sent = desk.send(quote.id)
    desk.receive("Re: Inquiry", "Also your hair claw clip please. Price CIF Jebel Ali, "
                 "payment T/T.\n", answers=sent)
    with db.unit_of_work() as s:
        inquiry = s.get_one(Inquiry, quote.inquiry_id)
        assert [p["sku"] for p in inquiry.products] == ["BS-NK-101", "BS-HC-402"]
        assert inquiry.terms["incoterms"][0]["term"] == "CIF"
        assert inquiry.terms["quantities"][0]["amount"] == 3000   # the first statement stays
        assert str(inquiry.stage) == "negotiating"


def test_the_follow_up_job_makes_a_deal_dormant_and_the_buyer_wakes_it(
        db: Database, tmp_path: Path) -> None:
    desk = Desk(db, tmp_path)
    desk.receive("Inquiry", "Please quote 3000 pcs of pendant necklace BS-NK-101.\n")
    quote = desk.newest_draft()
    desk.send(quote.id)
    deal = quote.inquiry_id
    assert deal is not None
    with db.unit_of_work() as s:
        buyer = s.get_one(Buyer, s.get_one(Inquiry, deal).buyer_id)
        buyer.followups_unanswered = 5
        buyer.last_contact_at = datetime.now(timezone.utc) - timedelta(days=20)
    rules = BOOK.followups
    env = followups_job.templating.environment(ROOT / "templates")
    report = followups_job.run(desk.settings, db, rules, env, desk.review)
    assert report.drafted == 1
    followup = desk.newest_draft()
    assert followup.kind == "followup" and followup.inquiry_id == deal   # it belongs to the deal
    sent = desk.send(followup.id)
    assert stage(db, deal) == "quoted"                 # a follow-up is no quotation
    report = followups_job.run(desk.settings, db, rules, env, desk.review)
    assert report.dormant == 1 and stage(db, deal) == "dormant"

    message = desk.receive("Re: Inquiry", "Sorry for the silence, we were travelling. Is the "
                           "price still valid?\n", answers=sent)
    assert stage(db, deal) == "negotiating"
    moves = changes(db, deal)
    assert moves[-2] == ("quoted", "dormant", "6 follow-ups went unanswered: the buyer went quiet",
                         "inquiryd", None, None)
    assert moves[-1] == ("dormant", "negotiating",
                         "the buyer wrote again after going quiet (it was quoted)", "inquiryd",
                         message, None)
    with db.unit_of_work() as s:
        assert s.get_one(Buyer, s.get_one(Inquiry, deal).buyer_id).status == "active"


def test_deals_list_and_set_from_the_command_line(db: Database, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    desk = Desk(db, tmp_path)
    desk.receive("Inquiry", "Please quote 3000 pcs of pendant necklace BS-NK-101.\n")
    deal = desk.newest_draft().inquiry_id
    desk.send(desk.newest_draft().id)

    code, out, _ = desk.run(capsys, "deals", "list", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert (row["id"], row["stage"], row["country"], row["reason"], row["by"]) == (
        deal, "quoted", "AE", "our quotation was sent", "inquiryd")
    assert row["buyer"] and row["grade"] in "ABCD" and row["since"]
    assert row["products"] == ["BS-NK-101"]
    code, out, _ = desk.run(capsys, "deals", "list", "--stage", "sample", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = desk.run(capsys, "deals", "list", "--buyer",
                            "ahmed@alnoor-trading.example", "--stage", "QUOTED", "--json")
    assert [r["id"] for r in json.loads(out)] == [deal]
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = desk.run(capsys, "deals", "list")
    assert code == 0 and "quoted" in out and "our quotation was sent" in out

    code, out, _ = desk.run(capsys, "deals", "set", str(deal), "lost", "--why",
                            "bought from a competitor")
    assert code == 0 and "now lost" in out
    code, out, _ = desk.run(capsys, "deals", "set", str(deal), "lost")
    assert code == 0 and "already lost" in out
    assert len(changes(db, deal)) == 2

    for argv, words in ((("deals", "set", "9999", "won"), "no inquiry 9999"),
                        (("deals", "set", "abc", "won"), "no inquiry 'abc'"),
                        (("deals", "set", str(deal), "closed"), "no stage 'closed'"),
                        (("deals", "list", "--stage", "closed"), "no stage 'closed'"),
                        (("deals", "list", "--buyer", "nobody@x.example"), "no buyer")):
        code, out, err = desk.run(capsys, *argv)
        assert code == 1 and words in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err


def test_the_buyer_history_shows_stages_and_their_changes(db: Database, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    desk = Desk(db, tmp_path)
    desk.receive("Inquiry", "Please quote 3000 pcs of pendant necklace BS-NK-101.\n")
    quote = desk.newest_draft()
    sent = desk.send(quote.id)
    desk.receive("Re: Inquiry", "Can you send a sample first?\n", answers=sent)
    code, out, _ = desk.run(capsys, "buyers", "show", "ahmed@alnoor-trading.example", "--json")
    assert code == 0
    (inquiry,) = json.loads(out)["inquiries"]
    assert inquiry["stage"] == "sample"
    assert [(c["from"], c["to"], c["reason"]) for c in inquiry["stage_changes"]] == [
        ("new", "quoted", "our quotation was sent"),
        ("quoted", "sample", "the buyer answered our quotation; the buyer asked for samples")]
    code, out, _ = desk.run(capsys, "buyers", "show", "ahmed@alnoor-trading.example")
    assert code == 0 and "Stage changes" in out and "quoted -> sample" in out
    assert "new -> quoted" in out and "our quotation" in out   # the reason, as wrapped


LABELLED = ROOT / "tests" / "data" / "labelled"


@pytest.mark.parametrize(("name", "before", "answers", "after"), [
    ("29-re-es-negotiate-price.eml", "quoted", "reply", "negotiating"),
    # "si nos dejáis el precio en 0,40, confirmamos ...": a condition, not a confirmation.
    ("29-re-es-negotiate-price.eml", "negotiating", "confirmation", "negotiating"),
    ("30-re-us-lead-time.eml", "quoted", "reply", "negotiating"),
    ("31-re-ch-order-confirmation.eml", "sample", "confirmation", "confirmed"),
    ("31-re-ch-order-confirmation.eml", "quoted", "reply", "negotiating"),   # no letter sent
    ("32-re-br-ask-samples.eml", "quoted", "reply", "sample"),
    ("32-re-br-ask-samples.eml", "confirmed", "reply", "confirmed"),          # never backwards
])
def test_real_replies_move_the_deal_they_answer(db: Database, name: str, before: str,
                                                answers: str, after: str) -> None:
    from daemon.models import BuyerAddress, DraftState
    from daemon.parse import parse

    raw = (LABELLED / name).read_bytes()
    mail = parse(raw, ParseLimits())
    assert mail.from_ is not None
    with db.unit_of_work() as s:
        buyer = Buyer(company="Buyer Co", grade="B")
        s.add(buyer)
        s.flush()
        address = mail.from_.email.lower()
        s.add(BuyerAddress(buyer_id=buyer.id, address=address, domain=address.split("@")[1]))
        inquiry = Inquiry(buyer_id=buyer.id, grade="B", stage=Stage(before))
        s.add(inquiry)
        s.flush()
        s.add(Draft(id="ours", kind=answers, state=DraftState.SENT, buyer_id=buyer.id,
                    inquiry_id=inquiry.id, outgoing_message_id=mail.in_reply_to,
                    to_addr=address))
        s.add(Message(direction="in", message_id=mail.message_id, dedup_key="real",
                      size=len(raw), raw=RawMessage(sha256="x" * 64, data=raw)))
        deal = inquiry.id
    stage_ = pipeline.understanding_stage(BOOK, frozenset({"brightstar-crafts.example"}),
                                          timezone.utc)
    outcomes = pipeline.process_pending(db, ParseLimits(), 3, [stage_])
    assert [o.state.value for o in outcomes] == ["processed"]
    assert stage(db, deal) == after
    moves = changes(db, deal)
    with db.unit_of_work() as s:
        assert s.scalars(select(Inquiry.id)).all() == [deal]    # continued, not a new inquiry
        message = s.scalars(select(Message.id).where(Message.dedup_key == "real")).one()
    assert moves == ([] if before == after else [(before, after, moves[0][2], "inquiryd",
                                                   message, None)])
    if before != after == "confirmed":
        assert moves[0][2] == ("the buyer confirmed our confirmation letter "
                               "(\u201cWir bestätigen\u201d)")
