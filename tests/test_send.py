"""Sending approved drafts to a real aiosmtpd (and Sent copies to a real Dovecot).

Each test drafts into a real review folder and database, moves files the way a person
does, runs the sweep, and checks what the SMTP server received, counted by Message-ID.
"""

from __future__ import annotations

import mailbox
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from daemon import outbox, send, sweep
from daemon.config import Settings
from daemon.db import Database
from daemon.errors import ConfigError, PermanentError, TemporaryError, UsageError
from daemon.leases import Leases, instance_lease
from daemon.models import Draft, DraftState, Event, Message
from daemon.review_folder import ReviewFolder, body_digest
from tests.helpers import imap_block, settings_for
from tests.servers.dovecot import make_tls_files
from tests.servers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.test_review_folder import WHEN, draft_message

SENDER = "sales@brightstar.example"


def make_settings(tmp_path: Path, server: Any, *, tls: str = "none", host: str | None = None,
                  ca_file: Path | None = None, auth: bool = False, mailboxes: str | None = None,
                  environ: dict[str, str] | None = None, sending: str = "") -> Settings:
    maildir = tmp_path / "Maildir"
    mailbox.Maildir(maildir, create=True)
    smtp = [f'host = "{host or server.host}"', f"port = {server.port}", f'tls = "{tls}"',
            f'sender = "Lily Chen <{SENDER}>"', "timeout_seconds = 5"]
    if ca_file:
        smtp.append(f'ca_file = "{ca_file}"')
    if auth:
        smtp += [f'username = "{SMTP_USER}"', 'password_env = "SMTP_PW"']
    extra = ("[smtp]\n" + "\n".join(smtp) + "\n"
             "[sending]\nper_minute = 10000\nretry_base_seconds = 1\nretry_max_seconds = 1\n"
             f"max_attempts = 3\n{sending}"
             f'[review]\npath = "{tmp_path / "review"}"\n[paths]\nstate = "{tmp_path / "state"}"\n')
    boxes = mailboxes or f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{maildir}"\n'
    return settings_for(tmp_path, boxes, extra=extra,
                        environ={"SMTP_PW": SMTP_PASSWORD, **(environ or {})})


class Desk:
    """A review folder and database as the drafting side leaves them, plus the sweep."""

    def __init__(self, settings: Settings, db: Database):
        self.settings, self.db = settings, db
        self.review = ReviewFolder(settings.review_path)

    def draft(self, n: int, *, approve: bool = True) -> Path:
        draft_id = f"d{n:04d}"
        msg = draft_message(draft_id, subject=f"Re: Inquiry {n}")
        msg.replace_header("To", f"Buyer {n} <buyer{n}@importer.example>")
        name = self.review.write_pending(draft_id, msg, "context", grade="A",
                                         buyer_label=f"Buyer {n}", when=WHEN)
        with self.db.unit_of_work() as s:
            outbox.record_draft(s, draft_id, "reply", f"buyer{n}@importer.example",
                                f"Re: Inquiry {n}", msg["Message-ID"], name,
                                mailbox_name="sales", body_sha256=body_digest(msg))
        path = self.review.folder("pending") / name
        return self.review.move(path, "approved") if approve else path

    def sweep(self, stop: threading.Event | None = None) -> sweep.SweepReport:
        return sweep.sweep(self.settings, self.db, self.review, stop or threading.Event(),
                          settle_seconds=0)

    def row(self, draft_id: str) -> Draft:
        with self.db.unit_of_work() as s:
            draft = s.get(Draft, draft_id)
            assert draft is not None
            return draft

    def names(self, folder: str) -> list[str]:
        return sorted(p.name for p in self.review.folder(folder).iterdir())


def by_message_id(server: Any) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in server.accepted)


@pytest.fixture
def desk(tmp_path: Path, db: Database, smtp_server: Any) -> Desk:
    return Desk(make_settings(tmp_path, smtp_server), db)


@pytest.fixture
def sqlite_desk(tmp_path: Path, sqlite_db: Database, smtp_server: Any) -> Desk:
    return Desk(make_settings(tmp_path, smtp_server), sqlite_db)


# -- the normal path -----------------------------------------------------------------------

