"""A recording SMTP server for tests: aiosmtpd in a thread on a free loopback port.

Every DATA it receives is kept as a `ReceivedMessage` with the reply it was given, so a
test can check what was sent, what was refused and what was left in doubt. Faults are
queued from the test thread: `fail_next` answers 421/451/550 at RCPT or DATA, and
`disconnect_after_data` drops the connection after the final dot without replying,
the case where the client cannot know whether the message was accepted (RFC 1047).
Optional AUTH (PLAIN, LOGIN; then required before MAIL) with one known user, and
optional STARTTLS (then required) or implicit TLS, with a self-signed CA from
`make_tls_files`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import tempfile
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.dovecot import HOST, make_tls_files

Stage = Literal["RCPT", "DATA"]
TlsMode = Literal["none", "starttls", "implicit"]


@dataclass(frozen=True)
class ReceivedMessage:
    """One DATA the server read in full, and what it answered (None: hung up instead)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    reply: str | None
    login: str | None

    @property
    def accepted(self) -> bool:
        return self.reply is not None and self.reply.startswith("250")


@dataclass
class _Fault:
    stage: Stage | Literal["HANGUP"]
    reply: str
    times: int


class RecordingHandler:
    """aiosmtpd handler: records each DATA and plays queued faults (thread-safe)."""

    def __init__(self, *, require_auth: bool = False) -> None:
        self.require_auth = require_auth
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._faults: list[_Fault] = []

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._faults.clear()

    def add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    def _take_fault(self, stage: str) -> _Fault | None:
        """Use up one turn of the oldest fault queued for `stage`."""
        with self._lock:
            for fault in self._faults:
                if fault.stage == stage:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        # AUTH is enforced here, not with aiosmtpd's auth_required: that one warns on
        # every connection unless AUTH also requires STARTTLS, which would rule out
        # AUTH on the plain and implicit-TLS variants.
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        # Having this hook means aiosmtpd no longer records the sender itself.
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        fault = self._take_fault("RCPT")
        if fault is not None:
            _close_after_421(server, fault.reply)
            return fault.reply
        # Having this hook means aiosmtpd no longer records the recipient itself.
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        hangup = self._take_fault("HANGUP")
        fault = None if hangup else self._take_fault("DATA")
        reply = None if hangup else (fault.reply if fault else "250 OK: queued")
        self._record(session, envelope, reply)
        if hangup:
            await _hang_up(server)
        assert reply is not None
        _close_after_421(server, reply)
        return reply

    def _record(self, session: Session, envelope: Envelope, reply: str | None) -> None:
        raw = bytes(cast(bytes, envelope.original_content))
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        message = email.message_from_bytes(raw, policy=email.policy.default)
        received = ReceivedMessage(str(envelope.mail_from), tuple(envelope.rcpt_tos), raw,
                                   message, reply, login)
        with self._lock:
            self._messages.append(received)


def _close_after_421(server: SMTP, reply: str) -> None:
    """421 means "closing the channel" (RFC 5321 3.8): do so, as real servers do.

    aiosmtpd writes the reply right after this hook returns, before the session task
    next yields to the loop, so a callback queued now runs after the write, and
    close() still flushes it.
    """
    transport = server.transport
    if reply.startswith("421") and transport is not None:
        server.loop.call_soon(transport.close)


async def _hang_up(server: SMTP) -> None:
    """Drop the connection without a reply and never return.

    abort() closes the socket at once; aiosmtpd's connection_lost() then cancels this
    session's task, so no reply line is ever written.
    """
    assert isinstance(server.transport, asyncio.Transport)
    server.transport.abort()
    await asyncio.Event().wait()


class _EphemeralPortController(Controller):
    """Controller that accepts port=0 (aiosmtpd 1.4.6 does not: aio-libs/aiosmtpd#388).

    The stock start() connects to `self.port` to make aiosmtpd build its SMTP object;
    with 0 that fails. Learning the bound port first lets the kernel pick it, with no
    race between probing a free port and binding it.
    """

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpServer:
    """A started/stopped aiosmtpd recorder; see the module docstring."""

    host: str = HOST

    def __init__(self, *, tls: TlsMode = "none", user: str | None = None,
                 password: str | None = None) -> None:
        if (user is None) != (password is None):
            raise ValueError("give both user and password, or neither")
        self.tls = tls
        self.user = user
        self.password = password
        self.handler = RecordingHandler(require_auth=user is not None)
        self.ca_file: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._controller: _EphemeralPortController | None = None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the SMTP server is not started")
        return int(self._controller.port)

    def start(self) -> None:
        server_ctx = self._make_tls_context() if self.tls != "none" else None
        kwargs: dict[str, Any] = {
            # A fixed name: the default socket.getfqdn() may wait on DNS.
            "server_hostname": "smtp.test",
            "ready_timeout": 10.0,
        }
        if self.tls == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True)
        elif self.tls == "implicit":
            kwargs.update(ssl_context=server_ctx)
        if self.user is not None:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; on the plain (loopback)
            # and implicit-TLS variants AUTH must be allowed without it.
            kwargs.update(authenticator=self._authenticate,
                          auth_require_tls=self.tls == "starttls")
        self._controller = _EphemeralPortController(self.handler, hostname=self.host,
                                                    port=0, **kwargs)
        self._controller.start()

    def _make_tls_context(self) -> ssl.SSLContext:
        self._tmp = tempfile.TemporaryDirectory(prefix="inquiryd-smtp-")
        files = make_tls_files(Path(self._tmp.name))
        self.ca_file = files.ca_file
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(files.cert_file, files.key_file)
        return ctx

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == self.user
              and auth_data.password.decode() == self.password)
        # auth_data is what aiosmtpd keeps in session.auth_data: the recorded login.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what was received, and faults to play ------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Every DATA read in full, in order, whatever was answered."""
        return self.handler.messages

    @property
    def accepted(self) -> list[ReceivedMessage]:
        return [m for m in self.handler.messages if m.accepted]

    def reset(self) -> None:
        """Forget received messages and queued faults (between tests)."""
        self.handler.reset()

    def fail_next(self, code: int = 451, times: int = 1, message: str | None = None,
                  *, stage: Stage = "DATA") -> None:
        """Answer the next `times` RCPT or DATA commands with `code` (421, 451, 550...)."""
        if not 400 <= code < 600:
            raise ValueError(f"not an SMTP error code: {code}")
        text = message or ("Try again later" if code < 500 else "Rejected")
        self.handler.add_fault(_Fault(stage, f"{code} {text}", times))

    def disconnect_after_data(self, times: int = 1) -> None:
        """Read the next `times` messages in full, then hang up without replying."""
        self.handler.add_fault(_Fault("HANGUP", "", times))

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context trusting this server's CA (TLS variants only)."""
        if self.ca_file is None:
            raise RuntimeError("this SMTP server has no TLS")
        return ssl.create_default_context(cafile=str(self.ca_file))
