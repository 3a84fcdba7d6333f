"""A child process the reliability tests run, kill with SIGKILL, and run again; the
JSON lines it leaves behind, read as they come."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """One command run again and again; stderr kept per run for the failure message."""

    def __init__(self, args: Sequence[str], logs: Path, env: Mapping[str, str] | None = None):
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.logs = logs
        logs.mkdir(exist_ok=True)
        self.runs = 0

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        """Start a run; `extra` arguments follow the fixed ones for this run only."""
        self.runs += 1
        with (self.logs / f"run-{self.runs:03d}.log").open("wb") as err:
            return subprocess.Popen([*self.args, *extra], cwd=ROOT, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)

    def log(self) -> str:
        return (self.logs / f"run-{self.runs:03d}.log").read_text(errors="replace")[-3000:]

    def run_to_end(self, timeout: float = 120) -> float:
        began = time.monotonic()
        proc = self.start()
        assert proc.wait(timeout) == 0, f"clean run exited {proc.returncode}:\n{self.log()}"
        return time.monotonic() - began

    def run_and_kill(self, delay: float) -> bool:
        """Start, wait `delay` s, SIGKILL if still running; True when it was killed."""
        proc = self.start()
        try:
            code = proc.wait(delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        assert code == 0, f"a run that was not killed exited {code}:\n{self.log()}"
        return False


def kill9(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL a run and reap it; True when it was still running."""
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


class JsonLines:
    """A file of JSON objects, one a line, that a child appends to: read on as it grows,
    whole lines only (a killed writer leaves no half line: each line is one write())."""

    def __init__(self, path: Path):
        self.path, self.pos, self.rest = path, 0, b""

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        *lines, self.rest = (self.rest + data).split(b"\n")
        return [json.loads(line) for line in lines if line]
