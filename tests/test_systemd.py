"""The systemd unit: it loads cleanly, it is hardened, and what it starts works as systemd
expects (READY, WATCHDOG, STOPPING; passwords from $CREDENTIALS_DIRECTORY; SIGHUP, SIGTERM).

`systemd-analyze` works on a unit file without a running systemd. Where it is missing,
these checks fail in CI (CI=true) and skip elsewhere.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import COMPANY, ROOT

UNIT = ROOT / "systemd" / "inquiryd.service"
INSTALLED_PROGRAM = "/opt/inquiryd/.venv/bin/inquiryd"
MAX_EXPOSURE = 2.0
# Generous limits for a slow machine; nothing here asserts how fast anything is.
WAIT = 120

# The settings the unit must keep: the service contract, then the hardening.
CONTRACT = {
    "Type": ["notify"],
    "NotifyAccess": ["main"],
    "WatchdogSec": ["60"],
    "ExecStart": [f"{INSTALLED_PROGRAM} -c /etc/inquiryd/inquiryd.toml run"],
    "ExecReload": ["/bin/kill -HUP $MAINPID"],
    "KillSignal": ["SIGTERM"],
    "TimeoutStopSec": ["60"],
    "Restart": ["on-failure"],
    "RestartSec": ["10"],
    "User": ["inquiryd"],
    "Group": ["inquiryd"],
    "StateDirectory": ["inquiryd"],
    "WorkingDirectory": ["/var/lib/inquiryd"],
    "LoadCredential": ["imap-sales:/etc/inquiryd/credentials/imap-sales",
                       "smtp:/etc/inquiryd/credentials/smtp"],
    "StandardOutput": ["journal"],
    "StandardError": ["journal"],
}
HARDENING = {
    "ProtectSystem": ["strict"],
    "ProtectHome": ["yes"],
    "PrivateTmp": ["yes"],
    "PrivateDevices": ["yes"],
    "PrivateUsers": ["yes"],
    "NoNewPrivileges": ["yes"],
    "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
    "SystemCallFilter": ["@system-service", "~@privileged @resources"],
    "SystemCallArchitectures": ["native"],
    "CapabilityBoundingSet": [""],
    "AmbientCapabilities": [""],
    "ProtectKernelTunables": ["yes"],
    "ProtectKernelModules": ["yes"],
    "ProtectKernelLogs": ["yes"],
    "ProtectControlGroups": ["yes"],
    "ProtectClock": ["yes"],
    "ProtectHostname": ["yes"],
    "ProtectProc": ["invisible"],
    "ProcSubset": ["pid"],
    "RestrictNamespaces": ["yes"],
    "RestrictRealtime": ["yes"],
    "RestrictSUIDSGID": ["yes"],
    "LockPersonality": ["yes"],
    "MemoryDenyWriteExecute": ["yes"],
    "RemoveIPC": ["yes"],
    "UMask": ["0027"],
}


def service_section(text: str) -> dict[str, list[str]]:
    """KEY -> every value given in [Service], in order (the unit uses no continuations)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.fixture(scope="module")
def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        reason = "systemd-analyze is missing: apt-get install systemd"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"missing in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def run_analyze(analyze: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "",
           "SYSTEMD_LOG_LEVEL": "info"}
    return subprocess.run([analyze, "--no-pager", *args], check=False, capture_output=True,
                          text=True, env=env, timeout=WAIT)


def this_checkouts_program() -> str:
    program = Path(sys.executable).with_name("inquiryd")
    assert program.exists(), f"{program}: install the project into this venv (pip install -e .)"
    return str(program)


def test_unit_keeps_the_service_contract() -> None:
    unit = service_section(UNIT.read_text(encoding="utf-8"))
    wrong = {k: unit.get(k) for k, v in CONTRACT.items() if unit.get(k) != v}
    assert not wrong, f"expected {({k: CONTRACT[k] for k in wrong})}"


def test_every_hardening_setting_is_present() -> None:
    unit = service_section(UNIT.read_text(encoding="utf-8"))
    wrong = {k: unit.get(k) for k, v in HARDENING.items() if unit.get(k) != v}
    assert not wrong, f"expected {({k: HARDENING[k] for k in wrong})}"
    assert "DynamicUser" not in unit  # a static user: see systemd/README.md


