"""`inquiryd doctor`: the schedule computed from the service's triggers (pure), then every
check against real servers: Dovecot, aiosmtpd, SQLite and PostgreSQL, real folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig

from daemon.cli import main
from daemon.db import MIGRATIONS, Database
from daemon.doctor import Finding, Report, schedule_findings
from daemon.service import fire_times, next_runs
from daemon.review_folder import FOLDERS
from daemon.service import poll_triggers, trigger
from tests.helpers import COMPANY, ROOT, settings_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAILDIR = '[[mailbox]]\nname = "local"\nkind = "maildir"\npath = "inbox"\n'


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def maildir_desk(tmp_path: Path, extra: str = "") -> str:
    """A desk reading a local Maildir, so nothing but the part under test can fail."""
    (tmp_path / "inbox" / "new").mkdir(parents=True)
    settings_for(tmp_path, MAILDIR, extra=extra)
    return str(tmp_path / "inquiryd.toml")


def lines(out: str, status: str) -> list[str]:
    return [line[6:] for line in out.splitlines() if line.startswith(status + " ")]


# ------------------------------------------------------------------ the schedule (pure)


def test_next_polls_come_in_order_across_midnight_in_company_time(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, MAILDIR)  # polls 08:30, 12:30, 17:30 Asia/Shanghai
    now = datetime(2026, 11, 24, 4, 0, tzinfo=ZoneInfo("UTC"))  # 12:00 in Shanghai
    times = fire_times(poll_triggers(settings), now, 4)
    assert [t.strftime("%d %H:%M") for t in times] == ["24 12:30", "24 17:30", "25 08:30",
                                                      "25 12:30"]
    assert all(t.utcoffset().total_seconds() == 8 * 3600 for t in times)


def test_next_runs_name_polls_follow_ups_and_reports(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, MAILDIR, extra=(
        '[schedule]\ntimezone = "Asia/Dubai"\npolls = ["30 8 * * 1-6"]\n'
        'poll_interval_minutes = 20\nfollowups = "10:15"\nreports = "0 8 1 * *"\n'))
    saturday_evening = datetime(2026, 11, 28, 20, 0, tzinfo=ZoneInfo("Asia/Dubai"))
    plan = next_runs(settings, saturday_evening)
    # Sunday is no working day in that crontab line: the next polls are Monday to Wednesday.
    assert plan["polls"] == ["2026-11-30T08:30:00+04:00", "2026-12-01T08:30:00+04:00",
                             "2026-12-02T08:30:00+04:00"]
    assert plan["poll_every_minutes"] == 20
    assert plan["followups"] == "2026-11-29T10:15:00+04:00"
    assert plan["reports"] == "2026-12-01T08:00:00+04:00"
    assert plan["now"] == "2026-11-28T20:00:00+04:00" and plan["timezone"] == "Asia/Dubai"


def test_fire_times_are_the_triggers_own() -> None:
    # What the scheduler would fire next is what doctor says: same trigger, same answer.
    trig = trigger("0 8 * * 1-5", SHANGHAI)
    friday_9 = datetime(2026, 7, 31, 9, 0, tzinfo=SHANGHAI)
    assert fire_times([trig], friday_9, 1) == [trig.get_next_fire_time(None, friday_9)]


def test_a_time_that_never_comes_and_no_polls_are_reported(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, MAILDIR, extra=(
        '[schedule]\npolls = []\nfollowups = "0 9 30 2 *"\n'))
    found = schedule_findings(next_runs(settings, datetime(2026, 11, 24, tzinfo=SHANGHAI)))
    by_text = {f.text: f for f in found}
    assert by_text["no poll is scheduled"].status == "FAIL"
    assert by_text["follow-ups: never runs"].status == "WARN"
    assert "schedule.followups" in by_text["follow-ups: never runs"].fix


def test_exit_code_is_1_only_when_something_fails() -> None:
    assert Report([Finding("OK", "x", "a"), Finding("WARN", "x", "b", "do b")]).exit_code == 0
    assert Report([Finding("SKIP", "x", "a"), Finding("FAIL", "x", "b", "do b")]).exit_code == 1


# ------------------------------------------------------------------ against real servers


def desk(tmp_path: Path, user: Any, smtp: Any, *, imap_password: str | None = None,
         extra: str = "") -> Path:
    """A config whose passwords are files, as under systemd; returns the config's path."""
    (tmp_path / "imap-pw").write_text((imap_password or user.password) + "\n")
    (tmp_path / "smtp-pw").write_text(f"{smtp.password}\n")
    box = (f'[[mailbox]]\nname = "sales"\nkind = "imap"\nhost = "{user.server.host}"\n'
           f'port = {user.server.port}\ntls = "none"\nusername = "{user.name}"\n'
           f'password_file = "{tmp_path / "imap-pw"}"\ntimeout_seconds = 5\n')
    settings_for(tmp_path, box, extra=(
        f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
        f'username = "{smtp.user}"\npassword_file = "{tmp_path / "smtp-pw"}"\n'
        'sender = "Sales <sales@brightstar.example>"\ntimeout_seconds = 5\n' + extra))
    return tmp_path / "inquiryd.toml"


