"""`inquiryd doctor`: the first command on a new install, one line per thing checked.

Each line is OK, WARN (works, but look), FAIL (will not work) or SKIP (not tried), and
every line that is not OK says what to do. Checked: the config and the passwords it
names, rules and templates (checks.file_problems, as `inquiryd check`), the database
schema, the state and review folders (really writable, by creating and removing a
file), the logins (checks.imap_login / smtp_login, unless offline), and the schedule:
the time zone and the next runs, from the triggers the service schedules.

Nothing is created that the service would then find owned by the wrong user: a
missing SQLite file or review folder is reported, not made. The IMAP review backend
is the exception: opening it creates its missing folders, as the service would.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal


from daemon import checks, config
from daemon.config import Settings
from daemon.errors import ConfigError, InquirydError
from daemon.models import utcnow
from daemon.review_folder import FOLDERS
from daemon.service import next_runs

# The User= of systemd/inquiryd.service: the one the fixes hand files to.
SERVICE_USER = "inquiryd"

Status = Literal["OK", "WARN", "FAIL", "SKIP"]


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str   # config, files, database, state, review, mailbox, smtp, schedule, user
    text: str
    fix: str = ""


@dataclass
class Report:
    findings: list[Finding]
    schedule: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if any(f.status == "FAIL" for f in self.findings) else 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.exit_code == 0, "checks": [asdict(f) for f in self.findings],
                "schedule": self.schedule}


# ------------------------------------------------------------------ the schedule (pure)


def schedule_findings(plan: dict[str, Any]) -> list[Finding]:
    """The schedule as lines: time zone, next polls, sweep, follow-ups, reports."""
    now = datetime.fromisoformat(plan["now"])
    machine = time.strftime("%Z")
    found = [Finding("OK", "schedule", f"time zone {plan['timezone']}: now {_when(now)} "
                     f"there (UTC{plan['now'][-6:]}); this machine's clock is in {machine}")]
    polls = [_when(datetime.fromisoformat(t)) for t in plan["polls"]]
    every = plan["poll_every_minutes"]
    polls += [f"every {every} min"] if every else []
    found.append(Finding("OK", "schedule", f"next polls: {', '.join(polls)}") if polls else
                 Finding("FAIL", "schedule", "no poll is scheduled",
                         'set schedule.polls, e.g. ["08:30", "12:30", "17:30"]'))
    found.append(Finding("OK", "schedule",
                         f"review sweep: every {plan['review_sweep_seconds']} s"))
    for key, label in (("followups", "follow-ups"), ("reports", "reports (A-grade list)")):
        if plan[key]:
            found.append(Finding("OK", "schedule",
                                 f"{label}: next {_when(datetime.fromisoformat(plan[key]))}"))
        else:
            found.append(Finding("WARN", "schedule", f"{label}: never runs",
                                 f"give schedule.{key} a time that comes"))
    return found


def _when(moment: datetime) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M}"


# ------------------------------------------------------------------ the checks (I/O)


def diagnose(config_path: Path, *, offline: bool, now: datetime | None = None) -> Report:
    """Every check, in the order a newcomer fixes things; see the module docstring."""
    try:
        settings = config.load(config_path, require_secrets=False)
    except ConfigError as exc:
        return Report([Finding("FAIL", "config", p, "correct it (inquiryd.example.toml "
                               "explains every key)") for p in exc.problems])
    plan = next_runs(settings, now or utcnow())
    findings = [Finding("OK", "config", f"config {settings.source}"), *_user(),
                *_secrets(settings, offline), *_files(settings), *_database(settings),
                *_folders(settings), *_review_imap(settings, offline),
                *_logins(settings, offline), *schedule_findings(plan)]
    return Report(findings, plan)


def _user() -> list[Finding]:
    if os.geteuid() != 0:
        return []
    return [Finding("WARN", "user", "running as root, who may write where the service "
                    "may not", f"run it as {SERVICE_USER}: `inq doctor` with the README's "
                    "`inq` helper")]


def _secrets(settings: Settings, offline: bool) -> list[Finding]:
    status: Status = "WARN" if offline else "FAIL"
    return [Finding(status, "config", problem, _secret_fix(problem))
            for problem in settings.secret_problems]


def _secret_fix(problem: str) -> str:
    if "$CREDENTIALS_DIRECTORY" in problem:
        return "set CREDENTIALS_DIRECTORY=/etc/inquiryd/credentials, or run it as the service"
    if "password_env" in problem:
        return "export that variable, or name a password_file instead"
    return f"write the password there, readable by {SERVICE_USER} (or use LoadCredential=)"


def _files(settings: Settings) -> list[Finding]:
    problems = checks.file_problems(settings)
    if problems:
        return [Finding("FAIL", "files", p, f"set that key in {settings.source}"
                        if "(paths." in p else "correct it at the file and line named")
                for p in problems]
    return [Finding("OK", "files", f"rules {settings.paths.rules}, templates "
                    f"{settings.paths.templates} and attachments")]


def _database(settings: Settings) -> list[Finding]:
    from daemon.db import open_database

    url = settings.database_url
    problem = _sqlite_file(url)
    if problem:
        return [problem]
    try:
        db = open_database(url)
        try:
            safe, pending = db.safe_url, db.pending_revisions()
        finally:
            db.dispose()
    except Exception as exc:  # noqa: BLE001 - any driver or Alembic error is reported
        return [Finding("FAIL", "database", f"database: {_first_line(exc)}",
                        "start the database server, or correct [database] url")]
    if pending:
        return [Finding("WARN", "database", f"database {safe}: schema behind by "
                        f"{len(pending)} migration(s) ({', '.join(pending)})",
                        "inquiryd db upgrade (run does it too)")]
    return [Finding("OK", "database", f"database {safe}: schema at the newest revision")]


def _sqlite_file(url: str) -> Finding | None:
    """A missing or unwritable SQLite file; looked at before connecting, which would
    create it (owned by whoever runs this)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - open_database reports a malformed URL
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database or "")
    if not path.exists():
        return Finding("WARN", "database", f"database {path}: not created yet",
                       f"inquiryd db upgrade, as {SERVICE_USER} (run does it too)")
    for target in (path, path.parent):  # SQLite writes its -wal file beside the database
        if not os.access(target, os.W_OK):
            return Finding("FAIL", "database", f"database {target} not writable",
                           f"chown {SERVICE_USER} {target}")
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def writable(folder: Path) -> str | None:
    """None when a file can be created in `folder` now, else why not (a real try: ACLs,
    read-only mounts and network shares answer only that)."""
    try:
        handle, name = tempfile.mkstemp(prefix=".inquiryd-doctor-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(handle)
    os.unlink(name)
    return None


def folder_finding(label: str, folder: Path) -> Finding | None:
    """A FAIL for a folder the service cannot write or create, else None."""
    if folder.is_dir():
        why = writable(folder)
        return None if why is None else Finding(
            "FAIL", label, f"{label} {folder} not writable ({why})",
            f"chown {SERVICE_USER} {folder}")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if existing.is_dir() and writable(existing) is None:
        return None  # created at first use
    return Finding("FAIL", label, f"{label} {folder} missing and {existing} not writable",
                   f"install -d -o {SERVICE_USER} {folder}")


def _folders(settings: Settings) -> list[Finding]:
    found = []
    problem = folder_finding("state folder", settings.paths.state)
    found.append(problem or Finding("OK", "state", f"state folder {settings.paths.state}"))
    if settings.review.backend != "folder":
        return found
    for root in settings.review_paths:
        problems = [f for f in (folder_finding("review folder", root / n) for n in FOLDERS) if f]
        found.extend(problems or [Finding("OK", "review", f"review folder {root} "
                                          f"({', '.join(FOLDERS)})")])
    return found


def _review_imap(settings: Settings, offline: bool) -> list[Finding]:
    if settings.review.backend != "imap":
        return []
    where = f"review folders {settings.review.imap_prefix}/* in mailbox " \
            f"{settings.review.imap_mailbox}"
    if offline:
        return [Finding("SKIP", "review", f"{where}: not tried (--offline)")]
    from daemon.review_imap import ImapReview

    try:
        with ImapReview.from_settings(settings) as review:
            names = [review.folder_name(f) for f in FOLDERS]
    except InquirydError as exc:
        return [Finding("FAIL", "review", str(exc), "check that mailbox's login and that "
                        "it may create folders")]
    return [Finding("OK", "review", f"review folders {', '.join(names)}")]


def _logins(settings: Settings, offline: bool) -> list[Finding]:
    found = []
    for box in settings.mailbox:
        if box.kind == "imap" and (offline or not settings.secret(box)):
            why = "--offline" if offline else "no password, see above"
            found.append(Finding("SKIP", "mailbox", f"mailbox {box.name}: login not tried "
                                 f"({why})"))
            continue
        problem = checks.imap_login(settings, box)
        what = "logged in" if box.kind == "imap" else "Maildir readable"
        found.append(Finding("OK", "mailbox", f"mailbox {box.name}: {what}, folders "
                             f"{', '.join(box.folders)} readable") if problem is None else
                     Finding("FAIL", "mailbox", problem, f"check mailbox {box.name}'s host, "
                             "port, tls, username, password and folders"))
    smtp = settings.smtp
    where = f"smtp {smtp.host}:{smtp.effective_port}"
    if offline or (smtp.username and not settings.secret(smtp)):
        why = "--offline" if offline else "no password, see above"
        return [*found, Finding("SKIP", "smtp", f"{where}: login not tried ({why})")]
    problem = checks.smtp_login(settings)
    if problem:
        return [*found, Finding("FAIL", "smtp", problem, "check [smtp] host, port, tls, "
                                "username and password")]
    what = "logged in" if smtp.username else "connected (no username: no login)"
    return [*found, Finding("OK", "smtp", f"{where}: {what}")]
