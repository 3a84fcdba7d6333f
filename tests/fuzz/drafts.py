"""Generated reply drafts, and the edits a reviewer (or a mail client) makes to them.

A draft is built by the drafting side's own `build_message`. An `Edit` changes the
.eml's bytes and says what the sweep must then make of it: send (with which edits
noticed), refuse (with which words), or refuse to read it at all; `None` where any
of these is right (damaged bytes).
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage

from hypothesis import strategies as st

from daemon.draft import ComposedDraft, build_message, make_message_id, tidy
from daemon.header_text import clean_line
from daemon.review_folder import DRAFT_HEADER, eml_bytes
from daemon.types import Address
from tests.fuzz.charsets import ALPHABETS, CONTROL, LATIN

SENDER = "sales@brightstar.example"
NICE = LATIN + "".join(ALPHABETS.values())
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
DRAFT_IDS = st.one_of(st.from_regex(r"[df]20[0-9]{6}-[0-9a-f]{8}", fullmatch=True),
                      st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,39}", fullmatch=True))
CONTENT_TYPES = ["application/pdf", "image/jpeg", "text/csv", "application/octet-stream"]


@dataclass(frozen=True)
class Drafted:
    draft_id: str
    subject: str                 # as recorded with the draft
    to: str
    message: EmailMessage = field(repr=False)
    grade: str
    buyer_label: str
    when: datetime


@st.composite
def drafts(draw: st.DrawFn) -> Drafted:
    draft_id = draw(DRAFT_IDS)
    subject = draw(st.one_of(ANY_TEXT, st.text(NICE, max_size=300)))
    to = Address(draw(ANY_TEXT), f"buyer{draw(st.integers(0, 99))}@importer.example")
    composed = ComposedDraft(
        subject=subject, body=tidy(draw(st.one_of(st.text(NICE + "\n", max_size=400),
                                                  ANY_TEXT))),
        to=to, in_reply_to=draw(st.sampled_from(["", "<q1@importer.example>", "junk"])),
        references=(), language=draw(st.sampled_from(["en", "zh", "xx", ""])), template="t",
        attachments=(), context="", message_id=make_message_id(draft_id, "brightstar.example"),
        grade="A", variant="full")
    files = draw(st.lists(st.tuples(ANY_TEXT, st.sampled_from(CONTENT_TYPES),
                                    st.binary(max_size=200)), max_size=3))
    when = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                             timezones=st.just(timezone.utc)))
    message = build_message(composed, files, sender=f"Lily <{SENDER}>", draft_id=draft_id,
                            message_id=composed.message_id, date=when)
    if message.is_multipart():
        message.set_boundary(f"=_{draft_id}")  # else the stdlib draws one at random
    return Drafted(draft_id, clean_line(subject)[:200], to.email, message,
                   draw(st.sampled_from(["A", "B", "C", "D", "-"]) | ANY_TEXT),
                   draw(ANY_TEXT), when)


# ------------------------------------------------------------------------- edits

@dataclass(frozen=True)
class Edit:
    data: bytes = field(repr=False)
    what: str
    action: str | None = "send"       # send, refuse, unreadable; None: any of them
    edits: frozenset[str] = frozenset()
    subject: str | None = None        # what the sweep must read as the subject
    words: str = ""                   # in the reason, when refused


def _parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _normal(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")


@st.composite
def edits(draw: st.DrawFn, drafted: Drafted) -> Edit:
    data = eml_bytes(drafted.message)
    how = draw(st.sampled_from(["none", "lf", "subject", "raw-subject", "body", "to", "from",
                                "bcc", "no-id", "no-draft", "two-drafts", "cut", "bytes"]))
    message = _parsed(data)
    if how == "none":
        return Edit(data, how)
    if how == "lf":
        return Edit(data.replace(b"\r\n", b"\n"), how)
    if how in ("subject", "raw-subject"):
        new = " ".join(draw(st.text(NICE, max_size=120)).split())
        edited = {"subject"} if new != " ".join(drafted.subject.split()) else set()
        if how == "raw-subject":  # a text editor saves it as raw UTF-8 bytes
            head, _, body = data.partition(b"\r\n\r\n")
            kept = [line for line in _unfolded(head) if not line.lower().startswith(b"subject:")]
            new_data = b"\r\n".join([*kept, b"Subject: " + new.encode()]) + b"\r\n\r\n" + body
            return Edit(new_data, how, edits=frozenset(edited), subject=new)
        message.replace_header("Subject", new)
        return Edit(eml_bytes(message), how, edits=frozenset(edited), subject=new)
    if how == "body":
        old = message.get_body(("plain",))
        new = draw(st.text(NICE + "\n", max_size=300))
        before = _normal(old.get_content()) if old is not None else ""
        if old is None:
            return Edit(data, "none")
        old.set_content(new, charset="utf-8")
        edited = {"body"} if _normal(new) != before else set()
        return Edit(eml_bytes(message), how, edits=frozenset(edited))
    if how == "to":
        local = draw(st.text("abcxyz", min_size=1, max_size=8))
        message.replace_header("To", f"{local}@other.example")
        return Edit(eml_bytes(message), how, edits=frozenset({"recipients"}))
    if how == "from":
        message.replace_header("From", "someone@else.example")
        return Edit(eml_bytes(message), how, "refuse", words="From was changed")
    if how == "bcc":
        message["Bcc"] = "boss@brightstar.example"
        return Edit(eml_bytes(message), how, "refuse", words="Bcc")
    if how == "no-id":
        del message["Message-ID"]
        return Edit(eml_bytes(message), how, "refuse", words="Message-ID was changed")
    if how == "no-draft":
        del message[DRAFT_HEADER]
        return Edit(eml_bytes(message), how, "unreadable", words=f"no {DRAFT_HEADER}")
    if how == "two-drafts":
        message[DRAFT_HEADER] = drafted.draft_id + "x"
        return Edit(eml_bytes(message), how, "unreadable", words=f"2 {DRAFT_HEADER}")
    if how == "cut":
        return Edit(data[:draw(st.integers(0, len(data)))], how, None)
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(damaged)))
        damaged[at:at + draw(st.integers(0, 3))] = draw(
            st.sampled_from([b"\x00", b"\r", b"\n", b"\xff", b"=?", b":", CONTROL.encode()]))
    return Edit(bytes(damaged), how, None)


def _unfolded(head: bytes) -> list[bytes]:
    lines: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += line
        else:
            lines.append(line)
    return lines
