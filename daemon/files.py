"""Writing files whole or not at all (I/O): the one way inquiryd writes a file others read.

The bytes go to a temporary file beside the target, are flushed to disk, and the file is
renamed over the target, so a reader (a person's mail client, the sweep, a share) never
sees half a draft, price sheet or invoice, and a crash leaves the old file or the new.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
