"""The shared review folder (I/O): drafts as .eml files that people move between folders.

    <root>/pending/   written here by the daemon, with a .txt of context beside each
    <root>/approved/  a person moved it here: send it (edits to subject or body are kept)
    <root>/rejected/  a person moved it here: never send it
    <root>/sent/      sent; kept for the record
    <root>/failed/    not sent, with <stem>.reason.txt saying why

Files are written under a temporary name in the same folder, fsynced and renamed, so a
reader (or a crash) never sees half a draft. A move takes the .txt and reason first and
the .eml last: the .eml left in approved/ is what says work remains, so a kill between
the renames is finished by the next sweep. Names are ASCII and short, so any share and
any operating system takes them.

ReviewFolder is one of the two backends of daemon/review.py's ReviewBackend (its items
are the .eml paths); review_imap.py is the other. What both read and write is shared
here: `eml_bytes` (the exact bytes of a draft) and `approved_from_bytes` (the checks of
a draft read back).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import cached_property
from pathlib import Path
from typing import Self

from daemon.errors import PermanentError

FOLDERS = ("pending", "approved", "rejected", "sent", "failed")
DRAFT_HEADER = "X-Inquiryd-Draft"
# Larger than any reply with its price sheet and e-samples; a bigger file is not ours.
MAX_DRAFT_BYTES = 40 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_NAME_CAP = 40


class ReviewFileError(PermanentError):
    """A file in the review folder that cannot be sent as it is; the text says why."""


@dataclass(frozen=True)
class ApprovedDraft:
    """A draft read back from approved: the bytes to send and what they say.

    `name` is the file's name (compared with the name the draft was written under) or,
    for the IMAP backend, where the message is; `path` is None there.
    `headers` is a compat32 parse: the sweep reads a few headers of each file, and the
    modern policy's header objects cost ~3 ms a message; `message` parses on demand.
    """

    name: str
    draft_id: str
    message_bytes: bytes
    headers: Message
    subject: str
    body_sha256: str
    path: Path | None = None

    def body_changed(self, drafted_sha256: str) -> bool:
        """True when the body differs from the one drafted ('' = not known: unchanged)."""
        return bool(drafted_sha256) and drafted_sha256 != self.body_sha256

    @cached_property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.message_bytes, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def header_values(self, *names: str) -> list[str]:
        """Every value of these headers, unfolded (encoded words left as they are)."""
        return [" ".join(str(v).split()) for n in names for v in self.headers.get_all(n) or []]


def safe_part(text: str, cap: int = _NAME_CAP, empty: str = "x") -> str:
    """An ASCII-only piece of a file name: no separators, no dots at the ends, capped."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("-", ascii_text).strip(".-")[:cap].strip(".-")
    return cleaned or empty


def draft_file_name(draft_id: str, *, grade: str, buyer_label: str, when: datetime) -> str:
    """`<yyyymmdd-hhmm>_<grade>_<buyer>_<draft-id>.eml`, every part ASCII-safe."""
    return (f"{when:%Y%m%d-%H%M}_{safe_part(grade, 2, 'X')}_{safe_part(buyer_label)}"
            f"_{safe_part(draft_id, 64)}.eml")


def draft_id_from_name(name: str) -> str:
    """The draft id a file name ends with (`..._<draft-id>.eml`); '' when there is none."""
    stem = name.removesuffix(".eml")
    return stem.rsplit("_", 1)[1] if "_" in stem else ""