def test_an_approved_draft_is_sent_once_filed_and_recorded(desk: Desk, smtp_server: Any) -> None:
    path = desk.draft(1)
    report = desk.sweep()
    assert (report.sent, report.copies_filed, report.error) == (1, 1, None)
    [got] = smtp_server.accepted
    assert got.mail_from == SENDER and got.rcpt_tos == ("buyer1@importer.example",)
    assert got.message["X-Inquiryd-Draft"] == "d0001"
    assert path.name in desk.names("sent") and desk.names("approved") == []
    row = desk.row("d0001")
    assert row.state == DraftState.SENT and (row.smtp_reply or "").startswith("250")
    assert row.sent_copy_at is not None and row.approved_at is not None and row.edits == ""
    with desk.db.unit_of_work() as s:
        out = s.scalars(select(Message).where(Message.direction == "out")).one()
        assert out.message_id == "<d0001@brightstar.example>"
        assert out.raw is not None
        assert out.raw.data == (desk.review.folder("sent") / path.name).read_bytes()
    [copy] = mailbox.Maildir(str(desk.settings.mailbox[0].path)).get_folder("Sent")
    assert "S" in copy.get_flags() and copy["Message-ID"] == "<d0001@brightstar.example>"
    assert desk.sweep() == sweep.SweepReport()  # nothing left: nothing more sent
    assert by_message_id(smtp_server) == {"<d0001@brightstar.example>": 1}


def test_pending_drafts_are_not_sent(desk: Desk, smtp_server: Any) -> None:
    desk.draft(1, approve=False)
    assert desk.sweep().sent == 0 and smtp_server.messages == []


def test_a_451_is_retried_after_the_back_off_and_sent_once(desk: Desk, smtp_server: Any) -> None:
    desk.draft(1)
    smtp_server.fail_next(451, message="Greylisted, try again")
    assert desk.sweep().retry_later == 1
    row = desk.row("d0001")
    assert row.state == DraftState.APPROVED and row.attempts == 1 and "451" in str(row.error)
    assert desk.sweep().waiting == 1  # the back-off (1 s here) is not over
    time.sleep(1.1)
    assert desk.sweep().sent == 1
    assert len(smtp_server.messages) == 2  # one refused, one taken
    assert by_message_id(smtp_server) == {"<d0001@brightstar.example>": 1}
    assert desk.row("d0001").state == DraftState.SENT


def test_a_550_fails_the_draft_with_the_servers_words(desk: Desk, smtp_server: Any) -> None:
    path = desk.draft(1)
    smtp_server.fail_next(550, message="5.1.1 <buyer1@importer.example>: no such user")
    assert desk.sweep().failed == 1
    row = desk.row("d0001")
    assert row.state == DraftState.FAILED and "550 5.1.1" in str(row.error) and "no such user" in str(row.error)
    reason = desk.review.folder("failed") / (path.stem + ".reason.txt")
    assert "550 5.1.1 <buyer1@importer.example>: no such user" in reason.read_text()
    assert desk.sweep().sent == 0 and smtp_server.accepted == []


def test_a_refused_recipient_fails_without_data(sqlite_desk: Desk, smtp_server: Any) -> None:
    sqlite_desk.draft(1)
    smtp_server.fail_next(550, message="mailbox unavailable", stage="RCPT")
    assert sqlite_desk.sweep().failed == 1
    assert smtp_server.messages == [] and "550" in str(sqlite_desk.row("d0001").error)


def test_temporary_failures_give_up_after_max_attempts(sqlite_desk: Desk, smtp_server: Any) -> None:
    sqlite_desk.draft(1)
    smtp_server.fail_next(451, times=3)
    for _ in range(2):
        assert sqlite_desk.sweep().retry_later == 1
        time.sleep(1.05)
    assert sqlite_desk.sweep().failed == 1
    row = sqlite_desk.row("d0001")
    assert row.state == DraftState.FAILED and row.attempts == 3 and "gave up" in str(row.error)
    assert sqlite_desk.names("approved") == [] and smtp_server.accepted == []


def test_a_hang_up_after_the_dot_is_unknown_and_never_sent_again(desk: Desk, smtp_server: Any) -> None:
    path = desk.draft(1)
    smtp_server.disconnect_after_data()
    report = desk.sweep()
    assert (report.unknown, report.sent, report.retry_later) == (1, 0, 0)
    assert desk.row("d0001").state == DraftState.UNKNOWN
    assert "resolve d0001" in (desk.review.folder("failed") / (path.stem + ".reason.txt")).read_text()
    # Even moved back into approved/ by a person, it is not sent by a sweep.
    desk.review.move(desk.review.folder("failed") / path.name, "approved")
    assert desk.sweep().set_aside == 1
    assert desk.sweep() == sweep.SweepReport()
    assert len(smtp_server.messages) == 1 and smtp_server.accepted == []
    assert desk.row("d0001").state == DraftState.UNKNOWN


