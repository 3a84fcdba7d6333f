"""The daily follow-up job over a real database (SQLite and PostgreSQL).

The simulated clock runs 60 days over buyers of every grade: each morning the job drafts
what is due, every draft is approved and sent (outbox, as the sweep would), and on day
20 three buyers answer through the real pipeline: one by a reply, one by a colleague at
the same company, one by an out-of-office.
"""

from __future__ import annotations

import email
import json
from datetime import date, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from daemon import followups_job, outbox, pipeline, rulebook, templating
from daemon.types import ParseLimits
from daemon.cli import cli
from daemon.db import Database
from daemon.models import (
    Buyer, BuyerAddress, Draft, DraftState, Event, Message, MessageState, RawMessage,
)
from daemon.review_folder import ReviewFolder
from tests.helpers import COMPANY, ROOT, settings_for

START = date(2027, 1, 18)        # a Monday; Chinese New Year (Feb 6-17) falls inside
REPLY_DAY = 20
BOOK = rulebook.load(ROOT / "rules")
RULES = BOOK.followups
ENV = templating.environment(ROOT / "templates")

# name: (grade, country, address status, buyer status, language, open inquiry stage)
BUYERS: dict[str, tuple[str | None, str, str, str, str, str]] = {
    "a-de": ("A", "DE", "active", "active", "", ""),
    "a-ae": ("A", "AE", "active", "active", "", "quoted"),
    "b-de": ("B", "DE", "active", "active", "", ""),
    "b-sa": ("B", "SA", "active", "active", "es", "sample"),
    "c-fr": ("C", "FR", "active", "active", "fr", ""),
    "d-us": ("D", "US", "active", "active", "", ""),
    "d-open": ("D", "US", "active", "active", "", "quoted"),
    "replier": ("B", "DE", "active", "active", "", ""),
    "colleague": ("B", "DE", "active", "active", "", ""),
    "ooo": ("B", "DE", "active", "active", "", ""),
    "unsubscribed": ("B", "DE", "unsubscribed", "active", "", ""),
    "bounced": ("A", "DE", "bounced", "active", "", ""),
    "won": ("A", "DE", "active", "won", "", ""),
    "ungraded": (None, "DE", "active", "active", "", ""),
}
WEEKEND = {"DE": {5, 6}, "FR": {5, 6}, "US": {5, 6}, "AE": {4, 5}, "SA": {4, 5}}
BLACKOUT = (date(2027, 2, 6), date(2027, 2, 17))


def local_morning(day: date) -> datetime:
    """09:00 in Asia/Shanghai (the default schedule time zone), as UTC."""
    return datetime(day.year, day.month, day.day, 1, 0, tzinfo=timezone.utc)


def desk(tmp_path: Path, extra: str = "") -> Any:
    box = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "inbox"}"\n'
    return settings_for(tmp_path, box, extra=f'[review]\npath = "{tmp_path / "review"}"\n'
                                             + extra)


def seed(db: Database, start: datetime) -> dict[str, int]:
    ids = {}
    with db.unit_of_work() as s:
        for name, (grade, country, addr_status, status, lang, stage) in BUYERS.items():
            # The Saudi buyer last wrote on a Friday: due on Fridays, sent on Sundays.
            last = start - timedelta(days=3 if name == "b-sa" else 0)
            buyer = Buyer(company=f"{name} GmbH", contact_name=name.title(), grade=grade,
                          country=country, status=status, language=lang,
                          created_at=last, last_contact_at=last)
            s.add(buyer)
            s.flush()
            s.add(BuyerAddress(buyer_id=buyer.id, address=f"buyer@{name}.example",
                               domain=f"{name}.example", status=addr_status))
            if stage:
                from daemon.models import Inquiry, Stage
                s.add(Inquiry(buyer_id=buyer.id, grade=grade or "D", stage=Stage(stage),
                              products=[{"sku": "BS-NK-101", "name": "Pendant necklace"}],
                              terms={"requests": ["sample"] if stage == "sample" else []},
                              created_at=start))
            ids[name] = buyer.id
    return ids