def eml_bytes(message: EmailMessage) -> bytes:
    """The exact bytes a draft is kept as, whichever backend keeps it (CRLF line ends)."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def check_draft_header(draft_id: str, message: EmailMessage) -> None:
    """ValueError unless the message carries exactly one X-Inquiryd-Draft: draft_id."""
    if message.get_all(DRAFT_HEADER) != [draft_id]:
        raise ValueError(f"the message must carry exactly one {DRAFT_HEADER}: {draft_id}")


def approved_from_bytes(name: str, data: bytes, path: Path | None = None) -> ApprovedDraft:
    """Check a draft read back; ReviewFileError says why it cannot be sent."""
    check_size(len(data))
    message = _parse(data)
    ids = [str(v).strip() for v in message.get_all(DRAFT_HEADER) or []]
    if not ids or not ids[0]:
        raise ReviewFileError(f"no {DRAFT_HEADER} header: not a draft written by "
                              "inquiryd, so it is not sent")
    if len(ids) > 1:
        raise ReviewFileError(f"{len(ids)} {DRAFT_HEADER} headers ({', '.join(ids)}): "
                              "which draft this is cannot be told, so it is not sent")
    return ApprovedDraft(name, ids[0], data, message, _subject(message),
                         body_digest(message), path)


def check_size(size: int) -> None:
    """ReviewFileError for a draft too large to be one of ours (read no further)."""
    if size > MAX_DRAFT_BYTES:
        raise ReviewFileError(f"larger than {MAX_DRAFT_BYTES // 2**20} MiB: not a draft "
                              "inquiryd wrote, so it is not sent")


def header_draft_id(head: bytes) -> str:
    """The draft id in a header block ('' unless there is exactly one, non-empty)."""
    values = BytesHeaderParser(policy=compat32).parsebytes(head).get_all(DRAFT_HEADER) or []
    return str(values[0]).strip() if len(values) == 1 else ""


def body_digest(message: Message) -> str:
    """SHA-256 of what a reviewer can change below the headers: every part's content.

    Text is compared decoded, with line ends and trailing spaces normalised, so that a
    mail client re-encoding the file (quoted-printable to base64, CRLF to LF) is not
    taken for an edit; the drafting side stores this for the sweep to compare.
    """
    digest = hashlib.sha256()
    for part in message.walk():
        if part.is_multipart():
            continue
        digest.update(f"{part.get_content_type()}\0{part.get_filename() or ''}\0".encode())
        digest.update(_part_bytes(part))
        digest.update(b"\0")
    return digest.hexdigest()


def _part_bytes(part: Message) -> bytes:
    # Only what both message classes offer alike: the drafting side's EmailMessage and
    # the sweep's compat32 parse of the file must give the same digest.
    payload = part.get_payload(decode=True)
    payload = payload if isinstance(payload, bytes) else b""
    if part.get_content_maintype() == "text":
        try:
            text = payload.decode(part.get_content_charset() or "us-ascii", "replace")
        except LookupError:  # unknown charset: compare the raw bytes
            text = payload.decode("latin-1")
        lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        return "\n".join(lines).strip("\n").encode("utf-8", "surrogateescape")
    return payload


class ReviewFolder:
    """The five sub-folders of one review root; see the module docstring."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Self:
        return self  # nothing to open: every call works on the files directly

    def __exit__(self, *exc: object) -> None:
        return None

    def folder(self, name: str) -> Path:
        if name not in FOLDERS:
            raise ValueError(f"no review folder {name!r}; one of {', '.join(FOLDERS)}")
        return self.root / name

    def file_name(self, draft_id: str, *, grade: str, buyer_label: str, when: datetime) -> str:
        return draft_file_name(draft_id, grade=grade, buyer_label=buyer_label, when=when)

    def write_pending(self, draft_id: str, message: EmailMessage, context: str, *,
                      grade: str, buyer_label: str, when: datetime) -> str:
        """Write the draft and its context to pending/; return the .eml's file name."""
        check_draft_header(draft_id, message)
        name = self.file_name(draft_id, grade=grade, buyer_label=buyer_label, when=when)
        pending = self.folder("pending")
        # The context first: once the .eml shows, a reviewer finds its .txt beside it.
        _write_atomic(pending / _txt(name), context.encode("utf-8"))
        _write_atomic(pending / name, eml_bytes(message))
        _fsync_dir(pending)
        return name

    def approved_files(self, min_age: float = 0.0) -> list[Path]:
        """The .eml files in approved/, oldest name first.

        A file modified less than `min_age` seconds ago is left for the next sweep: a
        copy onto a network share is not atomic, and half a draft must not be sent.
        """
        return self._eml_files("approved", min_age)

    def rejected_files(self) -> list[Path]:
        return self._eml_files("rejected", 0.0)

    # The ReviewBackend names of the two listings (see daemon/review.py).
    def approved_items(self, min_age: float = 0.0) -> list[Path]:
        return self.approved_files(min_age)

    def rejected_items(self) -> list[Path]:
        return self.rejected_files()

    def named_draft_id(self, path: Path) -> str:
        """The draft id the file's name ends with ('' = none): cheap, maybe renamed."""
        return draft_id_from_name(path.name)

    def header_draft_id(self, path: Path) -> str:
        """The draft id in the file's header ('' when unreadable or not exactly one)."""
        try:
            with open(path, "rb") as f:
                return header_draft_id(f.read(64 * 1024))
        except OSError:
            return ""

    def tidy(self) -> None:
        """Nothing to put in order: a .txt always moves with its .eml."""

    def locate(self, draft_id: str, name: str, folders: tuple[str, ...]) -> Path | None:
        """Where the draft written as `name` is now (files are found by name)."""
        return self.find(name, folders) if name else None

    def _eml_files(self, folder: str, min_age: float) -> list[Path]:
        now = time.time()
        found = []
        for entry in os.scandir(self.folder(folder)):
            if entry.name.startswith(".") or not entry.name.lower().endswith(".eml"):
                continue  # our temporary files and whatever else a share collects
            try:
                if min_age and now - entry.stat().st_mtime < min_age:
                    continue
            except FileNotFoundError:
                continue
            found.append(Path(entry.path))
        return sorted(found, key=lambda p: p.name)

    def find(self, name: str, folders: tuple[str, ...] = FOLDERS) -> Path | None:
        """Where a draft's file is now, looking in `folders` in order."""
        for folder in folders:
            path = self.folder(folder) / name
            if path.exists():
                return path
        return None

    def move(self, path: Path, to: str, reason: str | None = None) -> Path:
        """Move a draft's .eml (and its .txt) to folder `to`; return the new .eml path.

        In failed/ the reason is written to `<stem>.reason.txt`. A name already taken in
        the target gets a `~N` suffix rather than overwriting an earlier file. A file
        already in `to` stays as it is.
        """
        if path.parent == self.folder(to):
            return path
        target = _free_name(self.folder(to), path.name)
        if to == "failed" and reason:
            _write_atomic(target.with_suffix(".reason.txt"), (reason.rstrip() + "\n").encode())
        context = path.with_name(_txt(path.name))
        if context.exists():
            os.replace(context, target.with_name(_txt(target.name)))
        old_reason = path.with_suffix(".reason.txt")
        if old_reason.exists() and to != "failed":
            old_reason.unlink()
        os.replace(path, target)
        return target

    def read_approved(self, path: Path) -> ApprovedDraft:
        """Read a file from approved/; ReviewFileError says why it cannot be sent."""
        return approved_from_bytes(path.name, _read_capped(path), path)


def _txt(eml_name: str) -> str:
    return eml_name.removesuffix(".eml") + ".txt"


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{name.removesuffix('.eml')}~{n}.eml"
    return target


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    # The renames survive a power cut only once the folder itself is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some network shares cannot open a directory: nothing more to do
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_capped(path: Path) -> bytes:
    # One byte more than allowed: approved_from_bytes then refuses it unparsed.
    with open(path, "rb") as f:
        return f.read(MAX_DRAFT_BYTES + 1)


def _parse(data: bytes) -> Message:
    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception as exc:  # noqa: BLE001 - the stdlib raises many types on junk
        raise ReviewFileError(f"cannot be read as an email ({exc.__class__.__name__}: "
                              f"{exc}), so it is not sent") from None
    if not message.keys():
        raise ReviewFileError("has no mail headers: not an email, so it is not sent")
    return message


def _subject(message: Message) -> str:
    raw = str(message.get("Subject", ""))
    try:
        raw = str(make_header(decode_header(raw)))
    except (LookupError, ValueError, UnicodeError):
        pass  # a malformed encoded word: compare it as written
    return " ".join(raw.split())
