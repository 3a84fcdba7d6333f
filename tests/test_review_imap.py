"""The IMAP review backend against a real Dovecot, sending to a real aiosmtpd.

Each test drafts into `Inquiries/Pending` of a fresh mailbox, moves messages with UID
MOVE the way a reviewer's mail client does, runs the sweep, and checks what the SMTP
server received (counted by Message-ID) and where every message ended up.
"""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from email import policy
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from daemon import outbox, runner, sweep
from daemon.config import Settings
from daemon.db import Database
from daemon.errors import ConfigError
from daemon.models import Draft, DraftState
from daemon.review import review_backend
from daemon.review_folder import ReviewFolder, body_digest
from daemon.review_imap import ImapReview
from tests.helpers import ROOT, imap_block, settings_for
from tests.test_review_folder import WHEN, draft_message

pytestmark = pytest.mark.imap

SENDER = "sales@brightstar.example"
REVIEW = '[review]\nbackend = "imap"\nimap_mailbox = "sales"\n'


def review_settings(tmp_path: Path, user: Any, smtp: Any, *, review: str = REVIEW,
                    password: str | None = None) -> Settings:
    extra = (f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
             f'sender = "Lily Chen <{SENDER}>"\ntimeout_seconds = 5\n'
             "[sending]\nper_minute = 10000\nretry_base_seconds = 1\nretry_max_seconds = 1\n"
             + review)
    box = imap_block(user) + f'sender = "Lily Chen <{SENDER}>"\n'
    return settings_for(tmp_path, box, extra=extra,
                        environ={"PW_SALES": password or user.password})


class Desk:
    """A mailbox's review folders and the database as drafting leaves them; a reviewer's
    mail client (UID MOVE, APPEND); the sweep."""

    def __init__(self, settings: Settings, db: Database, user: Any):
        self.settings, self.db, self.user = settings, db, user
        self.review = review_backend(settings)

    def draft(self, n: int, *, approve: bool = True) -> str:
        draft_id = f"d{n:04d}"
        msg = draft_message(draft_id, subject=f"Re: Inquiry {n}")
        msg.replace_header("To", f"Buyer {n} <buyer{n}@importer.example>")
        name = self.review.write_pending(draft_id, msg, f"Grade A: buyer {n} asked twice",
                                         grade="A", buyer_label=f"Buyer {n}", when=WHEN)
        with self.db.unit_of_work() as s:
            outbox.record_draft(s, draft_id, "reply", f"buyer{n}@importer.example",
                                f"Re: Inquiry {n}", msg["Message-ID"], name,
                                mailbox_name="sales", body_sha256=body_digest(msg))
        if approve:
            self.move(draft_id, "Pending", "Approved")
        return draft_id

    def sweep(self) -> sweep.SweepReport:
        return sweep.sweep(self.settings, self.db, self.review, threading.Event(),
                           settle_seconds=0)

    @contextmanager
    def client(self, folder: str) -> Iterator[IMAPClient]:
        with self.user.server.connect(self.user.name) as client:
            client.select_folder(f"Inquiries/{folder}")
            yield client

    def headers(self, folder: str) -> dict[int, email.message.Message]:
        """Every message of a review folder (\\Deleted ones too), headers parsed."""
        with self.client(folder) as client:
            data = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER]"])
        return {uid: email.message_from_bytes(d[b"BODY[HEADER]"]) for uid, d in data.items()}

    def uid_of(self, draft_id: str, folder: str) -> int:
        [uid] = [u for u, h in self.headers(folder).items()
                 if h["X-Inquiryd-Draft"] == draft_id]
        return uid

    def move(self, draft_id: str, source: str, target: str) -> None:
        uid = self.uid_of(draft_id, source)
        with self.client(source) as client:
            client.move([uid], f"Inquiries/{target}")

    def raw(self, folder: str, uid: int) -> bytes:
        return self.user.server.fetch_raw(self.user.name, f"Inquiries/{folder}", uid)

    def flags(self, folder: str, uid: int) -> tuple[bytes, ...]:
        return self.user.server.flags(self.user.name, f"Inquiries/{folder}", uid)

    def kinds(self, folder: str) -> list[str]:
        """What a folder holds, in UID order: 'draft:<id>', 'context:<id>', 'reason:<id>'."""
        return [f"{h['X-Inquiryd-Note'] or 'draft'}:"
                f"{h['X-Inquiryd-Note-For'] or h['X-Inquiryd-Draft'] or '-'}"
                for _uid, h in sorted(self.headers(folder).items())]

    def row(self, draft_id: str) -> Draft:
        with self.db.unit_of_work() as s:
            draft = s.get(Draft, draft_id)
            assert draft is not None
            return draft