def send_all(db: Database, review: ReviewFolder, now: datetime) -> list[tuple[int, str]]:
    """What the reviewer and the sweep do: approve every pending follow-up, send it."""
    sent = []
    for path in sorted((review.root / "pending").glob("*.eml")):
        data = path.read_bytes()
        msg = email.message_from_bytes(data, policy=policy.default)
        draft_id = str(msg["X-Inquiryd-Draft"])
        with db.unit_of_work() as s:
            draft = s.get_one(Draft, draft_id)
            outbox.approve(s, draft, (), draft.subject, now)
            assert outbox.claim_for_sending(s, draft_id, now)
        with db.unit_of_work() as s:
            outbox.mark_sent(s, draft_id, outbox.Sent(data, "250 ok", "sales@brightstar.example",
                                                      str(msg["Subject"])), now)
            sent.append((s.get_one(Draft, draft_id).buyer_id or 0, data.decode()))
        path.rename(review.root / "sent" / path.name)
        path.with_suffix(".txt").unlink()
    return sent


def answer(db: Database, ids: dict[str, int], now: datetime) -> None:
    """Day 20: a reply, a colleague's reply, an out-of-office; through the pipeline."""
    mails = []
    for name, sender, auto in (("replier", "buyer@replier.example", False),
                               ("colleague", "anna@colleague.example", False),
                               ("ooo", "buyer@ooo.example", True)):
        with db.unit_of_work() as s:
            ours = s.scalars(select(Message.message_id).where(
                Message.buyer_id == ids[name], Message.direction == "out")
                .order_by(Message.id.desc())).first()
        msg = EmailMessage()
        msg["From"] = f"{name.title()} <{sender}>"
        msg["To"] = "sales@brightstar.example"
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = f"<{name}-answer@{name}.example>"
        msg["In-Reply-To"] = ours
        if auto:
            msg["Subject"] = "Automatic reply: out of office"
            msg["Auto-Submitted"] = "auto-replied"
            msg.set_content("I am out of the office until next month.\n")
        else:
            msg["Subject"] = "Re: your quotation"
            msg.set_content("Thank you. We are still comparing offers and will decide next "
                            "month.\nBest regards\n")
        mails.append(msg.as_bytes())
    with db.unit_of_work() as s:
        for n, data in enumerate(mails):
            s.add(Message(direction="in", message_id=f"<m{n}>", dedup_key=f"sim-{n}",
                          size=len(data), raw=RawMessage(sha256="x" * 64, data=data)))
    stage = pipeline.understanding_stage(BOOK, frozenset({"brightstar.example"}),
                                         timezone.utc)
    outcomes = pipeline.process_pending(db, ParseLimits(), 3, [stage])
    assert [o.state.value for o in outcomes] == ["processed"] * 3, outcomes


