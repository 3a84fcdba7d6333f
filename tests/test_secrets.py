"""No password leaks: real work with DEBUG logging, then every trace of it is searched.

Distinctive passwords are planted (IMAP in a credentials folder as systemd hands it over,
SMTP in an environment variable, and a wrong one for the failing logins), inquiryd polls
Dovecot, drafts, sends through aiosmtpd with AUTH, and fails to log in on both servers.
Then the log (stderr and stdout of every command), every file under the state folder
(review folder, database, WAL) and every text and blob column of every table, found by
reflecting the database, are searched for each password as written and as AUTH PLAIN and
AUTH LOGIN carry it in base64. The same run's log lines are checked to be one event per
line: `event=<name>` first, then key=value fields.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.types import JSON, LargeBinary, String

from tests.helpers import COMPANY, ROOT, inquiry

IMAP_PW = "Imap-Planted.Xq7Vk2Lm"
SMTP_PW = "Smtp-Planted.Rz4Wm9Tn"
WRONG_PW = "Wrong-Planted.Ty1Pq5Hc"
SMTP_USER = "desk@inquiryd.test"

# A value is bare, or quoted as logs.kv() quotes it, or as Python's repr() does.
VALUE = r"(\"([^\"\\]|\\.)*\"|'([^'\\]|\\.)*'|[^\s\"'=]*)"
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ "
    rf"event=[a-z][a-z0-9_]*( [a-z][a-z0-9_]*={VALUE})*$")
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} [A-Z]+ ")


def needles(user: str) -> dict[str, bytes]:
    """Each password as text, and as SMTP AUTH PLAIN and AUTH LOGIN put it on the wire."""
    found = {}
    for name, login, password in (("imap", user, IMAP_PW), ("smtp", SMTP_USER, SMTP_PW),
                                  ("wrong", user, WRONG_PW), ("wrong-smtp", SMTP_USER, WRONG_PW)):
        found[name] = password.encode()
        found[f"{name} AUTH PLAIN"] = base64.b64encode(f"\0{login}\0{password}".encode())
        found[f"{name} AUTH LOGIN"] = base64.b64encode(password.encode())
    return found


def leaks(where: str, data: bytes, wanted: dict[str, bytes]) -> list[str]:
    return [f"{name} in {where}" for name, needle in wanted.items() if needle in data]


class Desk:
    """A config (good or with wrong passwords) over one state, run as systemd would."""

    def __init__(self, tmp_path: Path, user: Any, smtp: Any, *, wrong: bool = False):
        self.root = tmp_path
        self.creds = tmp_path / ("bad-credentials" if wrong else "credentials")
        self.creds.mkdir()
        (self.creds / "imap-sales").write_text((WRONG_PW if wrong else IMAP_PW) + "\n")
        self.env = {**os.environ, "CREDENTIALS_DIRECTORY": str(self.creds),
                    "INQ_SMTP_PW": WRONG_PW if wrong else SMTP_PW}
        self.config = tmp_path / ("bad.toml" if wrong else "inquiryd.toml")
        self.config.write_text(
            COMPANY + f'[[mailbox]]\nname = "sales"\nkind = "imap"\nhost = "{user.server.host}"\n'
            f'port = {user.server.port}\ntls = "none"\nusername = "{user.name}"\n'
            'password_file = "$CREDENTIALS_DIRECTORY/imap-sales"\ntimeout_seconds = 5\n'
            f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
            f'username = "{SMTP_USER}"\npassword_env = "INQ_SMTP_PW"\ntimeout_seconds = 5\n'
            'sender = "Sales <sales@brightstar.example>"\n'
            "[ingest]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.1\n"
            "[sending]\nper_minute = 10000\n"
            f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
            f'state = "{tmp_path / "state"}"\n', encoding="utf-8")
        self.runs: list[tuple[str, subprocess.CompletedProcess[bytes]]] = []

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([sys.executable, "-m", "daemon", "-v", "-c", str(self.config),
                               *argv], cwd=ROOT, env=self.env, capture_output=True, timeout=120)
        self.runs.append((" ".join(argv), done))
        return done


def approve(state: Path, count: int) -> None:
    review = state / "review"
    for path in sorted((review / "pending").glob("*.eml"))[:count]:
        target = review / "approved" / path.name
        shutil.move(path, target)
        os.utime(target, (0, 0))  # older than the settle time the sweep waits for


def database_leaks(url: str, wanted: dict[str, bytes]) -> tuple[list[str], int]:
    """Leaks in every text, JSON and blob column of every table; and how many columns."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    found, columns = [], 0
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, LargeBinary, JSON)):
                    continue
                columns += 1
                for (value,) in connection.execute(select(column)):
                    data = value if isinstance(value, bytes) else str(value).encode()
                    found += leaks(f"{table.name}.{column.name}", data, wanted)
    engine.dispose()
    return found, columns


