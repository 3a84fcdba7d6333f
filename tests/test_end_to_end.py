"""From the buyer's mail to our reply: Dovecot in, review folder, aiosmtpd out, Sent copy."""

from __future__ import annotations

import email
import shutil
import threading
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon import runner, sweep
from daemon.models import Draft, DraftState, Event, Inquiry
from daemon.review_folder import ReviewFolder
from tests.helpers import ROOT, imap_block, settings_for

pytestmark = pytest.mark.imap

INBOX = ROOT / "examples" / "inbox" / "new"
SAMPLES = sorted(INBOX.iterdir())


def desk_settings(tmp_path: Path, user: Any, smtp: Any):  # type: ignore[no-untyped-def]
    extra = (f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
             'sender = "Lily Chen <lily@brightstar-crafts.example>"\ntimeout_seconds = 5\n'
             "[sending]\nper_minute = 10000\n"
             f'[review]\npath = "{tmp_path / "review"}"\n')
    box = imap_block(user, name="sales") + 'sender = "Lily Chen <lily@brightstar-crafts.example>"\n'
    return settings_for(tmp_path, box, extra=extra, environ={"PW_SALES": user.password})


def test_inquiries_become_drafts_then_replies_sent_once(tmp_path: Path, imap_user, smtp_server,
                                                        sqlite_db) -> None:
    server = imap_user.server
    server.append_many(imap_user.name, "INBOX", [p.read_bytes() for p in SAMPLES])
    server.create_folder(imap_user.name, "Sent")
    settings = desk_settings(tmp_path, imap_user, smtp_server)
    report = runner.poll(settings, sqlite_db)
    assert report.mailboxes[0].processed == len(SAMPLES)

    review = ReviewFolder(settings.review_path)
    pending = sorted((settings.review_path / "pending").glob("*.eml"))
    with sqlite_db.unit_of_work() as s:
        drafts = s.scalars(select(Draft)).all()
        graded = s.scalars(select(Inquiry)).all()
    # Every inquiry and platform lead gets a draft; no bounce, auto-reply, spam or digest.
    assert len(pending) == len(drafts) == len(graded)
    assert {p.name.split("_")[1] for p in pending} <= {"A", "B", "C", "D"}
    assert all(p.with_suffix(".txt").exists() for p in pending)
    to = {d.to_addr for d in drafts}
    assert "mailer-daemon@mx.brightstar-crafts.example" not in to
    spam_senders = {"grow.your.rank.today@gmail.com", "it-support@mailbox-quota-center.example"}
    assert not to & spam_senders

    for path in pending:
        shutil.move(path, settings.review_path / "approved" / path.name)
    result = sweep.sweep(settings, sqlite_db, review, threading.Event(), settle_seconds=0)
    assert result.sent == len(pending) and result.error is None

    received = smtp_server.accepted
    ids = [m.message["Message-ID"] for m in received]
    assert len(ids) == len(set(ids)) == len(pending)
    with sqlite_db.unit_of_work() as s:
        rows = {d.outgoing_message_id: d for d in s.scalars(select(Draft))}
    for message in received:
        draft = rows[message.message["Message-ID"]]
        assert draft.state is DraftState.SENT
        assert message.message["In-Reply-To"]  # threads under the buyer's message
        assert message.message["Auto-Submitted"] == "auto-replied"
        assert "lily@brightstar-crafts.example" in message.message["From"]
    assert len(server.uids(imap_user.name, "Sent")) == len(pending)
    with sqlite_db.unit_of_work() as s:
        stages = {i.stage.value for i in s.scalars(select(Inquiry))}
        first = s.scalars(select(Event).where(Event.name == "first_reply")).all()
    assert stages == {"quoted"} and len(first) == len(pending)

    again = sweep.sweep(settings, sqlite_db, review, threading.Event(), settle_seconds=0)
    assert again.sent == 0 and len(smtp_server.accepted) == len(pending)


def test_an_a_grade_reply_quotes_the_regional_price_and_attaches_the_e_sample(
        tmp_path: Path, imap_user, smtp_server, sqlite_db) -> None:
    uae = next(p for p in SAMPLES if b"alnoor-trading" in p.read_bytes())
    imap_user.server.append(imap_user.name, "INBOX", uae.read_bytes())
    settings = desk_settings(tmp_path, imap_user, smtp_server)
    runner.poll(settings, sqlite_db)
    (path,) = (settings.review_path / "pending").glob("*.eml")
    assert path.name.split("_")[1] == "A"
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = message.get_body(("plain",)).get_content()
    from daemon import rulebook

    ring = rulebook.load(ROOT / "rules").catalog.get("BS-RG-620")
    assert ring is not None and "BS-RG-620" in body
    assert f": {ring.price_for('middle_east')}" in body  # the Middle East column
    assert f": {ring.price_for('north_america')}" not in body
    names = [part.get_filename() for part in message.iter_attachments()]
    assert any("BS-RG-620" in (n or "") for n in names)
    context = path.with_suffix(".txt").read_text(encoding="utf-8")
    assert "Grade:        A" in context and "floor" not in body.lower()


def test_a_buyer_writing_again_before_approval_is_shown_to_the_reviewer(
        tmp_path: Path, imap_user, smtp_server, sqlite_db) -> None:
    uae = next(p for p in SAMPLES if b"alnoor-trading" in p.read_bytes()).read_bytes()
    again = uae.replace(b"Message-ID: <", b"Message-ID: <again-", 1)
    imap_user.server.append(imap_user.name, "INBOX", uae)
    settings = desk_settings(tmp_path, imap_user, smtp_server)
    runner.poll(settings, sqlite_db)
    (first,) = (settings.review_path / "pending").glob("*.eml")
    imap_user.server.append(imap_user.name, "INBOX", again)
    runner.poll(settings, sqlite_db)
    (second,) = set((settings.review_path / "pending").glob("*.eml")) - {first}
    context = second.with_suffix(".txt").read_text(encoding="utf-8")
    assert "wrote again" in context and first.name in context
    assert "wrote again" not in first.with_suffix(".txt").read_text(encoding="utf-8")
