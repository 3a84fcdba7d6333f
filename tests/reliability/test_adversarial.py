"""Hostile messages: each is set aside with a reason (or read, when harmless) and the
ordinary inquiry that arrives right after it is processed in the same poll.

Built the way an attacker or a broken mailer would send them, APPENDed to the real
Dovecot, and polled on both database engines. The limits are the defaults of
[ingest] (25 MiB, depth 50, 500 parts; 256 KiB of headers) unless a case sets its own.

Dovecot does not store every byte as sent: it saves a NUL as 0x80 and turns bare CR
line ends into CRLF, so over IMAP those two cases test what a server really delivers.
The Maildir cases at the end hand the same bytes to inquiryd unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon import runner
from daemon.db import Database
from daemon.models import Message, MessageState
from tests.helpers import imap_settings, inquiry, settings_for

pytestmark = pytest.mark.imap

MiB = 1024 * 1024
NORMAL_SUBJECT = "Inquiry 1: 5000 pcs BS-NK-101 pendant necklace"


def head(name: str, subject: bytes | None = None) -> bytes:
    return (b"From: Mallory <mallory@hostile.example>\r\n"
            b"To: sales@brightstar.example\r\n"
            b"Date: Fri, 20 Nov 2026 09:00:00 +0000\r\n"
            b"Message-ID: <" + name.encode() + b"@hostile.example>\r\n"
            b"Subject: " + (subject or name.encode()) + b"\r\n"
            b"MIME-Version: 1.0\r\n")


def deep_nesting(depth: int = 1000) -> bytes:
    """multipart/mixed inside multipart/mixed, `depth` times: the stdlib parser recurses
    once per level and raises RecursionError at about 1,000."""
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
                       for i in range(depth))
    closing = b"".join(b"\r\n--n%d--\r\n" % i for i in reversed(range(depth)))
    return head("deep-nesting") + opening + b"Content-Type: text/plain\r\n\r\nbottom" + closing


def many_parts(count: int = 100_000) -> bytes:
    """One flat multipart of `count` one-letter parts, ~1 MB. (Dovecot 2.3 sets no
    APPEND size limit: `doveconf -d` lists none, and the 50 MB case goes through.)"""
    return (head("many-parts") + b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
            + b"--p\r\n\r\nx\r\n" * count + b"--p--\r\n")


def huge_body(size: int = 50 * MiB) -> bytes:
    line = b"Please find our price list below. " * 2 + b"\r\n"
    return (head("huge-body") + b"Content-Type: text/plain\r\n\r\n"
            + line * (size // len(line) + 1))


def nul_bytes() -> bytes:
    return (head("nul-bytes", b"Inquiry\0 with NUL") + b"Content-Type: text/plain\r\n\r\n"
            + b"Dear Sir,\r\nplease quote 500\0 pcs.\0\0\r\n" * 20)


def bare_cr() -> bytes:
    return (head("bare-cr") + b"Content-Type: text/plain\r\n\r\n"
            + b"Dear Sir,\r\nplease quote 500 pcs.\r\n\r\nRegards\r\n").replace(b"\r\n", b"\r")


def encoded_words_subject(count: int = 200_000) -> bytes:
    """A subject of `count` encoded words (3.2 MB of header): quadratic in the stdlib's
    decode_header (field notes: ~6 s for 200,000 words, ~85 s inside mail-parser)."""
    subject = b"\r\n ".join([b"=?utf-8?q?a?="] * count)
    return head("encoded-words", subject) + b"Content-Type: text/plain\r\n\r\nhello\r\n"


def nul_in_encoded_words() -> bytes:
    """NULs that survive any server: encoded as =00 in RFC 2047 words, decoded by us.
    PostgreSQL text cannot hold a NUL, so this checks they never reach a column."""
    return (head("nul-encoded", b"=?utf-8?q?Inquiry=00for=00rings?=")
            .replace(b"From: Mallory", b"From: =?utf-8?q?Mal=00lory?=")
            + b"Content-Type: text/plain; charset=utf-8\r\n\r\nplease quote\r\n")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    settled: MessageState           # what the hostile message must end as
    reason: str | tuple[str, ...] = ()  # words its quarantine reason contains (any of)
    config: str = ""                # extra [ingest] keys


IMAP_CASES = [
    # 1,000 nested multiparts are also 1,000 parts: either limit may trip first.
    Case("nested-1000-deep", deep_nesting, MessageState.QUARANTINED,
         ("nesting deeper than 50", "more than 500 MIME parts")),
    Case("nested-1000-deep-under-the-part-limit", deep_nesting, MessageState.QUARANTINED,
         "nesting deeper than 50", config="max_parts = 5000\n"),
    # Limits set too high: the stdlib's RecursionError must still end as a reason.
    Case("nested-1000-deep-with-no-depth-limit", deep_nesting, MessageState.QUARANTINED,
         "too deep", config="max_parts = 5000\nmax_depth = 5000\n"),
    Case("100000-parts", many_parts, MessageState.QUARANTINED, "more than 500 MIME parts"),
    Case("50-MB-body", huge_body, MessageState.QUARANTINED, "over the 25 MiB limit"),
    Case("5-MiB-over-a-1-MiB-limit", lambda: huge_body(5 * MiB), MessageState.QUARANTINED,
         "over the 1 MiB limit", config=f"max_message_bytes = {MiB}\n"),
    Case("nul-bytes", nul_bytes, MessageState.PROCESSED),
    Case("bare-cr-line-ends", bare_cr, MessageState.PROCESSED),
    Case("subject-of-200000-encoded-words", encoded_words_subject, MessageState.QUARANTINED,
         "headers are"),
    Case("nul-in-encoded-words", nul_in_encoded_words, MessageState.PROCESSED),
]


def outcomes(db: Database) -> list[Message]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Message).order_by(Message.id)))


def check(db: Database, case: Case) -> None:
    hostile, normal = outcomes(db)
    assert (hostile.state, normal.state) == (case.settled, MessageState.PROCESSED), (
        hostile.error, normal.error)
    if case.settled is MessageState.QUARANTINED:
        wanted = (case.reason,) if isinstance(case.reason, str) else case.reason
        assert any(words in (hostile.error or "") for words in wanted), hostile.error
    assert normal.subject == NORMAL_SUBJECT
    for text in (hostile.subject, hostile.from_addr, hostile.message_id):
        assert "\0" not in (text or "")


@pytest.mark.parametrize("case", IMAP_CASES, ids=lambda c: c.name)
def test_hostile_message_over_imap_is_settled_and_the_next_one_processed(
        tmp_path: Path, imap_user, db: Database, case: Case) -> None:
    imap_user.server.append_many(imap_user.name, "INBOX", [case.build(), inquiry(1)])
    settings = imap_settings(tmp_path, imap_user, extra=case.config)
    (box,) = runner.poll(settings, db).mailboxes
    assert (box.error, box.stored) == (None, 2)
    check(db, case)


# -- Maildir: the bytes as sent, no server in between ---------------------------------

def nul_everywhere(message_id: bytes = b"<nul-bytes@hostile.example>") -> bytes:
    """NULs in the subject, a header name, the body and (if given) the Message-ID."""
    return (b"From: Mallory <mallory@hostile.example>\r\nTo: sales@brightstar.example\r\n"
            b"Message-ID: " + message_id + b"\r\nSubject: Inquiry\0 with NUL\r\n"
            b"X-\0Bad: 1\r\n\r\nplease\0 quote\r\n\0")


MAILDIR_CASES = [
    Case("nul-bytes-as-sent", nul_everywhere, MessageState.PROCESSED),
    # The Message-ID is read at store time (daemon/fetch identity()), before parsing.
    Case("nul-in-message-id-as-sent", lambda: nul_everywhere(b"<nul\0id@hostile.example>"),
         MessageState.PROCESSED),
    Case("bare-cr-as-sent", bare_cr, MessageState.PROCESSED),
]


@pytest.mark.parametrize("case", MAILDIR_CASES, ids=lambda c: c.name)
def test_hostile_bytes_from_a_maildir_are_settled_and_the_next_one_processed(
        tmp_path: Path, db: Database, case: Case) -> None:
    root = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "new" / "1764000001.M1.host").write_bytes(case.build())
    (root / "new" / "1764000002.M2.host").write_bytes(inquiry(1))
    settings = settings_for(tmp_path, f'[[mailbox]]\nname = "local"\nkind = "maildir"\n'
                                      f'path = "{root}"\n')
    (box,) = runner.poll(settings, db).mailboxes
    assert (box.error, box.stored) == (None, 2)
    check(db, case)
