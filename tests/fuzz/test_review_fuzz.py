"""The review folder's reading side: file names, drafts read back, edits, any bytes at all.

A draft written and read back keeps its id, bytes, subject, body digest and
Message-ID, and the sweep would send it unedited. An edited file is read as the edit
says (or refused with the module's ReviewFileError); files of any name and content
dropped into approved/ are listed, read or refused, and moved to failed/ with their
reason; and a whole sweep over such a folder, with a real database and SMTP server,
sends the one good draft among them and stops for none of the others.
"""

from __future__ import annotations

import email
import itertools
import re
import threading
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from daemon import outbox
from daemon.db import Database
from daemon.models import Draft, DraftState
from daemon.review_folder import (
    DRAFT_HEADER,
    ApprovedDraft,
    ReviewFileError,
    ReviewFolder,
    approved_from_bytes,
    body_digest,
    eml_bytes,
    header_draft_id,
    safe_part,
)
from daemon.review_imap import NOTE_HEADER, reason_note
from daemon.sweep import admission, sweep
from tests.fuzz import corpus
from tests.fuzz.contract import one_line
from tests.fuzz.drafts import SENDER, Drafted, Edit, drafts, edits
from tests.test_review_folder import draft_message
from tests.test_send import make_settings

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
FILE_NAME = re.compile(
    r"\d{8}-\d{4}_[A-Za-z0-9.-]{1,2}_[A-Za-z0-9.-]{1,40}_[A-Za-z0-9.-]{1,64}\.eml")
# What a share may hold: any name a Linux file system takes (no '/', no NUL, 255 bytes).
# Long ones too: a mail client names a saved message by its subject.
NAMES = st.tuples(
    st.one_of(st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
                      min_size=1, max_size=90),
              st.builds(str.__mul__, st.sampled_from(["x", "报价", "Ü"]), st.integers(60, 251))),
    st.sampled_from([".eml", ".EML", ".txt", "", ".eml.part", ".eml "])).map(
    "".join).filter(lambda n: n not in (".", "..") and len(n.encode()) <= 255)
CONTENTS = st.one_of(st.binary(max_size=600), corpus.mutated(most=2),
                     drafts().flatmap(edits).map(lambda e: e.data))
_folders = itertools.count()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review")


def fresh(root: Path) -> ReviewFolder:
    """A new review folder per example: module fixtures outlive Hypothesis examples."""
    return ReviewFolder(root / str(next(_folders)))


def row(drafted: Drafted, name: str = "") -> Draft:
    """The database row the drafting side keeps for the draft (not stored)."""
    return Draft(id=drafted.draft_id, kind="reply", state=DraftState.PENDING,
                 outgoing_message_id=str(drafted.message["Message-ID"]), to_addr=drafted.to,
                 subject=drafted.subject, file_name=name, attempts=0, next_attempt_at=None,
                 body_sha256=body_digest(drafted.message), error=None, sent_at=None)


@given(drafts())
def test_a_draft_read_back_is_sent_as_written(root: Path, drafted: Drafted) -> None:
    review = fresh(root)
    name = review.write_pending(drafted.draft_id, drafted.message, "context",
                                grade=drafted.grade, buyer_label=drafted.buyer_label,
                                when=drafted.when)
    assert FILE_NAME.fullmatch(name) and len(name) <= 255, name
    path = review.move(review.folder("pending") / name, "approved")
    # The name says the id only as safe_part keeps it ("d1." -> "d1"); the header says it all.
    assert review.named_draft_id(path) == safe_part(drafted.draft_id, 64)
    assert review.header_draft_id(path) == drafted.draft_id
    got = review.read_approved(path)
    assert (got.draft_id, got.name) == (drafted.draft_id, name)
    assert got.subject == " ".join(drafted.subject.split())  # as the sweep compares it
    assert got.message_bytes == eml_bytes(drafted.message) == path.read_bytes()
    assert not got.body_changed(body_digest(drafted.message))
    assert got.header_values("Message-ID") == [drafted.message["Message-ID"]]
    verdict = admission(row(drafted, name), got, SENDER, NOW)
    assert (verdict.action, verdict.edits, verdict.recipients) == ("send", (), (drafted.to,))


