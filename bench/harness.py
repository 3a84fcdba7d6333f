"""The benchmark harness: each measurement in a child process of its own, and the table.

A scenario module (bench/ingest.py, draft.py ...) holds `SCENARIO` and
`measure(bench, count)`, which prepares in the runner's process (servers, seeded
databases, drafts on disk), then runs its two sides with `in_child`: `floor(params)`,
the bare libraries, and `inquiryd(params)`. Each returns {"items", "seconds", ...}; the
child adds its peak memory: VmHWM, the high-water mark of the child's own address
space, which starts afresh at exec (ru_maxrss would carry over the runner's peak).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class BenchError(Exception):
    """Something the person running the benchmark must fix; shown as one line."""


@dataclass(frozen=True)
class Scenario:
    name: str          # what --only takes
    title: str         # the table's first column
    unit: str          # what an item is
    full: int          # items in a full run
    quick: int         # items with --quick


@dataclass
class Bench:
    """What one run shares: a work folder, the seed, a Dovecot started on first use."""

    work: Path
    seed: int
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _dovecot: Any = None

    def folder(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True)
        return path

    def dovecot(self) -> Any:
        if self._dovecot is None:
            from tests.servers.dovecot import DOVEADM_BIN, DOVECOT_BIN, Dovecot, DovecotError

            if not (shutil.which(DOVECOT_BIN) and shutil.which(DOVEADM_BIN)):
                raise BenchError("Dovecot is missing: apt-get install dovecot-imapd")
            if os.geteuid() != 0:
                raise BenchError("the test Dovecot runs as root (its mail must belong to "
                                 "`dovecot`); run as root, or leave out ingest and poll")
            try:
                self._dovecot = self.stack.enter_context(Dovecot())
            except DovecotError as exc:
                raise BenchError(f"Dovecot did not start: {exc}") from None
        return self._dovecot


@contextlib.contextmanager
def bench_run(seed: int) -> Iterator[Bench]:
    with tempfile.TemporaryDirectory(prefix="inquiryd-bench-") as tmp:
        bench = Bench(Path(tmp), seed)
        with bench.stack:
            yield bench


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- children ---------------------------------------------------------------------------

def in_child(module: str, side: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run bench.MODULE.SIDE(params) in a fresh interpreter; its result with peak_mib."""
    request = json.dumps({"module": module, "side": side, "params": params})
    done = subprocess.run([sys.executable, "-m", "bench.harness"], input=request, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{module} ({side}) failed, exit {done.returncode}:\n{tail}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def peak_mib() -> float:
    """This process's peak resident memory, MiB (VmHWM; ru_maxrss where /proc is absent)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_main() -> None:
    request = json.loads(sys.stdin.read())
    module = importlib.import_module(f"bench.{request['module']}")
    result = getattr(module, request["side"])(request["params"])
    result["peak_mib"] = peak_mib()
    print(json.dumps(result))


# -- shared pieces ----------------------------------------------------------------------

def desk(work: Path, mailboxes: str = "", *, environ: dict[str, str] | None = None,
         extra: str = "") -> Any:
    """inquiryd settings with their state under WORK (tests/helpers.py writes the file)."""
    from tests.helpers import settings_for

    if not mailboxes:
        maildir = work / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        mailboxes = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{maildir}"\n'
    return settings_for(work, mailboxes, environ=environ, extra=extra)


def imap_desk(work: Path, accounts: list[dict[str, Any]]) -> Any:
    """Settings for IMAP mailboxes: host, port, user, password, name, folders each."""
    from types import SimpleNamespace

    from tests.helpers import imap_block

    blocks, environ = [], {}
    for a in accounts:
        user = SimpleNamespace(server=SimpleNamespace(host=a["host"], port=a["port"]),
                               name=a["user"])
        blocks.append(imap_block(user, name=a["name"], folders=tuple(a["folders"])))
        environ[f"PW_{a['name'].upper()}"] = a["password"]
    return desk(work, "".join(blocks), environ=environ)


def database(settings: Any) -> Any:
    from daemon.db import Database

    db = Database(settings.database_url)
    db.upgrade()
    return db


_SINK = r"""
import sys
from tests.servers.smtp import _EphemeralPortController

class Counter:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Counter.count += 1
        return "250 2.0.0 Ok: queued"

controller = _EphemeralPortController(Counter(), hostname="127.0.0.1", port=0,
                                      server_hostname="smtp.test", ready_timeout=10)
controller.start()
print(controller.port, flush=True)
for _ in sys.stdin:  # each line asks how many messages came in so far
    print(Counter.count, flush=True)
controller.stop()
"""


class SmtpSink:
    """The test aiosmtpd, counting what it gets, in a process of its own: the server's
    work must not share a GIL (or a peak RSS) with what is measured."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-c", _SINK], cwd=ROOT, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise BenchError("the test aiosmtpd did not start (pip install -e '.[test]')")
        self.port = int(line)

    def received(self) -> int:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("?\n")
        self._proc.stdin.flush()
        return int(self._proc.stdout.readline())

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@contextlib.contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    try:
        yield sink
    finally:
        sink.close()


if __name__ == "__main__":
    _child_main()
