"""Logging: one event per line on stderr (journald), as `event=name key=value ...`.

Call sites log `log.info("event=poll_done mailbox=%s stored=%d", ...)`; values with
spaces are quoted by `kv()`. Nothing secret is ever passed to a log call: passwords
live only in config.Settings._secrets and the connection calls that need them.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time, so a replaced stream is followed."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_inquiryd", False):
        root.setLevel(level)
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z"))
    root.addHandler(handler)
    root.setLevel(level)
    root._inquiryd = True  # type: ignore[attr-defined]
    # Library chatter (imapclient logs every command at DEBUG) stays out unless asked for.
    for noisy in ("imapclient", "apscheduler", "alembic", "aiosmtplib", "mailparser", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def kv(value: object) -> str:
    """A value safe to put after `key=` on one line."""
    text = str(value).replace("\n", "\\n").replace("\r", "\\r")
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text