@pytest.fixture
def desk(tmp_path: Path, sqlite_db: Database, smtp_server: Any, imap_user: Any) -> Desk:
    return Desk(review_settings(tmp_path, imap_user, smtp_server), sqlite_db, imap_user)


def sent_ids(server: Any) -> list[str]:
    return [str(m.message["Message-ID"]) for m in server.accepted]


# -- drafting --------------------------------------------------------------------------------

def test_a_draft_lands_in_pending_as_the_folder_would_write_it_with_a_context_note(
        desk: Desk, tmp_path: Path) -> None:
    msg = draft_message("d0001", subject="Re: Inquiry 1")
    context = "Grade A: buyer 1 asked twice"
    name = desk.review.write_pending("d0001", msg, context, grade="A", buyer_label="Buyer 1",
                                     when=WHEN)
    assert name == "20261120-0905_A_Buyer-1_d0001.eml"  # as recorded in drafts.file_name
    assert desk.kinds("Pending") == ["context:d0001", "draft:d0001"]
    [note_uid, draft_uid] = sorted(desk.headers("Pending"))
    # The draft: exactly the folder backend's .eml, flagged \Draft and unread.
    folder = ReviewFolder(tmp_path / "folder-review")
    folder.write_pending("d0001", msg, context, grade="A", buyer_label="Buyer 1", when=WHEN)
    assert desk.raw("Pending", draft_uid) == (folder.folder("pending") / name).read_bytes()
    assert set(desk.flags("Pending", draft_uid)) == {b"\\Draft"}
    # The note: read, threaded under the draft, never a draft itself.
    note = email.message_from_bytes(desk.raw("Pending", note_uid), policy=policy.default)
    assert note["Subject"] == "[context d0001] Re: Inquiry 1"
    assert note["In-Reply-To"] == "<d0001@brightstar.example>"
    assert note["X-Inquiryd-Draft"] is None and note["X-Inquiryd-Note"] == "context"
    assert note.get_content().strip() == context
    assert b"\\Seen" in desk.flags("Pending", note_uid)


def test_the_five_folders_are_created_and_subscribed(desk: Desk) -> None:
    desk.draft(1, approve=False)
    with desk.user.server.connect(desk.user.name) as client:
        subscribed = {str(name) for _f, _d, name in client.list_sub_folders()}
    assert {f"Inquiries/{f}" for f in ("Pending", "Approved", "Rejected", "Sent",
                                       "Failed")} <= subscribed


def test_a_poll_drafts_into_the_imap_pending_folder(tmp_path: Path, sqlite_db: Database,
                                                    smtp_server: Any, imap_user: Any) -> None:
    sample = next(p for p in (ROOT / "examples" / "inbox" / "new").iterdir()
                  if b"alnoor-trading" in p.read_bytes())
    imap_user.server.append(imap_user.name, "INBOX", sample.read_bytes())
    settings = review_settings(tmp_path, imap_user, smtp_server)
    runner.poll(settings, sqlite_db)
    desk = Desk(settings, sqlite_db, imap_user)
    note_kind, draft_kind = desk.kinds("Pending")
    draft_id = draft_kind.removeprefix("draft:")
    assert note_kind == f"context:{draft_id}" and desk.row(draft_id).state == DraftState.PENDING
    assert not (tmp_path / "state" / "review").exists()  # no shared folder was made