def test_a_person_resolves_an_unknown_draft(sqlite_desk: Desk, smtp_server: Any) -> None:
    desk = sqlite_desk
    desk.draft(1)
    desk.draft(2)
    smtp_server.disconnect_after_data(times=2)
    assert desk.sweep().unknown == 2
    assert "sent/" in sweep.resolve_draft(desk.settings, desk.db, "d0001", "sent")
    assert desk.row("d0001").state == DraftState.SENT
    assert "approved/" in sweep.resolve_draft(desk.settings, desk.db, "d0002", "resend")
    assert desk.row("d0002").state == DraftState.PENDING
    assert desk.sweep().sent == 1  # the resend, once
    assert by_message_id(smtp_server) == {"<d0002@brightstar.example>": 1}
    with pytest.raises(UsageError, match="only unknown"):
        sweep.resolve_draft(desk.settings, desk.db, "d0002", "sent")
    assert len(mailbox.Maildir(str(desk.settings.mailbox[0].path)).get_folder("Sent")) == 2


# -- files that must not be sent ------------------------------------------------------------

def test_a_file_never_drafted_goes_to_failed_unsent(desk: Desk, smtp_server: Any) -> None:
    stranger = draft_message("zz99")
    (desk.review.folder("approved") / "offer.eml").write_bytes(stranger.as_bytes())
    (desk.review.folder("approved") / "junk.eml").write_bytes(b"\x00\x01 not mail")
    report = desk.sweep()
    assert report.set_aside == 2 and smtp_server.messages == []
    failed = desk.review.folder("failed")
    assert "no draft zz99 was ever written" in (failed / "offer.reason.txt").read_text()
    assert "not sent" in (failed / "junk.reason.txt").read_text()


def test_a_changed_from_is_refused_and_the_draft_stays_pending(sqlite_desk: Desk,
                                                               smtp_server: Any) -> None:
    path = sqlite_desk.draft(1)
    path.write_bytes(path.read_bytes().replace(b"sales@brightstar.example", b"boss@gmail.example"))
    assert sqlite_desk.sweep().set_aside == 1 and smtp_server.messages == []
    row = sqlite_desk.row("d0001")
    assert row.state == DraftState.PENDING and "From was changed" in str(row.error)
    reason = (sqlite_desk.review.folder("failed") / (path.stem + ".reason.txt")).read_text()
    assert "boss@gmail.example" in reason and SENDER in reason


@pytest.mark.parametrize(("old", "new", "words"), [
    (b"Message-ID: <d0001@brightstar.example>", b"Message-ID: <other@x.example>", "Message-ID"),
    (b"To: Buyer 1", b"Bcc: hidden@x.example\r\nTo: Buyer 1", "Bcc"),
])
def test_other_header_changes_are_refused(sqlite_desk: Desk, smtp_server: Any,
                                          old: bytes, new: bytes, words: str) -> None:
    path = sqlite_desk.draft(1)
    path.write_bytes(path.read_bytes().replace(old, new))
    assert sqlite_desk.sweep().set_aside == 1 and smtp_server.messages == []
    assert words in str(sqlite_desk.row("d0001").error)


def test_copies_of_a_sent_draft_are_not_sent_again(sqlite_desk: Desk, smtp_server: Any) -> None:
    path = sqlite_desk.draft(1)
    data = path.read_bytes()
    sqlite_desk.sweep()
    (sqlite_desk.review.folder("approved") / "copy.eml").write_bytes(data)
    assert sqlite_desk.sweep().set_aside == 1
    assert "already sent" in (sqlite_desk.review.folder("failed") / "copy.reason.txt").read_text()
    assert by_message_id(smtp_server) == {"<d0001@brightstar.example>": 1}


def test_a_sent_file_left_in_approved_by_a_crash_is_just_moved(sqlite_desk: Desk,
                                                              smtp_server: Any) -> None:
    path = sqlite_desk.draft(1)
    data = path.read_bytes()
    sqlite_desk.sweep()
    (sqlite_desk.review.folder("sent") / path.name).unlink()
    path.write_bytes(data)  # as if killed between the commit and the move
    report = sqlite_desk.sweep()
    assert (report.set_aside, report.sent) == (0, 0) and path.name in sqlite_desk.names("sent")
    assert len(smtp_server.messages) == 1