@pytest.fixture
def smtp_auth(smtp_server_factory: Any) -> Any:
    return smtp_server_factory(user="doctor@inquiryd.test", password="smtp-doctor-pw")


def test_a_working_install_passes_with_logins_and_the_schedule(
        tmp_path: Path, imap_user: Any, smtp_auth: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = desk(tmp_path, imap_user, smtp_auth)
    run(capsys, "-c", str(config), "db", "upgrade")
    code, out, err = run(capsys, "-c", str(config), "doctor")
    assert code == 0 and "Traceback" not in err, out
    assert not lines(out, "FAIL") and out.rstrip().splitlines()[-1].startswith("all checks passed")
    ok = "\n".join(lines(out, "OK"))
    assert "mailbox sales: logged in, folders INBOX readable" in ok
    assert f"smtp {smtp_auth.host}:{smtp_auth.port}: logged in" in ok
    assert "schema at the newest revision" in ok
    assert f"review folder {tmp_path / 'state' / 'review'}" in ok
    assert "time zone Asia/Shanghai" in ok and "next polls: " in ok


def test_json_carries_every_check_and_the_schedule(
        tmp_path: Path, imap_user: Any, smtp_auth: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = desk(tmp_path, imap_user, smtp_auth)
    code, out, _ = run(capsys, "-c", str(config), "doctor", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert {c["check"] for c in report["checks"]} >= {
        "config", "files", "database", "state", "review", "mailbox", "smtp", "schedule"}
    assert all(set(c) == {"status", "check", "text", "fix"} for c in report["checks"])
    assert all(c["fix"] for c in report["checks"] if c["status"] in ("WARN", "FAIL"))
    assert set(report["schedule"]) == {"timezone", "now", "polls", "poll_every_minutes",
                                       "review_sweep_seconds", "followups", "reports"}
    assert len(report["schedule"]["polls"]) == 3


def test_a_refused_login_fails_with_a_fix_and_offline_skips_it(
        tmp_path: Path, imap_user: Any, smtp_auth: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = desk(tmp_path, imap_user, smtp_auth, imap_password="not-the-password")
    code, out, err = run(capsys, "-c", str(config), "doctor")
    (failed,) = lines(out, "FAIL")
    assert code == 1 and "Traceback" not in out + err
    assert "mailbox sales: sales: login refused" in failed and failed.endswith(
        "check mailbox sales's host, port, tls, username, password and folders")
    assert "1 problem(s) to fix" in out
    code, out, _ = run(capsys, "-c", str(config), "doctor", "--offline")
    assert code == 0 and not lines(out, "FAIL")
    assert {line.split(":")[0] for line in lines(out, "SKIP")} == {
        "mailbox sales", f"smtp {smtp_auth.host}"}


def test_an_unreadable_password_file_fails_online_and_warns_offline(
        tmp_path: Path, imap_user: Any, smtp_auth: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = desk(tmp_path, imap_user, smtp_auth)
    (tmp_path / "smtp-pw").unlink()
    code, out, _ = run(capsys, "-c", str(config), "doctor")
    (failed,) = lines(out, "FAIL")
    assert code == 1 and f"cannot read {tmp_path / 'smtp-pw'}" in failed
    assert "readable by inquiryd" in failed
    assert any(s.endswith("login not tried (no password, see above)") for s in lines(out, "SKIP"))
    code, out, _ = run(capsys, "-c", str(config), "doctor", "--offline")
    assert code == 0 and any("cannot read" in w for w in lines(out, "WARN"))


def test_a_broken_config_fails_with_each_mistake_and_no_trace(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(COMPANY + MAILDIR + '[schedule]\ntimezone = "Nowhere/X"\npolls = ["25:00"]\n')
    code, out, err = run(capsys, "-c", str(bad), "doctor")
    failed = lines(out, "FAIL")
    assert code == 1 and "Traceback" not in out + err
    assert [f.split(": ")[1] for f in failed] == ["schedule.timezone", "schedule.polls[0]"]


def test_the_imap_review_backend_is_checked_by_logging_in(
        tmp_path: Path, imap_user: Any, smtp_auth: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = desk(tmp_path, imap_user, smtp_auth,
                  extra='[review]\nbackend = "imap"\nimap_mailbox = "sales"\n')
    code, out, _ = run(capsys, "-c", str(config), "doctor")
    (review,) = [line for line in lines(out, "OK") if line.startswith("review folders")]
    assert code == 0 and all(f.capitalize() in review for f in FOLDERS)
    assert not any(line.startswith("review folder ") for line in lines(out, "OK"))
    _, out, _ = run(capsys, "-c", str(config), "doctor", "--offline")
    assert any(s.startswith("review folders Inquiries/*") for s in lines(out, "SKIP"))


# ------------------------------------------------------------------ database


def upgrade_to(db: Database, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def test_a_schema_behind_warns_with_the_upgrade_then_is_ok(
        tmp_path: Path, empty_db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    config = maildir_desk(tmp_path, f'[database]\nurl = "{empty_db.url}"\n')
    upgrade_to(empty_db, "0002")
    code, out, _ = run(capsys, "-c", config, "doctor", "--offline")
    (behind,) = [w for w in lines(out, "WARN") if w.startswith("database")]
    assert code == 0 and "schema behind by" in behind and "(0003, 0004" in behind
    assert behind.endswith(": inquiryd db upgrade (run does it too)")
    run(capsys, "-c", config, "db", "upgrade")
    _, out, _ = run(capsys, "-c", config, "doctor", "--offline")
    assert any(o.endswith("schema at the newest revision") for o in lines(out, "OK"))


def test_a_missing_sqlite_database_is_reported_not_created(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-c", maildir_desk(tmp_path), "doctor", "--offline")
    database = tmp_path / "state" / "inquiryd.db"
    assert code == 0 and f"database {database}: not created yet" in out
    assert not (tmp_path / "state").exists()  # nothing made that root would then own


def test_an_unreachable_database_server_fails(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from tests.servers.dovecot import free_port

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    config = maildir_desk(tmp_path, f'[database]\nurl = "{url}"\n')
    code, out, _ = run(capsys, "-c", config, "doctor", "--offline")
    (failed,) = [f for f in lines(out, "FAIL") if f.startswith("database")]
    assert code == 1 and failed.endswith("start the database server, or correct [database] url")


# ------------------------------------------------------------------ folders


def without_privileges() -> list[str]:
    """A command prefix that makes root obey file modes (no CAP_DAC_OVERRIDE), so a
    folder root owns with mode 555 is as unwritable as for the service user."""
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []


def test_review_and_state_folders_the_user_cannot_write_fail_with_chown(
        tmp_path: Path) -> None:
    config = maildir_desk(tmp_path)
    state = tmp_path / "state"
    for name in FOLDERS:
        (state / "review" / name).mkdir(parents=True)
    for folder in [state, state / "review", *(state / "review").iterdir()]:
        folder.chmod(0o555)
    done = subprocess.run([*without_privileges(), sys.executable, "-m", "daemon", "-c", config,
                           "doctor", "--offline"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    for folder in [state, state / "review", *(state / "review").iterdir()]:
        folder.chmod(0o755)
    failed = [line[6:] for line in done.stdout.splitlines() if line.startswith("FAIL ")]
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"state folder {state} not writable (Permission denied): chown inquiryd {state}" \
        in failed
    pending = state / "review" / "pending"
    assert f"review folder {pending} not writable (Permission denied): chown inquiryd " \
           f"{pending}" in failed
    assert len([f for f in failed if f.startswith("review folder")]) == len(FOLDERS)
    assert list(pending.iterdir()) == []  # the trial file left nothing behind


def test_a_missing_review_folder_that_can_be_made_is_ok(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = maildir_desk(tmp_path, f'[review]\npath = "{tmp_path / "share" / "review"}"\n')
    code, out, _ = run(capsys, "-c", config, "doctor", "--offline")
    assert code == 0 and f"review folder {tmp_path / 'share' / 'review'} (pending" in out
    assert not (tmp_path / "share").exists()  # made by the service at first use, not here