@pytest.fixture(scope="module")
def planted(dovecot: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The good and the bad desk after a day's work; see the module docstring."""
    from tests.servers.smtp import SmtpServer

    tmp_path = tmp_path_factory.mktemp("secrets")
    user = dovecot.add_user(f"leak{secrets.token_hex(4)}", IMAP_PW)
    dovecot.append_many(user.name, "INBOX", [inquiry(n) for n in range(4)])
    dovecot.create_folder(user.name, "Sent")
    with SmtpServer(user=SMTP_USER, password=SMTP_PW) as smtp:
        good, bad = Desk(tmp_path, user, smtp), Desk(tmp_path, user, smtp, wrong=True)
        state = tmp_path / "state"
        doctor = good("doctor").stdout.decode()
        assert "OK    mailbox sales: logged in" in doctor and "smtp 127.0.0.1" in doctor
        assert good("poll").returncode == 0
        approve(state, 2)
        assert good("send").returncode == 0
        approve(state, 1)
        assert bad("send").returncode == 0      # SMTP login refused: the draft waits
        assert bad("poll").returncode == 0      # IMAP login refused, retried, recorded
        assert bad("check").returncode == 1
        assert bad("doctor").returncode == 1
        assert good("status", "--json").returncode == 0
        yield {"user": user, "smtp": smtp, "accepted": smtp.accepted, "state": state,
               "runs": good.runs + bad.runs}


def test_the_work_really_happened(planted: dict[str, Any]) -> None:
    """The search below means something only if the passwords were used and refused."""
    accepted = planted["accepted"]
    assert len(accepted) == 2 and {m.login for m in accepted} == {SMTP_USER}
    log = b"".join(done.stderr for _, done in planted["runs"]).decode()
    assert " DEBUG " in log
    assert "event=mailbox_error mailbox=sales" in log and "login refused" in log
    assert "event=smtp_unavailable" in log and f"login as {SMTP_USER} refused" in log
    assert len(list((planted["state"] / "review" / "approved").glob("*.eml"))) == 1


def test_no_password_in_the_log_the_files_or_the_database(planted: dict[str, Any]) -> None:
    wanted = needles(planted["user"].name)
    found: list[str] = []
    for command, done in planted["runs"]:
        found += leaks(f"the output of `{command}`", done.stdout + done.stderr, wanted)
    files = [p for p in planted["state"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".eml" for p in files) and any(p.suffix == ".db" for p in files)
    for path in files:
        found += leaks(str(path), path.read_bytes(), wanted)
    in_db, columns = database_leaks(f"sqlite:///{planted['state'] / 'inquiryd.db'}", wanted)
    assert columns >= 50  # every table was walked, raw mail and drafts included
    assert found + in_db == []


def test_the_search_finds_a_planted_password() -> None:
    wanted = needles("someone")
    auth = b"AUTH PLAIN " + base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PW}".encode())
    assert leaks("a wire log", auth, wanted) == ["smtp AUTH PLAIN in a wire log"]
    assert leaks("a file", f"password={IMAP_PW}".encode(), wanted) == ["imap in a file"]


def test_log_lines_are_one_event_each_with_key_value_fields(planted: dict[str, Any]) -> None:
    lines = [line for command, done in planted["runs"] if command.split()[0] in ("poll", "send")
             for line in done.stderr.decode().splitlines()]
    assert len(lines) > 20
    assert [line for line in lines if not LOG_PREFIX.match(line)] == []  # no stray text
    assert [line for line in lines if not LOG_LINE.match(line)] == []
