"""One process per state folder: an exclusive flock on state/inquiryd.lock.

The kernel drops a flock when its process dies, however it dies, so a crash never
leaves the lock stuck; the file keeps the holder's pid only to name it in the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from daemon.errors import LockedError


class StateLock:
    def __init__(self, state_dir: Path, purpose: str, name: str = "inquiryd.lock"):
        self.path = state_dir / name
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LockedError(
                f"{self.path.parent} is in use by {holder}; "
                f"only one inquiryd may {self.purpose} this state at a time", holder
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"inquiryd pid {os.getpid()} ({self.purpose})\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