def test_a_staged_draft_is_appended_once_its_row_is_committed_and_only_once(
        desk: Desk) -> None:
    """Staged in the state folder until the commit; a late publish (writer killed after
    the commit, or after the APPEND) looks first, so the reviewer sees one draft."""
    with desk.review:
        pass  # the folders are made
    msg = draft_message("d0007", subject="Re: Inquiry 7")
    name = desk.review.stage_pending("d0007", msg, "Grade A", grade="A", buyer_label="B 7",
                                     when=WHEN)
    assert desk.kinds("Pending") == []
    assert sweep.settle_staged(desk.db, desk.review) == (0, 0)  # no row yet: young, kept
    with desk.db.unit_of_work() as s:
        outbox.record_draft(s, "d0007", "reply", "buyer7@importer.example", "Re: Inquiry 7",
                            msg["Message-ID"], name, mailbox_name="sales")
    assert sweep.settle_staged(desk.db, desk.review) == (1, 0)
    assert desk.kinds("Pending") == ["context:d0007", "draft:d0007"]
    assert desk.review.unpublished() == []
    [_note, uid] = sorted(desk.headers("Pending"))
    folder = ReviewFolder(desk.settings.paths.state / "folder-review")
    folder.write_pending("d0007", msg, "Grade A", grade="A", buyer_label="B 7", when=WHEN)
    assert desk.raw("Pending", uid) == (folder.folder("pending") / name).read_bytes()

    # Killed after the APPEND but before the staged files went: shown already, kept once.
    desk.move("d0007", "Pending", "Approved")
    desk.review.stage_pending("d0007", msg, "Grade A", grade="A", buyer_label="B 7", when=WHEN)
    assert sweep.settle_staged(desk.db, desk.review) == (1, 0)
    assert desk.kinds("Pending") == ["context:d0007"] and desk.kinds("Approved") == ["draft:d0007"]
    assert desk.review.unpublished() == []


def test_a_committed_draft_is_appended_and_a_rolled_back_one_never(desk: Desk) -> None:
    from daemon.review import write_for_review

    with desk.review:
        pass  # the folders are made
    for n, fail in ((8, False), (9, True)):
        msg = draft_message(f"d000{n}", subject=f"Re: Inquiry {n}")
        with pytest.raises(RuntimeError) if fail else nullcontext():
            with desk.db.unit_of_work() as s:
                outbox.record_draft(s, f"d000{n}", "reply", f"b{n}@importer.example", "Re",
                                    msg["Message-ID"], f"x_d000{n}.eml", mailbox_name="sales")
                write_for_review(s, desk.review, f"d000{n}", msg, "ctx", grade="A",
                                 buyer_label="B", when=WHEN)
                assert desk.kinds("Pending") == ([] if n == 8 else ["context:d0008", "draft:d0008"])
                if fail:
                    raise RuntimeError("a later step broke")
    assert desk.kinds("Pending") == ["context:d0008", "draft:d0008"]
    assert desk.review.unpublished() == []


# -- sending ---------------------------------------------------------------------------------

def test_an_approved_draft_is_sent_once_then_filed_in_sent(desk: Desk, smtp_server: Any) -> None:
    desk.draft(1)
    report = desk.sweep()
    assert (report.sent, report.set_aside, report.error) == (1, 0, None)
    [got] = smtp_server.accepted
    assert got.rcpt_tos == ("buyer1@importer.example",) and got.mail_from == SENDER
    uid = desk.uid_of("d0001", "Sent")
    assert got.raw.rstrip(b"\r\n") == desk.raw("Sent", uid).rstrip(b"\r\n")
    assert set(desk.flags("Sent", uid)) == {b"\\Seen"}  # \Draft gone
    assert desk.kinds("Approved") == [] and desk.row("d0001").state == DraftState.SENT
    assert desk.sweep().sent == 0  # nothing left to send; the note follows its draft
    assert sent_ids(smtp_server) == ["<d0001@brightstar.example>"]
    assert desk.kinds("Pending") == [] and desk.kinds("Sent") == ["draft:d0001", "context:d0001"]