@given(drafts().flatmap(lambda d: st.tuples(st.just(d), edits(d))))
def test_an_edited_draft_is_read_as_edited_or_refused_with_a_reason(
        pair: tuple[Drafted, Edit]) -> None:
    drafted, edit = pair
    try:
        got = approved_from_bytes("x.eml", edit.data)
    except ReviewFileError as exc:
        assert edit.action in (None, "unreadable"), f"{edit.what}: {exc}"
        assert edit.words in str(exc) and one_line(str(exc))
        return
    assert edit.action != "unreadable", edit.what
    verdict = admission(row(drafted), got, SENDER, NOW)
    assert verdict.action in ("send", "refuse") and "\n" not in verdict.reason
    if edit.subject is not None:
        assert got.subject == edit.subject
    if edit.action == "send":
        assert (verdict.action, set(verdict.edits)) == ("send", edit.edits), verdict
    elif edit.action == "refuse":
        assert verdict.action == "refuse" and edit.words in verdict.reason


def check_read(got: ApprovedDraft) -> None:
    assert got.draft_id and one_line(got.draft_id) and one_line(got.subject)
    assert isinstance(got.body_changed("0" * 64), bool)
    assert all(isinstance(v, str) for v in got.header_values("From", "To", "Cc", "Bcc"))


# Found by these tests; each made approved_from_bytes raise, which stopped every sweep
# (the file stays in approved/): a broken encoded word in the subject (HeaderParseError),
# a NUL in a charset name (ValueError), a cut RFC 2231 parameter (TypeError); a NUL
# draft id was refused by PostgreSQL; a raw UTF-8 subject was read as U+FFFD.
BROKEN_WORD = b"X-Inquiryd-Draft: d1\r\nSubject: =?utf-8?b?abcde?=\r\n\r\nhi\r\n"
NUL_CHARSET = (b"X-Inquiryd-Draft: d1\r\nContent-Type: text/plain; charset=\"utf-8\x00\"\r\n"
               b"\r\nhi\r\n")
NUL_ID = b"X-Inquiryd-Draft: d\x001\r\nSubject: x\r\n\r\nhi\r\n"
RAW_UTF8_SUBJECT = "X-Inquiryd-Draft: d1\r\nSubject: Re: 报价\r\n\r\nhi\r\n".encode()
# A truncated copy: a cut RFC 2231 parameter made the stdlib raise TypeError.
CUT_FILENAME = (b"X-Inquiryd-Draft: d1\r\nContent-Type: text/csv\r\nContent-Disposition: "
                b"attachment;\r\n filename*0*=utf-8''abc;\r\n filename*\r\n\r\nx\r\n")


@pytest.mark.parametrize(("data", "subject"), [
    (BROKEN_WORD, "=?utf-8?b?abcde?="), (NUL_CHARSET, ""), (RAW_UTF8_SUBJECT, "Re: 报价"),
    (CUT_FILENAME, "")])
def test_files_found_by_fuzzing_are_read(data: bytes, subject: str) -> None:
    assert approved_from_bytes("x.eml", data).subject == subject


def test_a_draft_id_inquiryd_never_writes_is_refused() -> None:
    with pytest.raises(ReviewFileError, match="is not a draft id inquiryd writes"):
        approved_from_bytes("x.eml", NUL_ID)
    assert header_draft_id(NUL_ID) == ""


@given(CONTENTS)
@example(BROKEN_WORD)
@example(NUL_CHARSET)
@example(NUL_ID)
@example(CUT_FILENAME)
def test_any_bytes_are_read_as_a_draft_or_refused_with_a_reason(data: bytes) -> None:
    assert isinstance(header_draft_id(data[:64 * 1024]), str)
    try:
        got = approved_from_bytes("x.eml", data)
    except ReviewFileError as exc:
        assert str(exc) and one_line(str(exc))
        return
    check_read(got)
    draft = Draft(id=got.draft_id, state=DraftState.PENDING, outgoing_message_id="<m@x>",
                  to_addr="a@b.example", subject="", file_name="", next_attempt_at=None,
                  body_sha256="")
    assert admission(draft, got, SENDER, NOW).action in ("send", "refuse")


# Found by this test: moving a file of a long name to failed/ raised "File name too
# long" (its ~N, .reason.txt and temporary names were longer still), on every sweep.
LONG_NAMES = [("x" * 246 + ".eml", b"junk"), ("报价" * 41 + ".eml", NUL_ID),
              ("z" * 251 + ".EML", b"")]