# -- the reviewer's part ------------------------------------------------------------------

def test_an_edited_draft_is_sent_as_edited_and_the_edit_recorded(desk: Desk, smtp_server: Any) -> None:
    path = desk.draft(1)
    path.write_bytes(path.read_bytes().replace(b"Subject: Re: Inquiry 1", b"Subject: Re: Your order 1")
                     .replace(b"USD 1.20", b"USD 1.15"))
    assert desk.sweep().sent == 1
    [got] = smtp_server.accepted
    assert got.message["Subject"] == "Re: Your order 1"
    assert "USD 1.15" in got.message.get_body().get_content()
    row = desk.row("d0001")
    assert (row.edits, row.sent_subject, row.subject) == ("subject,body", "Re: Your order 1", "Re: Inquiry 1")
    with desk.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Event)
                        .where(Event.name == "draft_edited")) == 1


def test_rejected_drafts_are_recorded_once(desk: Desk, smtp_server: Any) -> None:
    pending = desk.draft(1, approve=False)
    desk.review.move(pending, "rejected")
    for n, new_name in ((2, "no-id-in-name.eml"), (3, "other.eml")):  # renamed by a person
        rejected = desk.review.move(desk.draft(n, approve=False), "rejected")
        rejected.rename(rejected.with_name(new_name))
    assert desk.sweep().rejected == 3
    assert desk.sweep().rejected == 0
    assert {desk.row(f"d000{n}").state for n in (1, 2, 3)} == {DraftState.REJECTED}
    with desk.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Event)
                        .where(Event.name == "draft_rejected")) == 3
    assert smtp_server.messages == []


def test_drafts_list_shows_states_and_refuses_unknown_ones(desk: Desk, smtp_server: Any) -> None:
    desk.draft(1)
    desk.draft(2, approve=False)
    desk.sweep()
    with desk.db.unit_of_work() as s:
        rows = outbox.drafts_list(s)
        assert {r["id"]: r["state"] for r in rows} == {"d0001": "sent", "d0002": "pending"}
        assert [r["id"] for r in outbox.drafts_list(s, "pending")] == ["d0002"]
        with pytest.raises(UsageError, match="no draft state"):
            outbox.drafts_list(s, "lost")


# -- the connection ---------------------------------------------------------------------

def test_starttls_with_the_right_ca_and_login_works(tmp_path: Path, sqlite_db: Database,
                                                    smtp_tls_server: Any) -> None:
    desk = Desk(make_settings(tmp_path, smtp_tls_server, tls="starttls",
                              ca_file=smtp_tls_server.ca_file, auth=True), sqlite_db)
    desk.draft(1)
    assert desk.sweep().sent == 1
    [got] = smtp_tls_server.accepted
    assert got.login == SMTP_USER


def test_an_unknown_ca_is_refused_and_no_draft_is_charged(tmp_path: Path, sqlite_db: Database,
                                                          smtp_tls_server: Any) -> None:
    other = make_tls_files(tmp_path / "other-ca", ca_name="someone else")
    desk = Desk(make_settings(tmp_path, smtp_tls_server, tls="starttls", ca_file=other.ca_file,
                              auth=True), sqlite_db)
    desk.draft(1)
    report = desk.sweep()
    assert report.sent == 0 and "certificate" in (report.error or "")
    row = desk.row("d0001")
    assert row.state == DraftState.APPROVED and row.attempts == 0
    assert smtp_tls_server.messages == []


def test_starttls_is_required_not_opportunistic(tmp_path: Path, sqlite_db: Database,
                                                smtp_server: Any) -> None:
    # The plain recorder offers no STARTTLS: as a server hiding it would, to read the
    # password in clear. Configured for STARTTLS, we must refuse rather than go on.
    desk = Desk(make_settings(tmp_path, smtp_server, tls="starttls"), sqlite_db)
    desk.draft(1)
    report = desk.sweep()
    assert report.sent == 0 and "STARTTLS" in (report.error or "")
    assert smtp_server.messages == [] and desk.row("d0001").attempts == 0


def test_implicit_tls_works(tmp_path: Path, sqlite_db: Database, smtp_server_factory: Any) -> None:
    server = smtp_server_factory(tls="implicit")
    desk = Desk(make_settings(tmp_path, server, tls="implicit", ca_file=server.ca_file), sqlite_db)
    desk.draft(1)
    assert desk.sweep().sent == 1 and len(server.accepted) == 1


