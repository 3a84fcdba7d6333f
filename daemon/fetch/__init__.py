"""Mail sources (I/O): IMAP accounts and local Maildirs, both strictly read-only.

A source opens one folder at a time and hands out raw messages past a cursor. It never
sets a flag, never deletes, never moves: the salespeople's mailbox looks untouched.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """What a source knows of a folder when it opens it."""

    name: str
    uidvalidity: int      # 0 for a Maildir, which has none
    uidnext: int | None   # None when the server does not say


@dataclass(frozen=True, slots=True)
class Fetched:
    """One raw message as it came from the source."""

    folder: str
    uidvalidity: int
    uid: int | None       # IMAP UID; None for a Maildir
    key: str | None       # Maildir unique name; None for IMAP
    raw: bytes


@dataclass(frozen=True, slots=True)
class Cursor:
    """What is already stored of a folder: everything up to last_uid (IMAP), or the
    unique names in known_keys (Maildir, which has no UIDs)."""

    uidvalidity: int | None = None
    last_uid: int = 0
    known_keys: frozenset[str] = frozenset()


# A message's handle in its folder: an IMAP UID or a Maildir unique name.
Ref = int | str


class Source(Protocol):
    """What the runner needs from a mailbox, whatever it is made of."""

    def __enter__(self) -> Source: ...
    def __exit__(self, *exc: object) -> None: ...
    def open_folder(self, folder: str) -> FolderInfo: ...
    def pending(self, info: FolderInfo, cursor: Cursor) -> list[Ref]: ...
    def fetch(self, info: FolderInfo, refs: list[Ref]) -> list[Fetched]: ...


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_SCAN_LIMIT = 256 * 1024


def identity(raw: bytes) -> tuple[str, str]:
    """(Message-ID, dedup key) of a raw message, read cheaply from its header block.

    The key is a SHA-256 of the Message-ID, or, when there is none, of Date, From,
    Subject and the body: what lets a re-scan after a UIDVALIDITY change skip mail
    already stored under the old UIDs.
    """
    end = _HEADER_END.search(raw, 0, _HEADER_SCAN_LIMIT)
    head = raw[: end.start() if end else _HEADER_SCAN_LIMIT]
    headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
    message_id = _clean(headers.get("Message-ID", ""))[:998]
    if message_id:
        basis = b"message-id:" + message_id.encode("utf-8", "replace")
    else:
        fields = [_clean(headers.get(h, "")) for h in ("Date", "From", "Subject")]
        body = raw[end.end():] if end else raw
        basis = "\n".join(fields).encode("utf-8", "replace") + b"\n" + body
    return message_id, hashlib.sha256(basis).hexdigest()


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(value: object) -> str:
    # A NUL in a header is legal bytes on the wire but refused by PostgreSQL text columns.
    return " ".join(_CONTROLS.sub("", str(value)).split())