def test_verify_finds_nothing_wrong(analyze: str, tmp_path: Path) -> None:
    # The unit starts /opt/inquiryd/.venv/bin/inquiryd, which a test machine lacks, and
    # verify rightly flags a missing program. Check a copy that differs only in that
    # path, pointed at this checkout's real console script: then verify must be silent.
    shipped = UNIT.read_text(encoding="utf-8")
    copy = shipped.replace(f"ExecStart={INSTALLED_PROGRAM} ",
                           f"ExecStart={this_checkouts_program()} ")
    changed = [(a, b) for a, b in zip(shipped.splitlines(), copy.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("ExecStart=")
    (tmp_path / UNIT.name).write_text(copy, encoding="utf-8")

    result = run_analyze(analyze, "verify", "--man=no", "--recursive-errors=yes",
                         str(tmp_path / UNIT.name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""


def test_verify_of_the_shipped_unit_only_misses_the_installed_program(analyze: str) -> None:
    result = run_analyze(analyze, "verify", "--man=no", "--recursive-errors=yes", str(UNIT))
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    allowed = f"inquiryd.service: Command {INSTALLED_PROGRAM} is not executable"
    assert all(line.startswith(allowed) for line in lines), lines
    if not Path(INSTALLED_PROGRAM).exists():
        assert lines and result.returncode != 0


def exposure(analyze: str, unit: Path) -> tuple[float, int]:
    # --threshold counts tenths: 20 is an exposure of 2.0.
    result = run_analyze(analyze, "security", "--offline=true",
                         f"--threshold={round(MAX_EXPOSURE * 10)}", str(unit))
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1)), result.returncode


def test_security_exposure_is_at_most_2(analyze: str) -> None:
    level, code = exposure(analyze, UNIT)
    assert level <= MAX_EXPOSURE and code == 0


def test_exposure_check_catches_a_unit_without_hardening(analyze: str, tmp_path: Path) -> None:
    # The check has teeth: the same unit with the hardening block dropped scores far worse.
    kept = [line for line in UNIT.read_text(encoding="utf-8").splitlines()
            if line.partition("=")[0] not in HARDENING
            and not line.startswith(("PrivateMounts", "SystemCallErrorNumber"))]
    (tmp_path / UNIT.name).write_text("\n".join(kept) + "\n", encoding="utf-8")
    level, code = exposure(analyze, tmp_path / UNIT.name)
    assert level > MAX_EXPOSURE and code != 0


def exec_start_argv() -> list[str]:
    """The unit's ExecStart, with this checkout's program in place of the installed one."""
    argv = shlex.split(service_section(UNIT.read_text(encoding="utf-8"))["ExecStart"][0])
    assert argv[0] == INSTALLED_PROGRAM
    return [this_checkouts_program(), *argv[1:]]


def test_exec_start_is_a_valid_command_line() -> None:
    argv = exec_start_argv()
    result = subprocess.run([*argv, "--help"], check=False, capture_output=True, text=True,
                            timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert "foreground" in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_unit_command_runs_as_systemd_starts_it(tmp_path: Path) -> None:
    """NOTIFY_SOCKET and CREDENTIALS_DIRECTORY set, cwd the state folder, as the unit does:
    READY=1, WATCHDOG=1, SIGHUP reloads, SIGTERM sends STOPPING=1 and exits 0."""
    unit = service_section(UNIT.read_text(encoding="utf-8"))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    names = [spec.partition(":")[0] for spec in unit["LoadCredential"]]
    for name in names:
        (credentials / name).write_text(f"secret-{name}\n", encoding="utf-8")
        (credentials / name).chmod(0o400)
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "inquiryd.toml"
    # The passwords as README.md tells to write them; a missing credential stops start-up.
    config.write_text(
        COMPANY
        + '[[mailbox]]\nname = "sales"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {free_port()}\ntls = "none"\nusername = "sales"\n'
        'password_file = "$CREDENTIALS_DIRECTORY/imap-sales"\ntimeout_seconds = 5\n'
        '[smtp]\nhost = "127.0.0.1"\ntls = "none"\nusername = "sales"\n'
        'password_file = "$CREDENTIALS_DIRECTORY/smtp"\nsender = "Sales <s@brightstar.example>"\n'
        '[ingest]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.2\n'
        f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
        f'state = "{state}"\n', encoding="utf-8")
    assert {"imap-sales", "smtp"} <= set(names)

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(1)
    argv = exec_start_argv()
    argv[argv.index("-c") + 1] = str(config)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "INVOCATION_ID")}
    env.update(NOTIFY_SOCKET=str(tmp_path / "notify"), CREDENTIALS_DIRECTORY=str(credentials))
    log = (tmp_path / "stderr").open("w+", encoding="utf-8")
    proc = subprocess.Popen(argv, cwd=state, env=env, stdout=subprocess.DEVNULL, stderr=log)

    def until(word: str) -> list[str]:
        """Notifications up to the one carrying WORD; fails at once if the daemon exits."""
        seen: list[str] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                message = notify.recv(4096).decode()
            except TimeoutError:
                if proc.poll() is not None:  # exited, and nothing more is queued
                    break
                continue
            seen.append(message)
            if word in message.split("\n"):
                return seen
        log.seek(0)
        pytest.fail(f"no {word} from the daemon (exit code {proc.poll()}):\n{log.read()}")

    try:
        assert any(m.startswith("STATUS=") for m in until("READY=1")[-1].split("\n"))
        proc.send_signal(signal.SIGHUP)
        until("WATCHDOG=1")  # the main loop's tick; the reload follows it, before any stop
        proc.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        code = proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()
    log.seek(0)
    text = log.read()
    assert code == 0, text
    assert "event=service_started" in text and "event=reloaded" in text
    assert "event=service_stopped" in text
    assert "secret-" not in text  # passwords never reach the journal