@pytest.fixture
def simulation(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    settings = desk(tmp_path)
    review = ReviewFolder(settings.review_path)
    ids = seed(db, local_morning(START) - timedelta(hours=2))
    sends: dict[int, list[date]] = {i: [] for i in ids.values()}
    bodies: dict[int, list[str]] = {i: [] for i in ids.values()}
    for n in range(60):
        day = START + timedelta(days=n)
        now = local_morning(day)
        if n == REPLY_DAY:
            monkeypatch.setattr(pipeline, "utcnow", lambda: now - timedelta(minutes=30))
            answer(db, ids, now - timedelta(minutes=30))
        followups_job.run(settings, db, RULES, ENV, review, now=now)
        for buyer_id, text in send_all(db, review, now + timedelta(minutes=5)):
            sends[buyer_id].append(day)
            bodies[buyer_id].append(text)
    return ids, sends, bodies


def test_sixty_days_of_follow_ups(db: Database, simulation: Any) -> None:
    ids, sends, bodies = simulation
    by = {name: sends[i] for name, i in ids.items()}
    reply_day = START + timedelta(days=REPLY_DAY)

    # Never on the buyer's weekend, never in the blackout.
    for name, days in by.items():
        country = BUYERS[name][1]
        assert all(d.weekday() not in WEEKEND[country] for d in days), (name, days)
        assert not [d for d in days if BLACKOUT[0] <= d <= BLACKOUT[1]], (name, days)

    # Each grade on its cadence: at least the rule's days apart; more only when a
    # weekend or the blackout moved the date.
    def gaps(days: list[date]) -> list[int]:
        return [(b - a).days for a, b in zip(days, days[1:])]

    assert by["a-de"][0] == START + timedelta(days=3)
    assert len(by["a-de"]) == 6
    assert gaps(by["a-de"]) == [4, 3, 4, 3, 14]     # twice a week; then the New Year
    silent_b = [date(2027, 1, 25), date(2027, 2, 1), date(2027, 2, 18), date(2027, 2, 25),
                date(2027, 3, 4), date(2027, 3, 11)]
    assert by["b-de"] == silent_b                   # Feb 8 falls in the New Year blackout
    assert by["c-fr"] == [date(2027, 2, 2), date(2027, 2, 18), date(2027, 3, 5)]
    assert by["d-us"] == [date(2027, 2, 18)]        # Feb 17 + blackout; March 20 is later
    assert by["d-open"][:2] == [date(2027, 2, 2), date(2027, 2, 18)]   # open: every 15 days
    # Gulf: Friday-Saturday weekend; Sunday is a working day.
    assert by["b-sa"][:3] == [date(2027, 1, 24), date(2027, 1, 31), date(2027, 2, 18)]

    # Unsubscribed, bounced, won and ungraded buyers get nothing.
    for name in ("unsubscribed", "bounced", "won", "ungraded"):
        assert by[name] == [], name

    # The out-of-office changed nothing: the same dates as an identical silent buyer.
    assert by["ooo"] == by["b-de"]
    # A reply, or a colleague's, resets the clock: the next one counts from the reply.
    for name in ("replier", "colleague"):
        before = [d for d in by[name] if d < reply_day]
        after = [d for d in by[name] if d > reply_day]
        assert before == by["b-de"][:len(before)]
        assert after and after[0] >= reply_day + timedelta(days=3), (name, after)
        assert after != [d for d in by["b-de"] if d > reply_day]

    with db.unit_of_work() as s:
        buyers = {name: s.get_one(Buyer, i) for name, i in ids.items()}
        # Dormant after six unanswered; the ones who answered are not.
        assert buyers["a-de"].status == "dormant" and buyers["a-de"].followups_unanswered == 6
        assert buyers["ooo"].status == "dormant"
        assert buyers["replier"].status == "active"
        assert buyers["replier"].followups_unanswered < 6
        assert s.scalars(select(Event).where(Event.name == "buyer_dormant",
                                             Event.buyer_id == ids["a-de"])).one()
        # The colleague's address joined the buyer.
        assert s.scalars(select(BuyerAddress).where(
            BuyerAddress.address == "anna@colleague.example")).one().buyer_id == ids["colleague"]
        # Stored next dates: set for the living, none for the stopped.
        assert buyers["c-fr"].next_followup_at is not None
        assert buyers["won"].next_followup_at is None
        drafts = s.scalars(select(Draft).where(Draft.kind == "followup")).all()
        assert {d.state for d in drafts} == {DraftState.SENT}


def test_follow_up_drafts_are_worded_by_step_situation_and_language(db: Database,
                                                                    simulation: Any) -> None:
    ids, _sends, bodies = simulation
    first, fifth = (email.message_from_string(bodies[ids["a-de"]][i], policy=policy.default)
                    for i in (0, 4))
    assert first["Auto-Submitted"] == "auto-generated"
    assert first["X-Inquiryd-Draft"] and first["From"] == "sales@brightstar.example"
    assert first["To"] == "A-De <buyer@a-de.example>"
    text1, text5 = first.get_content(), fifth.get_content()
    assert "keep in touch" in text1 and "not heard from you" in text5
    assert "Dear A-De," in text1
    quoted = email.message_from_string(bodies[ids["a-ae"]][0], policy=policy.default)
    quoted = quoted.get_content()
    assert "quotation we sent you for our pendant necklace" in quoted
    spanish = email.message_from_string(bodies[ids["b-sa"]][0], policy=policy.default)
    assert "muestras" in spanish.get_content() and spanish["Content-Language"] == "es"
    french = email.message_from_string(bodies[ids["c-fr"]][0], policy=policy.default)
    assert "Bonjour" in french.get_content()
    last = email.message_from_string(bodies[ids["a-de"]][5], policy=policy.default)
    assert "last note for now" in last.get_content()
    # Later follow-ups thread on our previous one.
    assert fifth["In-Reply-To"]


def test_a_draft_waiting_for_review_is_not_drafted_twice(db: Database, tmp_path: Path) -> None:
    settings = desk(tmp_path)
    review = ReviewFolder(settings.review_path)
    seed(db, local_morning(START))
    day = START + timedelta(days=3)
    first = followups_job.run(settings, db, RULES, ENV, review, now=local_morning(day))
    again = followups_job.run(settings, db, RULES, ENV, review,
                              now=local_morning(day) + timedelta(hours=3))
    assert first.drafted == 2 and again.drafted == 0          # a-de and a-ae (Thursday)
    assert len(list((review.root / "pending").glob("*.eml"))) == 2
    # A rejected draft skips that step: nothing the next day, the next one on cadence.
    with db.unit_of_work() as s:
        for draft_id in first.drafts:
            outbox.mark_rejected(s, draft_id)
    nxt = followups_job.run(settings, db, RULES, ENV, review,
                            now=local_morning(day + timedelta(days=1)))
    assert nxt.drafted == 0


def test_without_review_the_follow_up_goes_straight_to_approved(db: Database,
                                                                 tmp_path: Path) -> None:
    settings = desk(tmp_path, "[sending]\nfollowups_without_review = true\n")
    review = ReviewFolder(settings.review_path)
    seed(db, local_morning(START))
    report = followups_job.run(settings, db, RULES, ENV, review,
                               now=local_morning(START + timedelta(days=3)))
    assert report.drafted == report.approved == 2
    assert len(list((review.root / "approved").glob("*.eml"))) == 2
    assert not list((review.root / "pending").glob("*.eml"))


def test_without_review_the_weekly_cap_holds_follow_ups_back(db: Database,
                                                              tmp_path: Path) -> None:
    settings = desk(tmp_path, "[sending]\nfollowups_without_review = true\n"
                              "max_automatic_per_week = 1\n")
    review = ReviewFolder(settings.review_path)
    ids = seed(db, local_morning(START))
    when = local_morning(START + timedelta(days=3))
    with db.unit_of_work() as s:  # a-de already had a newsletter this week
        s.add(Message(direction="out", buyer_id=ids["a-de"], kind="newsletter",
                      dedup_key="n" * 64, size=1, sent_at=when - timedelta(days=1),
                      state=MessageState.PROCESSED))
    report = followups_job.run(settings, db, RULES, ENV, review, now=when)
    assert (report.due, report.capped, report.drafted) == (2, 1, 1)


def test_followups_due_command(db: Database, tmp_path: Path) -> None:
    settings = desk(tmp_path, f'[database]\nurl = "{db.url}"\n')
    seed(db, datetime.now(timezone.utc) - timedelta(days=1))
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", str(settings.source), "followups", "due", "--days",
                                 "31", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    names = {r["buyer"] for r in rows}
    assert {"a-de GmbH", "b-de GmbH", "c-fr GmbH", "d-us GmbH"} <= names
    assert not names & {"won GmbH", "bounced GmbH", "unsubscribed GmbH", "ungraded GmbH"}
    assert all(r["reasons"] for r in rows)
    text = runner.invoke(cli, ["-c", str(settings.source), "followups", "due"])
    assert text.exit_code == 0 and "follow-up 1" in text.output, text.output


assert COMPANY  # the desk's own domain is brightstar.example (tests.helpers)


@pytest.mark.parametrize("lang", ["en", "es", "fr", "ru", "ar", "zh", "de"])
def test_every_follow_up_template_renders(lang: str) -> None:
    from daemon.config import Company
    from daemon.followup import BuyerState, next_followup
    from daemon.types import Address

    seen = set()
    for grade in ("A", "B", "C", "D", None):
        for stage, sample in (("", False), ("quoted", False), ("sample", True)):
            for unanswered in (0, 4, 5):
                state = BuyerState(1, grade, country="DE", last_contact=START,
                                   unanswered=unanswered, open_stage=stage, asked_sample=sample,
                                   label="X")
                nxt = next_followup(state, RULES)
                if nxt.when is None:
                    continue
                buyer = Buyer(contact_name="", company="X", country="DE", language=lang)
                draft = followups_job.compose(
                    ENV, state, nxt, RULES, buyer=buyer, to=Address("", "x@x.example"),
                    thread=None, inquiry=None, company=Company(name="Brightstar"),
                    sender="sales@brightstar.example", draft_id="f1", today=START)
                assert draft.subject and "{" not in draft.body and "grade" not in draft.body
                assert draft.template.startswith(f"followup/{lang if lang != 'de' else 'en'}/")
                seen.add(draft.body)
    assert len(seen) >= 12   # step, situation and grade each change the words


def seed_sample_buyers(db: Database, start: datetime) -> dict[str, int]:
    """Two B buyers who last wrote two days before START: one silent after our quotation,
    one waiting for a sample sent by DHL, expected on START + 1."""
    from daemon.models import Inquiry, Sample, Stage

    ids = {}
    with db.unit_of_work() as s:
        for name, stage in (("quoted", Stage.QUOTED), ("sampled", Stage.SAMPLE)):
            buyer = Buyer(company=f"{name} GmbH", contact_name=name.title(), grade="B",
                          country="DE", created_at=start, last_contact_at=start)
            s.add(buyer)
            s.flush()
            s.add(BuyerAddress(buyer_id=buyer.id, address=f"buyer@{name}.example",
                               domain=f"{name}.example"))
            inquiry = Inquiry(buyer_id=buyer.id, grade="B", stage=stage, created_at=start,
                              products=[{"sku": "BS-NK-101", "name": "Pendant necklace"}],
                              terms={"requests": ["sample"] if stage == Stage.SAMPLE else []})
            s.add(inquiry)
            s.flush()
            if stage == Stage.SAMPLE:
                s.add(Sample(inquiry_id=inquiry.id, buyer_id=buyer.id, sku="BS-NK-101",
                             quantity=2, courier="DHL", tracking="JD014600003",
                             sent_at=start, expected_at=start + timedelta(days=3)))
            ids[name] = buyer.id
            ids[f"{name}-inquiry"] = inquiry.id
    return ids


def test_a_sample_is_asked_about_once_after_it_should_have_arrived(db: Database,
                                                                   tmp_path: Path) -> None:
    from daemon.models import Sample

    settings = desk(tmp_path)
    review = ReviewFolder(settings.review_path)
    ids = seed_sample_buyers(db, local_morning(START) - timedelta(days=2))
    # START + 1, the sample's expected day: too early to ask; the quoted buyer is not due.
    assert followups_job.run(settings, db, RULES, ENV, review,
                             now=local_morning(START + timedelta(days=1))).drafted == 0
    report = followups_job.run(settings, db, RULES, ENV, review,
                               now=local_morning(START + timedelta(days=2)))
    assert report.drafted == 1
    (arrival,) = send_all(db, review, local_morning(START + timedelta(days=2)))
    assert arrival[0] == ids["sampled"]
    body = email.message_from_string(arrival[1], policy=policy.default).get_content()
    assert "should have arrived by now" in body and "by DHL (tracking number JD014600003)" in body
    assert "pendant necklace" in body and "we can send samples" not in body
    with db.unit_of_work() as s:
        sample = s.scalars(select(Sample)).one()
        assert sample.followed_up_at is not None
        draft = s.scalars(select(Draft).where(Draft.buyer_id == ids["sampled"])).one()
        assert draft.inquiry_id == ids["sampled-inquiry"]
        event = s.scalars(select(Event).where(Event.name == "followup_drafted")).one()
        assert event.data["situation"] == "sample_arrival" and event.data["samples"] == [
            sample.id]

    # The weekly cadence goes on: the quoted buyer hears about the quotation, the other
    # about the sample sent; nobody is asked about the arrival again.
    texts = {}
    for n in range(3, 12):
        now = local_morning(START + timedelta(days=n))
        followups_job.run(settings, db, RULES, ENV, review, now=now)
        for buyer_id, text in send_all(db, review, now):
            texts.setdefault(buyer_id, []).append(
                email.message_from_string(text, policy=policy.default).get_content())
    (quoted,) = texts[ids["quoted"]]
    (sampled,) = texts[ids["sampled"]]
    assert "quotation we sent you" in quoted and "samples" in quoted   # B offers samples
    assert "samples we sent you (pendant necklace) reached you safely" in sampled
    assert "should have arrived" not in sampled and "quotation" not in sampled


@pytest.mark.parametrize("lang", ["en", "es", "fr", "ru", "ar", "zh"])
def test_stage_follow_ups_are_worded_in_every_language(lang: str) -> None:
    from daemon.config import Company
    from daemon.followup import BuyerState, next_followup
    from daemon.models import Sample
    from daemon.types import Address

    bodies = {}
    for key, kw in (("quoted", {"open_stage": "quoted"}), ("sample", {"open_stage": "sample"}),
                    ("order", {"open_stage": "confirmed"}),
                    ("sample_sent", {"open_stage": "sample", "sample_sent": True}),
                    ("sample_arrival", {"open_stage": "sample", "sample_expected": START})):
        state = BuyerState(1, "B", country="DE", last_contact=START, label="X", **kw)
        nxt = next_followup(state, RULES)
        assert nxt.situation == key
        sample = Sample(sku="BS-NK-101", quantity=2, courier="DHL", tracking="JD0146")
        draft = followups_job.compose(
            ENV, state, nxt, RULES, buyer=Buyer(company="X", country="DE", language=lang),
            to=Address("", "x@x.example"), thread=None, inquiry=None,
            company=Company(name="Brightstar"), sender="sales@brightstar.example",
            draft_id="f1", today=START, samples=[sample] if key == "sample_arrival" else [])
        assert draft.template.startswith(f"followup/{lang}/") and "{" not in draft.body
        bodies[key] = draft.body
    assert len(set(bodies.values())) == 5
    assert "DHL" in bodies["sample_arrival"] and "JD0146" in bodies["sample_arrival"]
