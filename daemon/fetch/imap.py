"""IMAP source through imapclient: TLS verified, read-only, batched, past a UID cursor.

Read-only means EXAMINE (select_folder readonly) and BODY.PEEK[]: the server sets no
\\Seen flag and we never STORE, EXPUNGE or MOVE. `UID n:*` returns the highest UID even
when it is below n (RFC 3501), so pending() filters `uid > last_uid` itself.
"""

from __future__ import annotations

import logging
import socket
import functools
import ssl
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from daemon import __version__
from daemon.config import Mailbox
from daemon.errors import MailboxError
from daemon.fetch import Cursor, Fetched, FolderInfo, Ref

log = logging.getLogger(__name__)

# Errors that mean "the server or the network failed us": retried with back-off.
NETWORK_ERRORS = (OSError, IMAPClientError, socket.timeout, ssl.SSLError, EOFError)


@functools.lru_cache(maxsize=16)
def tls_context(ca_file: Any = None) -> ssl.SSLContext:
    """Certificates always verified; a private CA replaces the system store if given.
    Made once per CA file and shared: loading the system store takes ~20 ms, which an
    empty poll of several mailboxes would otherwise pay on every login."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class ImapSource:
    def __init__(self, mailbox: Mailbox, password: str):
        self.mailbox = mailbox
        self._password = password
        self._client: IMAPClient | None = None

    def __enter__(self) -> ImapSource:
        try:
            self._client = self._connect()
        except LoginError as exc:
            raise MailboxError(f"{self.mailbox.name}: login refused: {_text(exc)}") from None
        except NETWORK_ERRORS as exc:
            raise MailboxError(f"{self.mailbox.name}: cannot connect to "
                               f"{self.mailbox.host}:{self.mailbox.effective_port}: "
                               f"{_text(exc)}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except NETWORK_ERRORS:
            try:
                client.shutdown()
            except NETWORK_ERRORS:
                pass

    def _connect(self) -> IMAPClient:
        box = self.mailbox
        context = None if box.tls == "none" else tls_context(box.ca_file)
        client = IMAPClient(box.host, port=box.effective_port, ssl=box.tls == "implicit",
                            ssl_context=context, timeout=box.timeout_seconds)
        if box.tls == "starttls":
            client.starttls(context)  # required: a server without STARTTLS fails here
        client.login(box.username, self._password)
        self._send_id(client)
        return client

    @staticmethod
    def _send_id(client: IMAPClient) -> None:
        # 163.com and 126.com refuse SELECT ("Unsafe Login") until the client says who it is.
        if client.has_capability("ID"):
            client.id_({"name": "inquiryd", "version": __version__})

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise MailboxError(f"{self.mailbox.name}: not connected")
        return self._client

    def open_folder(self, folder: str) -> FolderInfo:
        try:
            status = self.client.select_folder(folder, readonly=True)
        except NETWORK_ERRORS as exc:
            raise MailboxError(f"{self.mailbox.name}: cannot open {folder}: {_text(exc)}") from None
        uidnext = status.get(b"UIDNEXT")
        return FolderInfo(folder, int(status[b"UIDVALIDITY"]),
                          int(uidnext) if uidnext is not None else None)

    def pending(self, info: FolderInfo, cursor: Cursor) -> list[Ref]:
        last_uid = cursor.last_uid
        if info.uidnext is not None and info.uidnext <= last_uid + 1:
            return []  # nothing new: spare the server a SEARCH
        try:
            found = self.client.search(["UID", f"{last_uid + 1}:*"])
        except NETWORK_ERRORS as exc:
            raise MailboxError(f"{self.mailbox.name}: search in {info.name}: {_text(exc)}") from None
        return sorted(uid for uid in found if uid > last_uid)

    def fetch(self, info: FolderInfo, refs: list[Ref]) -> list[Fetched]:
        try:
            response = self.client.fetch([int(r) for r in refs], ["BODY.PEEK[]"])
        except NETWORK_ERRORS as exc:
            raise MailboxError(f"{self.mailbox.name}: fetch from {info.name}: {_text(exc)}") from None
        fetched = []
        for uid in sorted(response):
            raw = response[uid].get(b"BODY[]")
            if raw is None:  # expunged between SEARCH and FETCH: nothing to keep
                log.warning("event=imap_missing_body mailbox=%s folder=%s uid=%d",
                            self.mailbox.name, info.name, uid)
                continue
            fetched.append(Fetched(info.name, info.uidvalidity, uid, None, bytes(raw)))
        return fetched


def _text(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, (bytes, bytearray)):
        text = exc.decode(errors="replace")
    return text or exc.__class__.__name__
