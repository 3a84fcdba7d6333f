"""The exceptions of inquiryd, by scope.

- ConfigError: a mistake a person must fix in a file; stops start-up and names where.
- TemporaryError: the world is briefly wrong (server down, connection lost); retry later.
- PermanentError: this one item cannot be handled; set it aside for a human.
Library code raises these; only the command line turns them into exit codes.
"""

from __future__ import annotations


class InquirydError(Exception):
    """Base of every error inquiryd raises on purpose."""


class ConfigError(InquirydError):
    """One or more mistakes in a config, rules or template file.

    Each problem is one line, already in the form ``FILE: where: what is wrong``.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class UsageError(InquirydError):
    """A command was asked for something it cannot do as asked (exit code 1)."""


class TemporaryError(InquirydError):
    """Retry later: a server is down, a connection dropped, a lock is held."""


class PermanentError(InquirydError):
    """This item can never succeed as it is; it goes aside with this reason."""


class MailboxError(TemporaryError, ConnectionError):
    """A mailbox could not be reached or refused us."""


class LockedError(InquirydError):
    """Another inquiryd process holds the state lock."""

    def __init__(self, message: str, holder: str = ""):
        super().__init__(message)
        self.holder = holder