def test_a_message_the_daemon_did_not_draft_goes_to_failed_unsent(desk: Desk,
                                                                  smtp_server: Any) -> None:
    server, user = desk.user.server, desk.user.name
    desk.draft(1, approve=False)  # makes the folders
    stranger = draft_message("zz99")
    plain = b"From: a@b.example\r\nSubject: lunch?\r\nMessage-ID: <x@b.example>\r\n\r\nhi\r\n"
    server.append(user, "Inquiries/Approved", stranger.as_bytes())
    server.append(user, "Inquiries/Approved", plain)
    report = desk.sweep()
    assert (report.set_aside, report.sent) == (2, 0) and smtp_server.messages == []
    assert desk.kinds("Approved") == []
    assert desk.kinds("Failed") == ["reason:zz99", "draft:zz99", "reason:-", "draft:-"]
    reasons = {h["Subject"]: desk.raw("Failed", uid) for uid, h in desk.headers("Failed").items()
               if h["X-Inquiryd-Note"] == "reason"}
    assert b"no draft zz99 was ever written" in reasons["[not sent zz99] Re: Inquiry BS-NK-101"]
    assert b"no X-Inquiryd-Draft header" in reasons["[not sent] lunch?"]


def test_a_changed_from_is_refused_and_the_draft_stays_pending(desk: Desk,
                                                               smtp_server: Any) -> None:
    desk.draft(1, approve=False)
    data = desk.raw("Pending", desk.uid_of("d0001", "Pending"))
    desk.user.server.append(desk.user.name, "Inquiries/Approved",
                            data.replace(SENDER.encode(), b"boss@gmail.example"))
    assert desk.sweep().set_aside == 1 and smtp_server.messages == []
    row = desk.row("d0001")
    assert row.state == DraftState.PENDING and "From was changed" in str(row.error)
    assert "draft:d0001" in desk.kinds("Failed")


def test_an_edited_copy_saved_under_a_new_uid_is_sent_as_edited(desk: Desk,
                                                                 smtp_server: Any) -> None:
    desk.draft(1)
    original = desk.uid_of("d0001", "Approved")
    edited = desk.raw("Approved", original).replace(b"USD 1.20", b"USD 1.15")
    # What a client does on "save": APPEND the new version, flag the old one \Deleted.
    desk.user.server.append(desk.user.name, "Inquiries/Approved", edited, flags=[b"\\Draft"])
    with desk.client("Approved") as client:
        client.add_flags([original], [b"\\Deleted"])
    assert desk.sweep().sent == 1
    [got] = smtp_server.accepted
    assert "USD 1.15" in got.message.get_body().get_content()
    assert desk.row("d0001").edits == "body"
    assert list(desk.headers("Approved")) == [original]  # the deleted one is left alone


def test_of_two_live_copies_the_newest_is_sent_and_the_older_set_aside(
        desk: Desk, smtp_server: Any) -> None:
    desk.draft(1)
    data = desk.raw("Approved", desk.uid_of("d0001", "Approved"))
    desk.user.server.append(desk.user.name, "Inquiries/Approved",
                            data.replace(b"USD 1.20", b"USD 1.15"))
    report = desk.sweep()
    assert (report.sent, report.set_aside) == (1, 1)
    assert "USD 1.15" in smtp_server.accepted[0].message.get_body().get_content()
    failed = desk.raw("Failed", min(desk.headers("Failed")))
    assert b"already sent" in failed
    assert sent_ids(smtp_server) == ["<d0001@brightstar.example>"]


def test_an_unknown_outcome_is_resolved_and_resent_once(desk: Desk, smtp_server: Any) -> None:
    desk.draft(1)
    smtp_server.disconnect_after_data()
    assert desk.sweep().unknown == 1
    assert desk.kinds("Failed") == ["reason:d0001", "draft:d0001"]
    summary = sweep.resolve_draft(desk.settings, desk.db, "d0001", "resend")
    assert "Inquiries/Approved" in summary
    assert desk.kinds("Failed") == []  # the reason went with the draft
    assert desk.sweep().sent == 1
    assert sent_ids(smtp_server) == ["<d0001@brightstar.example>"]


# -- rejecting, and the mailbox being down ---------------------------------------------------

