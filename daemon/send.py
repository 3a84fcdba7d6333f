"""Sending approved drafts: SMTP through aiosmtplib and copies to the Sent folder (I/O,
no database), and the policy they follow; sweep.py ties them to the draft states of outbox.py.

Never twice: a draft is claimed (`sending`, committed) before its SMTP conversation
starts, so whatever dies afterwards leaves it `sending`, and start-up makes that
`unknown` for a person to decide. The conversation is driven step by step so that a
lost connection is told apart by when it happened: before the server's 354 nothing was
sent (retry later); after the final dot without a reply the message may have been
delivered (RFC 1047): `UnknownOutcome`, never retried. TLS is required (implicit or
STARTTLS, certificates verified); plain SMTP only to a loopback host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import mailbox as maildir_lib
import os
import re
import socket
import ssl
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import imapclient
from aiosmtplib import (
    SMTP,
    SMTPAuthenticationError,
    SMTPDataError,
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
)
from imapclient.imapclient import SENT

from daemon.config import Mailbox, Settings
from daemon.errors import ConfigError, MailboxError, PermanentError, TemporaryError
from daemon.fetch.imap import NETWORK_ERRORS, ImapSource, tls_context

log = logging.getLogger(__name__)

# A file touched more recently than this may still be arriving on a network share.
SETTLE_SECONDS = 2.0


class UnknownOutcome(TemporaryError):
    """Cut off after the final dot without a reply: it may have been delivered."""


class SmtpUnavailable(TemporaryError, ConnectionError):
    """No SMTP session could be opened (down, TLS refused, login refused); no draft is
    to blame, so none is charged an attempt."""


# -- policy -----------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_tls_policy(settings: Settings) -> None:
    """ConfigError for `tls = "none"` to anything but this machine (the password and
    the buyers' mail would cross the network in clear)."""
    smtp = settings.smtp
    if smtp.tls == "none" and not is_loopback(smtp.host):
        raise ConfigError(f'{settings.source}: smtp.tls: "none" is only allowed for a '
                          f"loopback host (127.0.0.0/8, ::1, localhost), not {smtp.host!r}: "
                          'use "starttls" or "implicit"')


def expected_sender(settings: Settings, mailbox_name: str = "") -> str:
    """The one address every draft leaves From: the mailbox's sender, else smtp.sender."""
    box = next((m for m in settings.mailbox if m.name == mailbox_name), None)
    address = parseaddr((box.sender if box else "") or settings.smtp.sender)[1]
    if "@" not in address:
        raise ConfigError(f"{settings.source}: smtp.sender: not set; drafts are sent "
                          "From this address only")
    return address


def sender_name(settings: Settings, mailbox_name: str = "") -> str:
    """The display name of that sender ("Lily Chen <lily@...>" -> "Lily Chen")."""
    box = next((m for m in settings.mailbox if m.name == mailbox_name), None)
    return parseaddr((box.sender if box else "") or settings.smtp.sender)[0]


# -- SMTP -------------------------------------------------------------------------------

def _wire(data: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled, the final dot."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", data) + b".\r\n"


def _by_code(code: int, text: str, when: str) -> TemporaryError | PermanentError:
    words = f"{code} {' '.join(str(text).split())}"
    if 400 <= code < 500:
        return TemporaryError(f"the server answered {words} {when} (temporary)")
    return PermanentError(f"the server refused it {when}: {words}")


class _Stale(Exception):
    """A kept connection turned out closed before anything was sent: reconnect once."""


class SmtpConnection:
    """One SMTP session kept open across messages (sync facade over aiosmtplib)."""

    def __init__(self, settings: Settings):
        check_tls_policy(settings)
        self.cfg = settings.smtp
        self._password = settings.secret(settings.smtp) if settings.smtp.username else ""
        self._runner = asyncio.Runner()
        self._smtp: SMTP | None = None
        self._used = 0

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._runner.run(asyncio.wait_for(self._smtp.quit(), 5))
            except Exception:  # noqa: BLE001 - a polite QUIT that fails changes nothing
                pass
            self._drop()
        self._runner.close()

    def connect(self) -> None:
        """Open the session unless open; SmtpUnavailable when it cannot be."""
        if self._smtp is None:
            self._smtp = self._runner.run(self._open())
            self._used = 0

    async def _open(self) -> SMTP:
        cfg = self.cfg
        smtp = SMTP(hostname=cfg.host, port=cfg.effective_port, timeout=cfg.timeout_seconds,
                    use_tls=cfg.tls == "implicit", start_tls=cfg.tls == "starttls",
                    tls_context=None if cfg.tls == "none" else tls_context(cfg.ca_file),
                    username=cfg.username or None, password=self._password or None)
        try:
            await smtp.connect()
        except (SMTPException, OSError, ssl.SSLError) as exc:
            raise SmtpUnavailable(self._why_not(exc)) from None
        finally:
            if not smtp.is_connected:
                smtp.close()  # aiosmtplib leaves the socket open on a TLS failure
        return smtp

    def _why_not(self, exc: BaseException) -> str:
        where = f"SMTP {self.cfg.host}:{self.cfg.effective_port}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"{where}: its TLS certificate was refused ({exc.verify_message}); "
                    "for a private CA set smtp.ca_file")
        if isinstance(exc, SMTPAuthenticationError):
            return f"{where}: login as {self.cfg.username} refused: {exc.code} {exc.message}"
        if isinstance(exc, SMTPResponseException):
            return f"{where}: the server answered {exc.code} {exc.message}"
        return f"{where}: cannot connect: {exc.__class__.__name__}: {exc}"

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def send(self, sender: str, recipients: list[str], data: bytes) -> str:
        """Send one message; the server's reply. Raises TemporaryError (4xx, lost before
        the dot), PermanentError (5xx), UnknownOutcome, or SmtpUnavailable."""
        self.connect()
        try:
            return self._runner.run(self._transaction(sender, recipients, data))
        except _Stale:
            self.connect()
            return self._runner.run(self._transaction(sender, recipients, data))

    async def _transaction(self, sender: str, recipients: list[str], data: bytes) -> str:
        smtp, reused = self._smtp, self._used > 0
        assert smtp is not None
        self._used += 1
        wire = _wire(data)
        try:
            await self._envelope(smtp, sender, recipients, len(wire) - 3)
        except SMTPResponseException as exc:
            await self._reset(smtp)
            raise _by_code(exc.code, exc.message, "before the message was sent") from None
        except (UnicodeError, ValueError) as exc:
            await self._reset(smtp)
            raise PermanentError(f"an address cannot be sent as it is: {exc}") from None
        except (SMTPException, OSError) as exc:
            self._drop()
            if reused and isinstance(exc, ConnectionError):
                raise _Stale() from None
            raise TemporaryError(f"connection lost before the message was sent: {exc}") from None
        return await self._content(smtp, wire)

    @staticmethod
    async def _envelope(smtp: SMTP, sender: str, recipients: list[str], size: int) -> None:
        if smtp.is_ehlo_or_helo_needed:
            await smtp.ehlo()
        options = [f"SIZE={size}"] if smtp.supports_extension("size") else []
        await smtp.mail(sender, options=options)
        for address in recipients:  # all or none: a partial send could not be retried
            await smtp.rcpt(address)
        response = await smtp.execute_command(b"DATA")
        if response.code != 354:
            raise SMTPDataError(response.code, response.message)

    async def _content(self, smtp: SMTP, wire: bytes) -> str:
        # aiosmtplib's data() sends DATA and the content in one call, so a lost
        # connection could not be placed before or after the dot; hence these two steps.
        try:
            if smtp.protocol is None:
                raise SMTPServerDisconnected("connection lost")
            smtp.protocol.write(wire)
            reply = await smtp.protocol.read_response(timeout=self.cfg.timeout_seconds)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the dot may have arrived
            self._drop()
            raise UnknownOutcome(
                "the connection ended after the whole message was handed to the server, "
                f"before it said whether it took it ({exc.__class__.__name__}: {exc})"
            ) from None
        if reply.code == 421:
            self._drop()  # 421: the server is closing this session
        if 200 <= reply.code < 300:
            return f"{reply.code} {reply.message}"
        raise _by_code(reply.code, reply.message, "at the end of the message")

    async def _reset(self, smtp: SMTP) -> None:
        try:
            await smtp.rset()
        except (SMTPException, OSError):
            self._drop()