def test_plain_smtp_to_another_host_is_refused(tmp_path: Path, smtp_server: Any) -> None:
    settings = make_settings(tmp_path, smtp_server, host="smtp.example.com")
    with pytest.raises(ConfigError, match='smtp.tls: "none" is only allowed for a loopback'):
        send.send_bytes(settings, SENDER, ["a@b.example"], b"Subject: x\r\n\r\nhi\r\n")
    for host in ("localhost", "127.0.0.2", "::1"):
        assert send.is_loopback(host)
    assert not send.is_loopback("10.0.0.1") and not send.is_loopback("smtp.example.com")


def test_no_server_listening_charges_no_draft(tmp_path: Path, sqlite_db: Database,
                                              smtp_server: Any) -> None:
    class Closed:
        host, port = "127.0.0.1", 9  # discard: nothing listens
    desk = Desk(make_settings(tmp_path, Closed()), sqlite_db)
    desk.draft(1)
    report = desk.sweep()
    assert "cannot connect" in (report.error or "")
    assert desk.row("d0001").state == DraftState.APPROVED and desk.row("d0001").attempts == 0


def test_send_bytes_maps_replies_to_error_kinds(tmp_path: Path, smtp_server: Any) -> None:
    settings = make_settings(tmp_path, smtp_server)
    data = b"Message-ID: <x@y>\r\nSubject: x\r\n\r\n.leading dot\r\n"
    assert send.send_bytes(settings, SENDER, ["a@b.example"], data).startswith("250")
    assert smtp_server.accepted[0].raw.endswith(b".leading dot\r\n")  # dot-stuffing undone
    smtp_server.fail_next(452)
    with pytest.raises(TemporaryError, match="452"):
        send.send_bytes(settings, SENDER, ["a@b.example"], data)
    smtp_server.fail_next(554, message="5.7.1 spam")
    with pytest.raises(PermanentError, match="554 5.7.1 spam"):
        send.send_bytes(settings, SENDER, ["a@b.example"], data)
    smtp_server.disconnect_after_data()
    with pytest.raises(send.UnknownOutcome):
        send.send_bytes(settings, SENDER, ["a@b.example"], data)


def test_a_421_closes_the_session_and_the_next_draft_reconnects(sqlite_desk: Desk,
                                                                smtp_server: Any) -> None:
    sqlite_desk.draft(1)
    sqlite_desk.draft(2)
    smtp_server.fail_next(421, stage="RCPT")
    report = sqlite_desk.sweep()
    assert (report.retry_later, report.sent) == (1, 1)
    assert by_message_id(smtp_server) == {"<d0002@brightstar.example>": 1}


def test_the_throttle_spaces_sends_and_stop_ends_the_sweep(tmp_path: Path, sqlite_db: Database,
                                                           smtp_server: Any) -> None:
    settings = make_settings(tmp_path, smtp_server).model_copy(deep=True)
    desk = Desk(settings.model_copy(update={"sending": settings.sending.model_copy(
        update={"per_minute": 120})}), sqlite_db)
    for n in range(1, 4):
        desk.draft(n)
    began = time.monotonic()
    assert desk.sweep().sent == 3
    assert time.monotonic() - began >= 0.95  # two gaps of 0.5 s
    for n in range(4, 7):
        desk.draft(n)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    assert desk.sweep(stop).sent == 1  # the first goes at once, then the wait is cut short
    assert len(desk.names("approved")) == 4  # 2 .eml + 2 .txt


# -- start-up recovery -----------------------------------------------------------------------

def test_sending_at_start_up_becomes_unknown(desk: Desk, smtp_server: Any) -> None:
    desk.draft(1)
    with desk.db.unit_of_work() as s:
        draft = s.get(Draft, "d0001")
        assert draft is not None
        outbox.approve(s, draft, (), draft.subject)
    with desk.db.unit_of_work() as s:
        assert outbox.claim_for_sending(s, "d0001")
    with desk.db.unit_of_work() as s:
        assert not outbox.claim_for_sending(s, "d0001")  # held: nobody else gets it
    assert sweep.recover_stopped_sends(desk.db) == []  # this live process is sending it
    _sent_by_a_stopped_instance(desk.db, "d0001")
    assert sweep.recover_stopped_sends(desk.db) == ["d0001"]
    assert desk.sweep().set_aside == 1 and smtp_server.messages == []
    assert desk.row("d0001").state == DraftState.UNKNOWN


