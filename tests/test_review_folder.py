"""The review folder: atomic writes, safe names, moves, and reading approved files back."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from daemon import review_folder
from daemon.review_folder import (
    FOLDERS, ReviewFileError, ReviewFolder, body_digest, draft_id_from_name, safe_part,
)

WHEN = datetime(2026, 11, 20, 9, 5, tzinfo=timezone.utc)


def draft_message(draft_id: str = "d0001", *, body: str = "Dear Anna,\nOur price: USD 1.20/pc FOB Ningbo.\n",
                  subject: str = "Re: Inquiry BS-NK-101") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Lily Chen <sales@brightstar.example>"
    msg["To"] = "Anna Schulz <anna@importer.example>"
    msg["Subject"] = subject
    msg["Date"] = "Fri, 20 Nov 2026 09:05:00 +0000"
    msg["Message-ID"] = f"<{draft_id}@brightstar.example>"
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Inquiryd-Draft"] = draft_id
    msg.set_content(body)
    msg.add_attachment(b"%PDF-1.4 price sheet\n" * 50, maintype="application",
                       subtype="pdf", filename="price-sheet-EU.pdf")
    return msg


@pytest.fixture
def review(tmp_path: Path) -> ReviewFolder:
    return ReviewFolder(tmp_path / "review")


def test_the_five_folders_are_made(review: ReviewFolder) -> None:
    assert sorted(p.name for p in review.root.iterdir()) == sorted(FOLDERS)


def test_write_pending_writes_eml_and_context_under_a_safe_name(review: ReviewFolder) -> None:
    name = review.write_pending("d0001", draft_message(), "Grade A: quantities, target price",
                                grade="A", buyer_label="Al Noor Trading LLC", when=WHEN)
    assert name == "20261120-0905_A_Al-Noor-Trading-LLC_d0001.eml"
    pending = review.folder("pending")
    assert sorted(p.name for p in pending.iterdir()) == [name, name[:-4] + ".txt"]
    assert (pending / (name[:-4] + ".txt")).read_text() == "Grade A: quantities, target price"
    data = (pending / name).read_bytes()
    assert b"\r\nX-Inquiryd-Draft: d0001\r\n" in data
    assert review.read_approved(pending / name).draft_id == "d0001"


@pytest.mark.parametrize(("label", "expected"), [
    ("../../etc/passwd", "etc-passwd"),
    ("Müller GmbH / Köln", "Muller-GmbH-Koln"),
    ("深圳贸易有限公司", "x"),
    ("a\\b:c*d?e|f", "a-b-c-d-e-f"),
    ("...", "x"),
    ("x" * 300, "x" * 40),
])
def test_buyer_labels_become_ascii_name_parts(label: str, expected: str) -> None:
    assert safe_part(label) == expected


def test_file_names_hold_no_separator_and_end_with_the_draft_id(review: ReviewFolder) -> None:
    name = review.file_name("d/../9", grade="A/", buyer_label="C:\\x", when=WHEN)
    assert "/" not in name and "\\" not in name and name.isascii()
    assert draft_id_from_name(name) == "d-..-9"  # dots are harmless once "/" is gone
    assert draft_id_from_name("no-underscore.eml") == ""


def test_write_pending_refuses_a_message_without_its_draft_header(review: ReviewFolder) -> None:
    msg = draft_message("d0001")
    with pytest.raises(ValueError, match="X-Inquiryd-Draft"):
        review.write_pending("d0002", msg, "", grade="B", buyer_label="x", when=WHEN)
    assert not any(review.folder("pending").iterdir())


def test_rewriting_a_draft_replaces_it_and_leaves_no_temporary_file(review: ReviewFolder) -> None:
    for body in ("first\n", "second\n"):
        name = review.write_pending("d0001", draft_message(body=body), "ctx", grade="B",
                                    buyer_label="x", when=WHEN)
    files = sorted(p.name for p in review.folder("pending").iterdir())
    assert files == [name, name[:-4] + ".txt"]
    assert b"second" in (review.folder("pending") / name).read_bytes()


def approve(review: ReviewFolder, name: str) -> Path:
    return review.move(review.folder("pending") / name, "approved")


def test_move_takes_the_context_along_and_writes_the_reason_in_failed(review: ReviewFolder) -> None:
    name = review.write_pending("d0001", draft_message(), "ctx", grade="A", buyer_label="x", when=WHEN)
    path = approve(review, name)
    assert sorted(p.name for p in review.folder("approved").iterdir()) == [name, name[:-4] + ".txt"]
    failed = review.move(path, "failed", "the server refused it: 550 no such user")
    stem = name[:-4]
    assert sorted(p.name for p in review.folder("failed").iterdir()) == sorted(
        [name, f"{stem}.txt", f"{stem}.reason.txt"])
    assert "550 no such user" in (review.folder("failed") / f"{stem}.reason.txt").read_text()
    back = review.move(failed, "approved")  # a person sends it again: the old reason goes
    assert sorted(p.name for p in review.folder("failed").iterdir()) == []
    assert back.parent.name == "approved"


def test_move_never_overwrites_a_file_of_the_same_name(review: ReviewFolder) -> None:
    name = review.write_pending("d0001", draft_message(), "ctx", grade="A", buyer_label="x", when=WHEN)
    first = review.move(approve(review, name), "failed", "one")
    (review.folder("approved") / name).write_bytes(first.read_bytes())  # a second copy
    second = review.move(review.folder("approved") / name, "failed", "two")
    assert second.name == name[:-4] + "~2.eml"
    assert (review.folder("failed") / (name[:-4] + "~2.reason.txt")).read_text() == "two\n"
    assert first.exists()


def test_approved_files_lists_eml_only_oldest_name_first(review: ReviewFolder) -> None:
    approved = review.folder("approved")
    for name in ("b.eml", "a.EML", ".a.eml.123.tmp", "notes.txt", ".hidden.eml"):
        (approved / name).write_bytes(b"x")
    assert [p.name for p in review.approved_files()] == ["a.EML", "b.eml"]
    old = time.time() - 60
    os.utime(approved / "b.eml", (old, old))
    assert [p.name for p in review.approved_files(min_age=10)] == ["b.eml"]


def test_read_approved_returns_bytes_subject_and_body_digest(review: ReviewFolder) -> None:
    long_subject = "Re: Inquiry " + " ".join(f"BS-NK-{i:03d}" for i in range(20))
    msg = draft_message(subject=long_subject)  # long enough to be folded on disk
    name = review.write_pending("d0001", msg, "", grade="A", buyer_label="x", when=WHEN)
    got = review.read_approved(approve(review, name))
    assert got.draft_id == "d0001"
    assert b"\r\n BS-NK-" in got.message_bytes and got.subject == long_subject
    assert got.message_bytes == got.path.read_bytes()
    assert got.message["Message-ID"] == "<d0001@brightstar.example>"
    assert not got.body_changed(body_digest(msg))  # as drafted, after a round trip
    assert not got.body_changed("")                # no digest kept: not an edit


def test_body_digest_ignores_line_ends_and_encoding_but_sees_edits(review: ReviewFolder) -> None:
    msg = draft_message()
    drafted = body_digest(msg)
    name = review.write_pending("d0001", msg, "", grade="A", buyer_label="x", when=WHEN)
    path = approve(review, name)
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))  # a Unix editor saved it
    assert not review.read_approved(path).body_changed(drafted)
    path.write_bytes(path.read_bytes().replace(b"USD 1.20", b"USD 1.15"))
    assert review.read_approved(path).body_changed(drafted)


@pytest.mark.parametrize(("data", "words"), [
    (b"%PDF-1.7\n\x00\x01\x02binary junk", "no mail headers|X-Inquiryd-Draft"),
    (b"", "no mail headers"),
    (b"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n", "no X-Inquiryd-Draft header"),
    (b"X-Inquiryd-Draft: d1\r\nX-Inquiryd-Draft: d2\r\n\r\nbody\r\n", "2 X-Inquiryd-Draft headers"),
    (b"X-Inquiryd-Draft:  \r\n\r\nbody\r\n", "no X-Inquiryd-Draft header"),
])
def test_unreadable_or_foreign_files_are_refused_with_a_reason(
        review: ReviewFolder, data: bytes, words: str) -> None:
    path = review.folder("approved") / "x.eml"
    path.write_bytes(data)
    with pytest.raises(ReviewFileError, match=words):
        review.read_approved(path)


def test_a_huge_file_is_refused_before_parsing(review: ReviewFolder,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(review_folder, "MAX_DRAFT_BYTES", 1000)
    path = review.folder("approved") / "big.eml"
    path.write_bytes(b"X-Inquiryd-Draft: d1\r\n\r\n" + b"x" * 2000)
    with pytest.raises(ReviewFileError, match="larger than"):
        review.read_approved(path)