def send_bytes(settings: Settings, envelope_from: str, recipients: list[str],
               message_bytes: bytes) -> str:
    """Send one message on its own connection; the server's reply (see SmtpConnection)."""
    with SmtpConnection(settings) as connection:
        return connection.send(envelope_from, recipients, message_bytes)


# -- the Sent folder ----------------------------------------------------------------------

class SentFolder:
    """A mailbox's Sent folder: IMAP (SPECIAL-USE \\Sent, else "Sent") or Maildir .Sent."""

    def __init__(self, settings: Settings, box: Mailbox):
        self.box = box
        self._password = settings.secret(box) if box.kind == "imap" else ""
        self._source: ImapSource | None = None
        self._folder: Any = None

    def __enter__(self) -> SentFolder:
        if self.box.kind == "maildir":
            assert self.box.path is not None
            root = maildir_lib.Maildir(self.box.path, create=False)
            if "Sent" not in root.list_folders():
                root.add_folder("Sent")
            self._folder = Path(self.box.path) / ".Sent"  # Maildir++, as add_folder names it
            return self
        self._source = ImapSource(self.box, self._password).__enter__()
        try:
            self._folder = _imap_sent_name(self._source.client)
        except NETWORK_ERRORS as exc:
            self.__exit__()
            raise MailboxError(f"{self.box.name}: cannot find the Sent folder: {exc}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._source is not None:
            self._source.__exit__(None, None, None)
            self._source = None

    def append(self, data: bytes, when: datetime | None) -> None:
        if self._source is None:
            self._append_maildir(data, when)
            return
        try:
            self._source.client.append(self._folder, data, flags=[imapclient.SEEN], msg_time=when)
        except NETWORK_ERRORS as exc:
            raise MailboxError(f"{self.box.name}: APPEND to {self._folder}: {exc}") from None


    def _append_maildir(self, data: bytes, when: datetime | None) -> None:
        # Written by hand: mailbox.MaildirMessage would parse the whole message first.
        self._count = getattr(self, "_count", 0) + 1
        name = f"{time.time_ns()}.P{os.getpid()}Q{self._count}.{socket.gethostname()}"
        tmp = self._folder / "tmp" / name
        tmp.write_bytes(data)
        if when is not None:
            os.utime(tmp, (when.timestamp(), when.timestamp()))
        os.rename(tmp, self._folder / "cur" / f"{name}:2,S")


def _imap_sent_name(client: imapclient.IMAPClient) -> str:
    for flags, _delim, name in client.list_folders():
        if SENT in flags:
            return str(name)
    found = client.find_special_folder(SENT)  # the usual names, by namespace
    if found:
        return str(found)
    prefix = client.namespace().personal[0][0] if client.has_capability("NAMESPACE") else ""
    name = f"{prefix}Sent"
    client.create_folder(name)
    return name


def attempt(send: Callable[[], str], *, release: Callable[[], None],
            what: str) -> tuple[str, str]:
    """Run one claimed send: ("sent"|"retry"|"failed"|"unknown", the server's words).

    SmtpUnavailable means the conversation never began: the claim is released and the
    error raised, so the caller stops the whole run. Anything unexpected after the claim
    may have gone out, so it ends "unknown", never retried.
    """
    try:
        return "sent", send()
    except SmtpUnavailable:
        release()
        raise
    except UnknownOutcome as exc:
        return "unknown", str(exc)
    except TemporaryError as exc:
        return "retry", str(exc)
    except PermanentError as exc:
        return "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug mid-send: it may have gone out
        log.exception("event=send_crashed item=%s", what)
        return "unknown", f"sending stopped on an unexpected error: {exc!r}"
