"""The shared review folder (I/O): drafts as .eml files that people move between folders.

    <root>/pending/   written here by the daemon, with a .txt of context beside each
    <root>/approved/  a person moved it here: send it (edits to subject or body are kept)
    <root>/rejected/  a person moved it here: never send it
    <root>/sent/      sent; kept for the record
    <root>/failed/    not sent, with <stem>.reason.txt saying why

Files are written under a temporary name in the same folder, fsynced and renamed, so a
reader (or a crash) never sees half a draft. A new draft is first staged in pending/
under a hidden name (`.unpublished.<name>`) and published by a rename once its row is
committed; the sweep publishes or discards what a killed process left staged. A move takes the .txt and reason first and
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
import errno
import hashlib
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import cached_property
from pathlib import Path
from typing import Self

from daemon.errors import PermanentError
from daemon.files import write_atomically
from daemon.header_text import clean_line

FOLDERS = ("pending", "approved", "rejected", "sent", "failed")
DRAFT_HEADER = "X-Inquiryd-Draft"
# Larger than any reply with its price sheet and e-samples; a bigger file is not ours.
MAX_DRAFT_BYTES = 40 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
# The draft ids inquiryd writes (daemon/draft.py makes them so). Any other value is not
# ours, and a NUL byte in one would even make PostgreSQL refuse the lookup.
_DRAFT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_NAME_CAP = 40
# A staged draft's prefix in pending/ until its row is committed (see stage_pending).
UNPUBLISHED = ".unpublished."
# A temporary or staged file this old belongs to no write still going on.
STALE_SECONDS = 3600
_NAME_BYTES = 200  # of a name moved in, leaving room for what is written beside it


@dataclass(frozen=True)
class Staged:
    """A draft written to pending/ under its hidden name, not yet published; `writer`
    is the writing instance's tag (writer_tag)."""

    name: str
    draft_id: str
    writer: str
    age_seconds: float

    def hidden(self, part: str) -> str:
        return f"{UNPUBLISHED}{self.writer}.{part}"

    @classmethod
    def of(cls, name: str, writer: str = "") -> Staged:
        """The draft `name` as instance `writer` staged it (stage_pending's writer)."""
        return cls(name, draft_id_from_name(name), writer_tag(writer), 0.0)


def stage_files(folder: Path, name: str, writer: str, context: str, data: bytes) -> None:
    """Write a draft's context and .eml under their hidden staged names in `folder`.

    Written in place, not through a temporary file: nobody reads a staged file before
    the write returned and its row was committed, and a write cut off by a crash has no
    row, so the sweep discards it. The rename that publishes it is the atomic step.
    """
    hidden = f"{UNPUBLISHED}{writer_tag(writer)}."
    for path, content in ((folder / (hidden + _txt(name)), context.encode("utf-8")),
                          (folder / (hidden + name), data)):
        with open(path, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())


def staged_in(folder: Path) -> list[Staged]:
    """The drafts staged in `folder`, by name (a context without its .eml counts)."""
    now = time.time()
    found: dict[str, Staged] = {}
    for entry in os.scandir(folder):
        if not entry.name.startswith(UNPUBLISHED) or entry.name.endswith(".tmp"):
            continue
        writer, _, rest = entry.name.removeprefix(UNPUBLISHED).partition(".")
        name = rest if rest.endswith(".eml") else rest.removesuffix(".txt") + ".eml"
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        known = found.get(name)
        found[name] = Staged(name, draft_id_from_name(name), writer,
                             min(age, known.age_seconds) if known else age)
    return [found[n] for n in sorted(found)]


def staged_context(staged: Staged, folder: Path) -> Path:
    return folder / staged.hidden(_txt(staged.name))


def writer_tag(instance: str) -> str:
    """A short file-name-safe tag for an instance id (host:pid:random has a colon)."""
    return hashlib.sha256(instance.encode()).hexdigest()[:8] if instance else "none"


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
        shown = ", ".join(clean_line(i)[:60] for i in ids)
        raise ReviewFileError(f"{len(ids)} {DRAFT_HEADER} headers ({shown}): "
                              "which draft this is cannot be told, so it is not sent")
    if not _DRAFT_ID.fullmatch(ids[0]):
        raise ReviewFileError(f"{DRAFT_HEADER} {clean_line(ids[0])[:60]!r} is not a draft "
                              "id inquiryd writes, so it is not sent")
    return ApprovedDraft(name, ids[0], data, message, _subject(message),
                         body_digest(message), path)


def check_size(size: int) -> None:
    """ReviewFileError for a draft too large to be one of ours (read no further)."""
    if size > MAX_DRAFT_BYTES:
        raise ReviewFileError(f"larger than {MAX_DRAFT_BYTES // 2**20} MiB: not a draft "
                              "inquiryd wrote, so it is not sent")


def header_draft_id(head: bytes) -> str:
    """The draft id in a header block ('' unless there is exactly one, and it is one)."""
    values = BytesHeaderParser(policy=compat32).parsebytes(head).get_all(DRAFT_HEADER) or []
    value = str(values[0]).strip() if len(values) == 1 else ""
    return value if _DRAFT_ID.fullmatch(value) else ""


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
        digest.update(f"{part.get_content_type()}\0{_filename(part)}\0".encode())
        digest.update(_part_bytes(part))
        digest.update(b"\0")
    return digest.hexdigest()


