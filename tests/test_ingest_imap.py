"""Ingestion from a real Dovecot: read-only, once each, through faults."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon import runner
from daemon.db import Database
from daemon.models import FolderCursor, Mailbox, Message, MessageState
from tests.helpers import imap_block, imap_settings, inquiry, settings_for

pytestmark = pytest.mark.imap


def stored(db: Database) -> list[tuple[str, int, int]]:
    with db.unit_of_work() as s:
        return [tuple(r) for r in s.execute(
            select(Message.folder, Message.uidvalidity, Message.uid).order_by(Message.id))]


def test_poll_stores_and_parses_each_message_once(tmp_path: Path, imap_user, sqlite_db) -> None:
    server = imap_user.server
    uids = server.append_many(imap_user.name, "INBOX", [inquiry(i) for i in range(25)])
    settings = imap_settings(tmp_path, imap_user, extra="batch_size = 10\n")
    report = runner.poll(settings, sqlite_db)
    (box,) = report.mailboxes
    assert (box.fetched, box.stored, box.processed, box.error) == (25, 25, 25, None)
    assert [uid for _, _, uid in stored(sqlite_db)] == uids
    with sqlite_db.unit_of_work() as s:
        subjects = s.scalars(select(Message.subject).order_by(Message.id)).all()
        assert subjects[0] == "Inquiry 0: 5000 pcs BS-NK-101 pendant necklace"
        assert s.scalars(select(FolderCursor.last_uid)).one() == uids[-1]


def test_messages_stay_unseen_and_in_place(tmp_path: Path, imap_user, sqlite_db) -> None:
    server = imap_user.server
    uids = server.append_many(imap_user.name, "INBOX", [inquiry(i) for i in range(3)])
    runner.poll(imap_settings(tmp_path, imap_user), sqlite_db)
    assert server.uids(imap_user.name, "INBOX") == uids
    for uid in uids:
        assert b"\\Seen" not in server.flags(imap_user.name, "INBOX", uid)


def test_second_poll_fetches_nothing_and_never_rereads_the_newest(
        tmp_path: Path, imap_user, sqlite_db) -> None:
    server = imap_user.server
    server.append_many(imap_user.name, "INBOX", [inquiry(i) for i in range(3)])
    settings = imap_settings(tmp_path, imap_user)
    runner.poll(settings, sqlite_db)
    for _ in range(100):
        (box,) = runner.poll(settings, sqlite_db).mailboxes
        assert (box.fetched, box.stored, box.error) == (0, 0, None)
    assert len(stored(sqlite_db)) == 3


def test_new_mail_after_a_poll_is_picked_up(tmp_path: Path, imap_user, sqlite_db) -> None:
    server = imap_user.server
    settings = imap_settings(tmp_path, imap_user)
    server.append(imap_user.name, "INBOX", inquiry(1))
    runner.poll(settings, sqlite_db)
    server.append(imap_user.name, "INBOX", inquiry(2))
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert box.stored == 1 and len(stored(sqlite_db)) == 2


def test_seen_or_moved_by_a_person_changes_nothing(tmp_path: Path, imap_user, sqlite_db) -> None:
    server = imap_user.server
    server.create_folder(imap_user.name, "Done")
    uids = server.append_many(imap_user.name, "INBOX", [inquiry(i) for i in range(3)])
    settings = imap_settings(tmp_path, imap_user, folders=("INBOX", "Done"))
    runner.poll(settings, sqlite_db)
    with server.connect(imap_user.name) as client:
        client.select_folder("INBOX")
        client.add_flags([uids[0]], [b"\\Seen"])
        client.move([uids[1]], "Done")  # a person files it: it gets a new UID in Done
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    # The moved message is a new arrival in Done; the INBOX ones are not read again.
    assert [f for f, _, _ in stored(sqlite_db)] == ["INBOX"] * 3 + ["Done"]
    assert box.stored == 1


def test_several_folders_and_mailboxes(tmp_path: Path, dovecot, sqlite_db) -> None:
    a, b = dovecot.add_user("multi-a", "pa"), dovecot.add_user("multi-b", "pb")
    dovecot.create_folder(a.name, "Alibaba")
    dovecot.append_many(a.name, "INBOX", [inquiry(i) for i in range(2)])
    dovecot.append_many(a.name, "Alibaba", [inquiry(i) for i in range(3)])
    dovecot.append_many(b.name, "INBOX", [inquiry(i) for i in range(4)])
    blocks = imap_block(a, name="lily", folders=("INBOX", "Alibaba")) + imap_block(b, name="kevin")
    settings = settings_for(tmp_path, blocks, environ={"PW_LILY": "pa", "PW_KEVIN": "pb"})
    report = runner.poll(settings, sqlite_db)
    assert [(m.name, m.stored) for m in report.mailboxes] == [("lily", 5), ("kevin", 4)]


def test_uidvalidity_change_rescans_without_duplicates(
        tmp_path: Path, imap_user, sqlite_db, caplog: pytest.LogCaptureFixture) -> None:
    server = imap_user.server
    server.append_many(imap_user.name, "INBOX",
                       [inquiry(1), inquiry(2, message_id=False), inquiry(3)])
    settings = imap_settings(tmp_path, imap_user)
    runner.poll(settings, sqlite_db)
    server.set_uidvalidity(imap_user.name, "INBOX", 4242)
    server.append(imap_user.name, "INBOX", inquiry(4))
    with caplog.at_level(logging.WARNING):
        (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert "event=uidvalidity_changed" in caplog.text
    assert box.fetched == 4 and box.stored == 1  # all re-read, only the new one kept
    assert len(stored(sqlite_db)) == 4
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert box.fetched == 0


def test_session_kicked_mid_fetch_recovers(tmp_path: Path, imap_user, sqlite_db,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    server = imap_user.server
    server.append_many(imap_user.name, "INBOX", [inquiry(i) for i in range(30)])
    settings = imap_settings(tmp_path, imap_user, extra="batch_size = 5\n")
    from daemon.fetch.imap import ImapSource

    real_fetch, calls = ImapSource.fetch, []

    def fetch_then_kick(self, info, refs):  # type: ignore[no-untyped-def]
        calls.append(len(refs))
        if len(calls) == 3:
            server.kick(imap_user.name)  # a real server-side drop, between two batches
        return real_fetch(self, info, refs)

    monkeypatch.setattr(ImapSource, "fetch", fetch_then_kick)
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert box.error is None and box.stored == 30
    assert len(stored(sqlite_db)) == 30 and len(set(stored(sqlite_db))) == 30


def test_refused_login_marks_the_mailbox_unhealthy_and_others_go_on(
        tmp_path: Path, dovecot, sqlite_db) -> None:
    good = dovecot.add_user("healthy-one", "pw")
    dovecot.append(good.name, "INBOX", inquiry(1))
    bad = dovecot.add_user("wrong-pass", "right")
    blocks = imap_block(bad, name="broken") + imap_block(good, name="fine")
    settings = settings_for(tmp_path, blocks, environ={"PW_BROKEN": "WRONG", "PW_FINE": "pw"},
                            extra="failures_before_unhealthy = 2\n")
    for _ in range(2):
        broken, fine = runner.poll(settings, sqlite_db).mailboxes
    assert "login refused" in (broken.error or "") and not broken.healthy
    assert fine.error is None and fine.healthy and len(stored(sqlite_db)) == 1
    with sqlite_db.unit_of_work() as s:
        row = s.scalars(select(Mailbox).where(Mailbox.name == "broken")).one()
        assert row.failures_in_row == 2 and "login refused" in row.last_error


def test_server_down_is_an_error_not_a_crash(tmp_path: Path, imap_user, sqlite_db) -> None:
    from tests.servers.dovecot import free_port

    settings = imap_settings(tmp_path, imap_user, port=free_port())
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert "cannot connect" in (box.error or "")


def test_tls_with_the_right_ca_and_refused_with_a_wrong_one(
        tmp_path: Path, imap_tls_user, sqlite_db) -> None:
    server = imap_tls_user.server
    server.append(imap_tls_user.name, "INBOX", inquiry(1))
    good = imap_settings(tmp_path, imap_tls_user, tls="starttls", ca_file=server.ca_file)
    assert runner.poll(good, sqlite_db).mailboxes[0].stored == 1
    implicit = imap_settings(tmp_path, imap_tls_user, tls="implicit", port=server.imaps_port,
                             ca_file=server.ca_file)
    assert runner.poll(implicit, sqlite_db).mailboxes[0].error is None
    no_ca = imap_settings(tmp_path, imap_tls_user, tls="starttls")  # system store only
    assert "certificate verify failed" in (runner.poll(no_ca, sqlite_db).mailboxes[0].error or "")


def test_stop_between_batches_keeps_what_was_stored(tmp_path: Path, imap_user, sqlite_db) -> None:
    imap_user.server.append_many(imap_user.name, "INBOX", [inquiry(i) for i in range(10)])
    settings = imap_settings(tmp_path, imap_user, extra="batch_size = 2\n")
    stop = threading.Event()
    from daemon import store

    real = store.save_batch

    def save_then_stop(*args, **kw):  # type: ignore[no-untyped-def]
        n = real(*args, **kw)
        stop.set()  # as SIGTERM would, after the first batch
        return n

    store.save_batch, saved = save_then_stop, store.save_batch
    try:
        report = runner.poll(settings, sqlite_db, stop)
    finally:
        store.save_batch = saved
    assert report.stopped and report.mailboxes[0].stored == 2
    report = runner.poll(settings, sqlite_db)
    assert report.mailboxes[0].stored == 8
    with sqlite_db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Message)
                        .where(Message.state == MessageState.PROCESSED)) == 10