def test_rejected_drafts_are_recorded_once_and_their_notes_follow(desk: Desk,
                                                                  smtp_server: Any) -> None:
    for n in (1, 2):
        desk.draft(n, approve=False)
        desk.move(f"d000{n}", "Pending", "Rejected")
    assert desk.sweep().rejected == 2
    assert desk.sweep().rejected == 0
    assert {desk.row(i).state for i in ("d0001", "d0002")} == {DraftState.REJECTED}
    assert desk.kinds("Pending") == [] and sorted(desk.kinds("Rejected")) == [
        "context:d0001", "context:d0002", "draft:d0001", "draft:d0002"]
    assert smtp_server.messages == []


def test_a_review_mailbox_that_refuses_login_stops_the_sweep_without_claims(
        tmp_path: Path, sqlite_db: Database, smtp_server: Any, imap_user: Any) -> None:
    good = Desk(review_settings(tmp_path, imap_user, smtp_server), sqlite_db, imap_user)
    good.draft(1)
    bad = review_settings(tmp_path, imap_user, smtp_server, password="wrong")
    report = sweep.sweep(bad, sqlite_db, review_backend(bad), threading.Event(),
                         settle_seconds=0)
    assert "login refused" in (report.error or "") and report.sent == 0
    assert good.row("d0001").state == DraftState.PENDING and good.row("d0001").attempts == 0
    assert smtp_server.messages == []


# -- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize(("review", "words"), [
    ('[review]\nbackend = "imap"\n', 'review.imap_mailbox: required with backend = "imap"'),
    ('[review]\nbackend = "imap"\nimap_mailbox = "other"\n',
     "review.imap_mailbox: no imap mailbox named 'other' (one of: sales)"),
    ('[review]\nbackend = "imap"\nimap_mailbox = "sales"\nimap_prefix = "a//b"\n',
     "review.imap_prefix: 'a//b' is not a folder path"),
])
def test_a_bad_imap_review_config_is_a_clear_config_error(
        tmp_path: Path, smtp_server: Any, imap_user: Any, review: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        review_settings(tmp_path, imap_user, smtp_server, review=review)
    assert any(words in p for p in info.value.problems), info.value.problems


def test_a_maildir_mailbox_cannot_hold_the_review_folders(tmp_path: Path) -> None:
    box = f'[[mailbox]]\nname = "local"\nkind = "maildir"\npath = "{tmp_path}"\n'
    with pytest.raises(ConfigError, match="review.imap_mailbox: no imap mailbox named 'local' "
                                          r"\(there is none: add one\)"):
        settings_for(tmp_path, box, extra='[review]\nbackend = "imap"\nimap_mailbox = "local"\n')


def test_the_factory_picks_the_configured_backend(tmp_path: Path, smtp_server: Any,
                                                  imap_user: Any) -> None:
    assert isinstance(review_backend(review_settings(tmp_path, imap_user, smtp_server)),
                      ImapReview)
    folder = review_settings(tmp_path, imap_user, smtp_server, review="")
    assert isinstance(review_backend(folder), ReviewFolder)


def test_a_note_moved_along_with_its_draft_is_skipped_then_follows(desk: Desk,
                                                                   smtp_server: Any) -> None:
    desk.draft(1, approve=False)
    with desk.client("Pending") as client:  # the reviewer selects both and drags them
        client.move(client.search("ALL"), "Inquiries/Approved")
    report = desk.sweep()
    assert (report.sent, report.set_aside) == (1, 0)
    assert desk.kinds("Approved") == ["context:d0001"]
    desk.sweep()
    assert desk.kinds("Approved") == [] and desk.kinds("Sent") == ["draft:d0001", "context:d0001"]
    assert desk.kinds("Failed") == [] and len(smtp_server.accepted) == 1


def test_a_server_without_move_gets_copy_delete_expunge(desk: Desk, smtp_server: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    desk.draft(1)
    has = IMAPClient.has_capability
    monkeypatch.setattr(IMAPClient, "has_capability",
                        lambda self, name: name.upper() != "MOVE" and has(self, name))
    assert desk.sweep().sent == 1
    assert desk.kinds("Approved") == [] and desk.kinds("Sent") == ["draft:d0001"]
    assert len(smtp_server.accepted) == 1