@given(st.lists(st.tuples(NAMES, CONTENTS), min_size=1, max_size=4,
                unique_by=lambda f: f[0].lower()))
@example(LONG_NAMES)
def test_files_of_any_name_are_read_or_refused_then_moved_with_their_reason(
        root: Path, files: list[tuple[str, bytes]]) -> None:
    review = fresh(root)
    for name, data in files:
        (review.folder("approved") / name).write_bytes(data)
        (review.folder("failed") / name).write_bytes(b"an earlier file of the same name")
    listed = review.approved_files()
    assert {p.name for p in listed} == {n for n, _ in files
                                       if n.lower().endswith(".eml") and not n.startswith(".")}
    for path in listed:
        assert isinstance(review.named_draft_id(path), str)
        assert isinstance(review.header_draft_id(path), str)
        try:
            check_read(review.read_approved(path))
            reason = "no such draft was written"
        except ReviewFileError as exc:
            reason = str(exc)
        moved = review.move(path, "failed", reason)
        assert moved.read_bytes() == dict(files)[path.name] and not path.exists()
        assert reason in moved.with_suffix(".reason.txt").read_text()
    assert review.approved_files() == []


def test_a_sweep_over_any_files_sends_the_good_draft_and_sets_the_rest_aside(
        tmp_path: Path, db: Database, smtp_server: Any) -> None:
    settings = make_settings(tmp_path, smtp_server)
    found = [("a.eml", BROKEN_WORD), ("b.eml", NUL_CHARSET), ("c.eml", NUL_ID),
             ("d.eml", CUT_FILENAME), *LONG_NAMES]

    @given(st.lists(st.tuples(NAMES, CONTENTS), max_size=3, unique_by=lambda f: f[0].lower()),
           drafts())
    @example(found, Drafted("d20261120-0000aaaa", "Re: x", "anna@importer.example",
                            draft_message("d20261120-0000aaaa", subject="Re: x"), "A", "b", NOW))
    def one_sweep(files: list[tuple[str, bytes]], good: Drafted) -> None:
        review = ReviewFolder(settings.review_path)
        name = review.write_pending(good.draft_id, good.message, "", grade="A",
                                    buyer_label="b", when=good.when)
        with db.unit_of_work() as session:
            if outbox.get(session, good.draft_id) is not None:
                return  # the same id drawn twice: the first is sent already
            outbox.record_draft(session, good.draft_id, "reply", good.to, good.subject,
                                str(good.message["Message-ID"]), name, mailbox_name="sales",
                                body_sha256=body_digest(good.message))
        review.move(review.folder("pending") / name, "approved")
        for other, data in files:
            if other != name:
                (review.folder("approved") / other).write_bytes(data)
        sent = len(smtp_server.accepted)
        report = sweep(settings, db, review, threading.Event(), settle_seconds=0)
        assert report.error is None and report.sent >= 1, report
        assert len(smtp_server.accepted) == sent + report.sent
        assert review.approved_files() == []

    one_sweep()


# Found by this test: a broken encoded word in the subject of a message set aside made
# the note beside it raise UnicodeEncodeError, which stopped the sweep (IMAP backend).
BROKEN_SUBJECT = b"Subject: =?utf?q?=A0=C2=A0\r\n\r\n"


@given(CONTENTS, st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
@example(BROKEN_SUBJECT, "")
def test_a_reason_note_about_any_message_is_one_well_formed_note(data: bytes,
                                                                   reason: str) -> None:
    """The IMAP backend's note beside a message it set aside (subject and id as it reads them)."""
    head = BytesHeaderParser(policy=compat32).parsebytes(data[:64 * 1024])
    subject = " ".join(str(head.get("Subject", "")).split())
    about = " ".join(str(head.get("Message-ID", "")).split())
    note = email.message_from_bytes(reason_note(header_draft_id(data), subject, about, reason),
                                    policy=compat32)
    assert note.get_all(NOTE_HEADER) == ["reason"] and len(note.get_all("Subject")) == 1
    assert note.get_all(DRAFT_HEADER) is None and note.get_all("Bcc") is None
    if data == BROKEN_SUBJECT:
        assert note["Subject"] == "[not sent] = ?utf?q?=A0=C2=A0"
