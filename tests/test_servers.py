"""The test servers themselves: what later IMAP and SMTP tests rely on them to do."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import aiosmtplib
import pytest
from imapclient import IMAPClient

from tests.servers.dovecot import Dovecot, ImapUser, make_tls_files

if TYPE_CHECKING:  # only a type here: without aiosmtpd the SMTP tests skip, not break
    from tests.servers.smtp import SmtpServer

# 8-bit GBK body and CRLF line ends: what must come back byte for byte.
RAW = (
    b"From: buyer@example.cn\r\nTo: sales@inquiryd.test\r\n"
    b"Subject: =?gb2312?B?0a+821Xh?=\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n"
    b"\r\n\xc7\xeb\xb1\xa8\xbc\xdb 500 pcs\r\n.leading dot\r\n"
)


def _message(subject: str = "Inquiry") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sales@inquiryd.test"
    msg["To"] = "buyer@example.com"
    msg["Subject"] = subject
    msg.set_content("Our offer.\n")
    return msg


# -- Dovecot ----------------------------------------------------------------------


@pytest.mark.imap
def test_append_then_fetch_returns_the_same_bytes(imap_user: ImapUser) -> None:
    server = imap_user.server
    uid = server.append(imap_user.name, "INBOX", RAW, flags=[b"\\Flagged"])
    assert server.uids(imap_user.name, "INBOX") == [uid]
    assert server.fetch_raw(imap_user.name, "INBOX", uid) == RAW
    assert b"\\Flagged" in server.flags(imap_user.name, "INBOX", uid)


@pytest.mark.imap
def test_body_peek_leaves_seen_unset(imap_user: ImapUser) -> None:
    server = imap_user.server
    uid = server.append(imap_user.name, "INBOX", RAW)
    with server.connect(imap_user.name) as client:
        client.select_folder("INBOX")
        client.fetch([uid], ["BODY.PEEK[]"])
        assert b"\\Seen" not in client.get_flags([uid])[uid]
        client.fetch([uid], ["BODY[]"])  # the contrast: a plain BODY[] does set it
        assert b"\\Seen" in client.get_flags([uid])[uid]


@pytest.mark.imap
def test_users_do_not_see_each_others_mail(dovecot: Dovecot) -> None:
    # Both users are added while the server runs: passwd-file is re-read on change.
    alice, bob = (dovecot.add_user(f"iso-{secrets.token_hex(4)}") for _ in range(2))
    dovecot.append(alice.name, "INBOX", RAW)
    assert dovecot.uids(bob.name, "INBOX") == []


@pytest.mark.imap
def test_wrong_password_is_refused(imap_user: ImapUser) -> None:
    with IMAPClient(imap_user.server.host, imap_user.server.port, ssl=False,
                    timeout=5) as client:
        with pytest.raises(IMAPClient.Error):
            client.login(imap_user.name, "not-the-password")


@pytest.mark.imap
def test_folders_nest_with_slash(imap_user: ImapUser) -> None:
    server = imap_user.server
    server.create_folder(imap_user.name, "Inquiries/Review")
    uid = server.append(imap_user.name, "Inquiries/Review", RAW)
    assert server.uids(imap_user.name, "Inquiries/Review") == [uid]


@pytest.mark.imap
def test_append_many_seeds_quickly(imap_user: ImapUser) -> None:
    server = imap_user.server
    raws = [RAW + b"n=%d\r\n" % i for i in range(2000)]
    started = time.perf_counter()
    uids = server.append_many(imap_user.name, "INBOX", raws)
    elapsed = time.perf_counter() - started
    assert uids == list(range(1, 2001))
    assert server.fetch_raw(imap_user.name, "INBOX", 1234) == raws[1233]
    assert elapsed < 10, f"2,000 appends took {elapsed:.1f} s"


@pytest.mark.imap
def test_kick_drops_an_open_session(imap_user: ImapUser) -> None:
    server = imap_user.server
    with server.connect(imap_user.name) as client:
        client.select_folder("INBOX")
        server.kick(imap_user.name)
        with pytest.raises((IMAPClient.AbortError, OSError)):
            client.noop()
        client.shutdown()


@pytest.mark.imap
def test_set_uidvalidity_changes_what_select_reports(imap_user: ImapUser) -> None:
    server = imap_user.server
    server.append(imap_user.name, "INBOX", RAW)
    with server.connect(imap_user.name) as client:
        before = client.select_folder("INBOX")[b"UIDVALIDITY"]
        new = before + 1000
        server.set_uidvalidity(imap_user.name, "INBOX", new)
        # Dovecot ends a session whose selected folder was reset under it.
        with pytest.raises((IMAPClient.AbortError, OSError)):
            client.noop()
        client.shutdown()
    with server.connect(imap_user.name) as client:
        assert client.select_folder("INBOX")[b"UIDVALIDITY"] == new


@pytest.mark.imap
def test_tls_with_the_right_ca_works(imap_tls_user: ImapUser) -> None:
    server = imap_tls_user.server
    uid = server.append(imap_tls_user.name, "INBOX", RAW)  # over implicit TLS
    with IMAPClient(server.host, server.port, ssl=False, timeout=5) as client:
        with pytest.raises(IMAPClient.Error):  # ssl = required: no login in clear
            client.login(imap_tls_user.name, imap_tls_user.password)
    with IMAPClient(server.host, server.port, ssl=False, timeout=5) as client:
        client.starttls(server.ssl_context())
        client.login(imap_tls_user.name, imap_tls_user.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    assert server.fetch_raw(imap_tls_user.name, "INBOX", uid) == RAW


@pytest.mark.imap
def test_tls_with_a_wrong_ca_is_refused(dovecot_tls: Dovecot, tmp_path: Path) -> None:
    wrong = ssl.create_default_context(cafile=str(make_tls_files(tmp_path).ca_file))
    assert dovecot_tls.imaps_port is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot_tls.host, dovecot_tls.imaps_port, ssl=True, ssl_context=wrong,
                   timeout=5)
    client = IMAPClient(dovecot_tls.host, dovecot_tls.port, ssl=False, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(wrong)  # the failed handshake also closes the socket


# -- SMTP -------------------------------------------------------------------------


def _send(server: SmtpServer, msg: EmailMessage, **options: object) -> None:
    async def send() -> None:
        try:
            await aiosmtplib.send(msg, hostname=server.host, port=server.port, timeout=5,
                                  **options)  # type: ignore[arg-type]
        finally:
            # A TLS transport closes over a few loop turns (close_notify); without them
            # asyncio.run ends first and the socket is reported unclosed.
            await asyncio.sleep(0.01)

    asyncio.run(send())


def test_smtp_records_what_was_sent(smtp_server: SmtpServer) -> None:
    _send(smtp_server, _message("Quote 42"), recipients=["a@example.com", "b@example.com"])
    [got] = smtp_server.messages
    assert got.accepted and got.login is None
    assert got.mail_from == "sales@inquiryd.test"
    assert got.rcpt_tos == ("a@example.com", "b@example.com")
    assert got.message["Subject"] == "Quote 42"
    assert got.raw.startswith(b"From: sales@inquiryd.test\r\n")


def test_smtp_answers_451_then_accepts(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(451, times=1)
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        _send(smtp_server, _message())
    assert refused.value.code == 451
    _send(smtp_server, _message())
    assert [m.reply[:3] for m in smtp_server.messages if m.reply] == ["451", "250"]
    assert len(smtp_server.accepted) == 1


def test_smtp_answers_550(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(550, message="5.7.1 No such user")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        _send(smtp_server, _message())
    assert (refused.value.code, refused.value.message) == (550, "5.7.1 No such user")
    assert smtp_server.accepted == []


def test_smtp_refuses_a_recipient(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(550, stage="RCPT")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        _send(smtp_server, _message())
    assert smtp_server.messages == []


def test_smtp_421_closes_the_connection(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(421)
    with pytest.raises((aiosmtplib.SMTPDataError, aiosmtplib.SMTPServerDisconnected)):
        _send(smtp_server, _message())
    _send(smtp_server, _message())  # a new connection is served as usual
    assert len(smtp_server.accepted) == 1


def test_smtp_hang_up_after_data_leaves_the_message_in_doubt(smtp_server: SmtpServer) -> None:
    smtp_server.disconnect_after_data()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        _send(smtp_server, _message())
    [got] = smtp_server.messages  # the server did read it all: it may have been delivered
    assert got.reply is None and not got.accepted


def test_smtp_tls_server_needs_starttls_and_auth(smtp_tls_server: SmtpServer) -> None:
    server = smtp_tls_server
    _send(server, _message(), start_tls=True, tls_context=server.ssl_context(),
          username=server.user, password=server.password)
    [got] = server.messages
    assert got.login == server.user
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        _send(server, _message(), start_tls=True, tls_context=server.ssl_context(),
              username=server.user, password="wrong")


def test_smtp_tls_with_a_wrong_ca_is_refused(smtp_tls_server: SmtpServer,
                                             tmp_path: Path) -> None:
    wrong = ssl.create_default_context(cafile=str(make_tls_files(tmp_path).ca_file))
    client = aiosmtplib.SMTP(hostname=smtp_tls_server.host, port=smtp_tls_server.port,
                             start_tls=True, tls_context=wrong, timeout=5)

    async def connect() -> None:
        try:
            await client.connect()
        finally:
            client.close()  # aiosmtplib.send() leaves the socket open on this failure

    # Not wrapped in an aiosmtplib error: send.py must catch ssl.SSLError itself.
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(connect())
    assert smtp_tls_server.messages == []


def test_smtp_implicit_tls(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_server_factory(tls="implicit")
    _send(server, _message(), use_tls=True, tls_context=server.ssl_context())
    assert len(server.accepted) == 1


def test_smtp_auth_without_tls(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_server_factory(user="u@inquiryd.test", password="pw")
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        _send(server, _message())
    assert refused.value.code == 530
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        _send(server, _message(), username="u@inquiryd.test", password="bad")
    _send(server, _message(), username="u@inquiryd.test", password="pw")
    assert [m.login for m in server.messages] == ["u@inquiryd.test"]
