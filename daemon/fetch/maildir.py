"""Maildir source: a local folder of mail files (the sample inbox, or a server's store).

Read-only: files stay where they are (new/ is not moved to cur/, no flag is added).
Each message's unique name (the file name before ":2,") is its identity; what is
already stored is passed in, so nothing is read twice.
"""

from __future__ import annotations

import os
from pathlib import Path

from daemon.config import Mailbox
from daemon.errors import MailboxError
from daemon.fetch import Cursor, Fetched, FolderInfo, Ref


def maildir_key(file_name: str) -> str:
    return file_name.split(":", 1)[0]


class MaildirSource:
    def __init__(self, mailbox: Mailbox):
        assert mailbox.path is not None
        self.mailbox = mailbox
        self.root: Path = mailbox.path
        self._files: dict[str, Path] = {}

    def __enter__(self) -> MaildirSource:
        if not (self.root / "new").is_dir() and not (self.root / "cur").is_dir():
            raise MailboxError(f"{self.mailbox.name}: {self.root} is not a Maildir "
                               "(no new/ or cur/ folder)")
        return self

    def __exit__(self, *exc: object) -> None:
        self._files = {}

    def folder_path(self, folder: str) -> Path:
        # "INBOX" is the Maildir itself; other folders are Maildir++ ".Name" sub-folders.
        return self.root if folder.upper() == "INBOX" else self.root / f".{folder}"

    def open_folder(self, folder: str) -> FolderInfo:
        path = self.folder_path(folder)
        files: dict[str, Path] = {}
        for sub in ("new", "cur"):
            try:
                entries = sorted(os.scandir(path / sub), key=lambda e: e.name)
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    files[maildir_key(entry.name)] = Path(entry.path)
        self._files = files
        return FolderInfo(folder, 0, None)

    def pending(self, info: FolderInfo, cursor: Cursor) -> list[Ref]:
        """Unique names not stored yet, oldest delivery first (names start with time)."""
        return [key for key in sorted(self._files) if key not in cursor.known_keys]

    def fetch(self, info: FolderInfo, refs: list[Ref]) -> list[Fetched]:
        fetched = []
        for key in map(str, refs):
            try:
                raw = self._files[key].read_bytes()
            except FileNotFoundError:
                continue  # moved or deleted by a person since the folder was opened
            except OSError as exc:
                raise MailboxError(f"{self.mailbox.name}: cannot read {self._files[key]}: "
                                   f"{exc.strerror}") from None
            fetched.append(Fetched(info.name, 0, None, key, raw))
        return fetched