def _filename(part: Message) -> str:
    try:
        return part.get_filename() or ""
    except (TypeError, ValueError, LookupError):
        # A cut RFC 2231 continuation ("filename*0*=...; filename*") makes the stdlib
        # sort None with ints (TypeError); the name then counts as none.
        return ""


def _part_bytes(part: Message) -> bytes:
    # Only what both message classes offer alike: the drafting side's EmailMessage and
    # the sweep's compat32 parse of the file must give the same digest.
    payload = part.get_payload(decode=True)
    payload = payload if isinstance(payload, bytes) else b""
    if part.get_content_maintype() == "text":
        try:
            text = payload.decode(part.get_content_charset() or "us-ascii", "replace")
        except (LookupError, ValueError, TypeError):  # an unknown charset, a NUL in its
            text = payload.decode("latin-1")  # name or a cut parameter: the raw bytes
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
        """Write the draft and its context to pending/ at once; the .eml's file name."""
        name = self.stage_pending(draft_id, message, context, grade=grade,
                                  buyer_label=buyer_label, when=when)
        self.publish(Staged.of(name))
        return name

    def stage_pending(self, draft_id: str, message: EmailMessage, context: str, *,
                      grade: str, buyer_label: str, when: datetime, writer: str = "") -> str:
        """Write the draft and its context to pending/ under hidden names, tagged with
        the writing instance; the name it takes once `publish`ed. Nobody sees it, and no
        sweep lists it, before then."""
        check_draft_header(draft_id, message)
        name = self.file_name(draft_id, grade=grade, buyer_label=buyer_label, when=when)
        stage_files(self.folder("pending"), name, writer, context, eml_bytes(message))
        return name

    def publish(self, staged: Staged, *, late: bool = False) -> None:
        """Show a staged draft in pending/ (a draft already shown stays as it is)."""
        pending = self.folder("pending")
        # The context first: once the .eml shows, a reviewer finds its .txt beside it.
        for part in (_txt(staged.name), staged.name):
            try:
                os.replace(pending / staged.hidden(part), pending / part)
            except FileNotFoundError:
                pass  # a part never written, or another publisher was first
        _fsync_dir(pending)

    def discard(self, staged: Staged) -> None:
        """Remove a staged draft that will never be recorded."""
        pending = self.folder("pending")
        for part in (_txt(staged.name), staged.name):
            (pending / staged.hidden(part)).unlink(missing_ok=True)

    def unpublished(self) -> list[Staged]:
        """The staged drafts in pending/ (left by a process stopped between writing a
        draft and publishing it), by name, with their writer and age in seconds."""
        return staged_in(self.folder("pending"))

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
        """Remove the temporary files of writes cut off by a crash, once an hour old
        (a .txt always moves with its .eml: nothing else to put in order)."""
        now = time.time()
        for folder in FOLDERS:
            for entry in os.scandir(self.folder(folder)):
                if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                    continue
                try:
                    if now - entry.stat().st_mtime > STALE_SECONDS:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    continue

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
            write_atomically(target.with_suffix(".reason.txt"),
                             (reason.rstrip() + "\n").encode())
        context = path.with_name(_txt(path.name))
        if _exists(context):
            os.replace(context, target.with_name(_txt(target.name)))
        old_reason = path.with_suffix(".reason.txt")
        if to != "failed" and _exists(old_reason):
            old_reason.unlink()
        os.replace(path, target)
        return target

    def read_approved(self, path: Path) -> ApprovedDraft:
        """Read a file from approved/; ReviewFileError says why it cannot be sent."""
        return approved_from_bytes(path.name, _read_capped(path), path)


def _txt(eml_name: str) -> str:
    return eml_name.removesuffix(".eml") + ".txt"


def _exists(path: Path) -> bool:
    """Path.exists(), and False for a name longer than the file system takes."""
    try:
        return path.exists()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return False
        raise


def _free_name(folder: Path, name: str) -> Path:
    if len(name.encode()) > _NAME_BYTES:
        # Someone else's long name (a mail client names a saved message by its subject):
        # shortened, so that "~N", ".reason.txt" and the temporary name of a file
        # written beside it still fit the 255 bytes most file systems allow.
        stem = name.removesuffix(".eml").encode()[:_NAME_BYTES - 4]
        name = stem.decode("utf-8", "ignore") + ".eml"
    target = folder / name
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{name.removesuffix('.eml')}~{n}.eml"
    return target


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
    raw = next((str(v) for k, v in message.raw_items() if k.lower() == "subject"), "")
    data = raw.encode("utf-8", "surrogateescape")
    if not data.isascii():
        # An editor saved it as raw UTF-8: the stdlib would read each byte as U+FFFD,
        # and the sweep would record a subject that was never sent.
        raw = data.decode("utf-8", "replace")
    else:
        try:
            raw = str(make_header(decode_header(raw)))
        except (LookupError, ValueError, UnicodeError, HeaderParseError):
            pass  # a malformed encoded word ("=?utf-8?b?abcde?="): compare it as written
    # It is recorded as the subject sent: no control character (PostgreSQL refuses NUL).
    return " ".join(clean_line(raw).split())
