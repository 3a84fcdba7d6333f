"""pytest fixtures for the real test servers; tests/conftest.py star-imports them.

One Dovecot (and one TLS Dovecot) per session, each test getting a fresh user so no test
sees another's mail; one SMTP recorder per variant per session, reset before each test.
A missing server is a skip on a developer's machine and a failure in CI (CI=true),
where a skip would hide that the suite did not run.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.servers.dovecot import DOVEADM_BIN, DOVECOT_BIN, Dovecot, ImapUser

if TYPE_CHECKING:
    from tests.servers.smtp import SmtpServer, TlsMode

__all__ = [
    "dovecot", "dovecot_tls", "imap_user", "imap_tls_user",
    "smtp_server_session", "smtp_server", "smtp_tls_server_session", "smtp_tls_server",
    "smtp_server_factory",
]

DOVECOT_HINT = "install Debian's dovecot-imapd: apt-get install dovecot-imapd"
AIOSMTPD_HINT = "install the test extra (aiosmtpd): pip install -e '.[test]'"
SMTP_USER = "sender@inquiryd.test"
SMTP_PASSWORD = "smtp-test-password"


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; fail in CI, where a missing server means a broken install step."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _start_dovecot(tls: bool) -> Dovecot:
    if not (shutil.which(DOVECOT_BIN) and shutil.which(DOVEADM_BIN)):
        _unavailable(DOVECOT_HINT)
    if os.geteuid() != 0:
        _unavailable("the test Dovecot runs as root (its mail must belong to `dovecot`)")
    server = Dovecot(tls=tls)
    server.start()
    return server


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A plain-IMAP Dovecot on a free loopback port, for the whole session."""
    server = _start_dovecot(tls=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Dovecot]:
    """A Dovecot with `ssl = required` (STARTTLS on .port, TLS on .imaps_port), .ca_file."""
    server = _start_dovecot(tls=True)
    yield server
    server.stop()


def _fresh_user(server: Dovecot) -> ImapUser:
    return server.add_user(f"u{secrets.token_hex(5)}", secrets.token_urlsafe(12))


@pytest.fixture
def imap_user(dovecot: Dovecot) -> ImapUser:
    """A new user with an empty INBOX on the session's plain Dovecot."""
    return _fresh_user(dovecot)


@pytest.fixture
def imap_tls_user(dovecot_tls: Dovecot) -> ImapUser:
    """A new user with an empty INBOX on the session's TLS Dovecot."""
    return _fresh_user(dovecot_tls)


def _start_smtp(tls: TlsMode = "none", user: str | None = None,
                password: str | None = None) -> SmtpServer:
    # Imported here, not at the top: conftest star-imports this module, and a missing
    # aiosmtpd must skip the SMTP tests, not break collection of every test.
    try:
        from tests.servers.smtp import SmtpServer
    except ImportError:
        _unavailable(AIOSMTPD_HINT)
    server = SmtpServer(tls=tls, user=user, password=password)
    server.start()
    return server


@pytest.fixture(scope="session")
def smtp_server_session() -> Iterator[SmtpServer]:
    """The shared plain SMTP recorder; tests use `smtp_server`, which resets it."""
    server = _start_smtp()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(smtp_server_session: SmtpServer) -> SmtpServer:
    """A plain SMTP recorder, no AUTH, with no messages and no faults queued."""
    smtp_server_session.reset()
    return smtp_server_session


@pytest.fixture(scope="session")
def smtp_tls_server_session() -> Iterator[SmtpServer]:
    """The shared STARTTLS-required, AUTH-required SMTP recorder."""
    server = _start_smtp(tls="starttls", user=SMTP_USER, password=SMTP_PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def smtp_tls_server(smtp_tls_server_session: SmtpServer) -> SmtpServer:
    """STARTTLS required, then AUTH as .user/.password; trust .ca_file. Reset per test."""
    smtp_tls_server_session.reset()
    return smtp_tls_server_session


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Start SMTP recorders with other options (e.g. implicit TLS); stopped after the test."""
    started: list[SmtpServer] = []

    def start(tls: TlsMode = "none", user: str | None = None,
              password: str | None = None) -> SmtpServer:
        server = _start_smtp(tls, user, password)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