def test_a_draft_another_live_instance_is_sending_is_left_to_it(desk: Desk) -> None:
    desk.draft(1)
    with desk.db.unit_of_work() as s:
        draft = s.get(Draft, "d0001")
        assert draft is not None
        outbox.approve(s, draft, (), draft.subject)
        assert outbox.claim_for_sending(s, "d0001")
        s.get_one(Draft, "d0001").sending_by = "other-host:42:abcdef"
    other = Leases(desk.db, "other-host:42:abcdef")
    assert other.take(instance_lease("other-host:42:abcdef"))
    assert sweep.recover_stopped_sends(desk.db) == []
    assert desk.row("d0001").state == DraftState.SENDING
    other.release(instance_lease("other-host:42:abcdef"))  # it stops: now it is unknown
    assert sweep.recover_stopped_sends(desk.db) == ["d0001"]


def _sent_by_a_stopped_instance(db: Any, draft_id: str) -> None:
    with db.unit_of_work() as s:
        s.get_one(Draft, draft_id).sending_by = "gone-host:7:000000"


def test_resend_after_a_crash_sends_the_file_left_in_approved(sqlite_desk: Desk,
                                                              smtp_server: Any) -> None:
    path = sqlite_desk.draft(1)
    with sqlite_desk.db.unit_of_work() as s:
        draft = s.get(Draft, "d0001")
        assert draft is not None
        outbox.approve(s, draft, (), draft.subject)
        assert outbox.claim_for_sending(s, "d0001")
    _sent_by_a_stopped_instance(sqlite_desk.db, "d0001")
    sweep.recover_stopped_sends(sqlite_desk.db)
    summary = sweep.resolve_draft(sqlite_desk.settings, sqlite_desk.db, "d0001", "resend")
    assert f"approved/{path.name}" in summary and path.exists()  # not renamed onto itself
    assert sqlite_desk.sweep().sent == 1
    assert by_message_id(smtp_server) == {"<d0001@brightstar.example>": 1}


def test_back_off_doubles_up_to_the_cap(tmp_path: Path, smtp_server: Any) -> None:
    sending = make_settings(tmp_path, smtp_server).sending.model_copy(
        update={"retry_base_seconds": 60, "retry_max_seconds": 300})
    assert [outbox.backoff(n, sending).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        60, 120, 240, 300, 300]


# -- the Sent folder on a real IMAP server ----------------------------------------------------

@pytest.mark.imap
def test_the_copy_goes_to_the_imap_sent_folder_seen(tmp_path: Path, sqlite_db: Database,
                                                    smtp_server: Any, imap_user: Any) -> None:
    settings = make_settings(tmp_path, smtp_server, mailboxes=imap_block(imap_user),
                             environ={"PW_SALES": imap_user.password})
    desk = Desk(settings, sqlite_db)
    desk.draft(1)
    assert desk.sweep().copies_filed == 1
    server = imap_user.server
    [uid] = server.uids(imap_user.name, "Sent")
    assert b"\\Seen" in server.flags(imap_user.name, "Sent", uid)
    assert b"X-Inquiryd-Draft: d0001" in server.fetch_raw(imap_user.name, "Sent", uid)


@pytest.mark.imap
def test_a_failed_copy_is_retried_later_and_never_resends(tmp_path: Path, sqlite_db: Database,
                                                          smtp_server: Any, imap_user: Any) -> None:
    wrong = make_settings(tmp_path, smtp_server, mailboxes=imap_block(imap_user),
                          environ={"PW_SALES": "wrong"})
    desk = Desk(wrong, sqlite_db)
    desk.draft(1)
    report = desk.sweep()
    assert (report.sent, report.copy_errors) == (1, 1)
    assert "login" in (desk.row("d0001").sent_copy_error or "").lower()
    right = make_settings(tmp_path, smtp_server, mailboxes=imap_block(imap_user),
                          environ={"PW_SALES": imap_user.password})
    imap_user.server.create_folder(imap_user.name, "Sent")  # found by SPECIAL-USE this time
    report = sweep.sweep(right, sqlite_db, desk.review, threading.Event(), settle_seconds=0)
    assert (report.sent, report.copies_filed) == (0, 1)
    assert len(imap_user.server.uids(imap_user.name, "Sent")) == 1
    assert len(smtp_server.messages) == 1
