"""The service shell: schedule, missed polls, one instance per state, signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.errors import LockedError
from daemon.lock import StateLock
from daemon.service import poll_triggers, poll_was_missed, trigger
from tests.helpers import settings_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[1]
# How long systemd waits after SIGTERM before it kills the service.
UNIT_TEXT = (ROOT / "systemd" / "inquiryd.service").read_text(encoding="utf-8")
STOP_TIMEOUT = int(re.search(r"^TimeoutStopSec=(\d+)$", UNIT_TEXT, re.M)[1])  # type: ignore[index]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("last", "now", "missed"), [
    (at(23, 17, 31), at(24, 8, 0), False),   # overnight, before the morning poll
    (at(23, 17, 31), at(24, 8, 31), True),   # the morning poll passed while down
    (at(24, 8, 31), at(24, 12, 29), False),
    (at(24, 8, 31), at(24, 18, 0), True),    # noon and evening both missed
    (None, at(24, 9, 0), True),              # never polled
])
def test_missed_poll_is_detected_in_company_time(last, now, missed) -> None:
    triggers = [trigger(t, SHANGHAI) for t in ("08:30", "12:30", "17:30")]
    assert poll_was_missed(triggers, last, now) is missed


def test_crontab_poll_times_are_accepted(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, '[[mailbox]]\nname = "m"\nkind = "maildir"\npath = "p"\n',
                            extra='[schedule]\npolls = ["30 8 * * 1-6"]\n'
                                  'timezone = "Asia/Dubai"\n')
    (trig,) = poll_triggers(settings)
    saturday_7 = datetime(2026, 11, 28, 7, 0, tzinfo=ZoneInfo("Asia/Dubai"))
    nxt = trig.get_next_fire_time(None, saturday_7)
    assert (nxt.weekday(), nxt.hour, nxt.minute) == (5, 8, 30)
    assert nxt.astimezone(timezone.utc).hour == 4


@pytest.mark.parametrize(("field", "names"), [
    ("1-5", "mon-fri"), ("0", "sun"), ("7", "sun"), ("1,3,5", "mon,wed,fri"),
    ("*", "*"), ("*/2", "*/2"), ("mon-sat", "mon-sat"),
])
def test_crontab_weekday_numbers_mean_what_crontab_means(field: str, names: str) -> None:
    from daemon.service import cron_weekdays

    assert cron_weekdays(field) == names


def test_a_crontab_line_with_weekday_numbers_fires_monday_to_friday() -> None:
    trig = trigger("0 8 * * 1-5", SHANGHAI)
    saturday = datetime(2026, 8, 1, 9, 0, tzinfo=SHANGHAI)
    assert trig.get_next_fire_time(None, saturday).date().isoformat() == "2026-08-03"


def test_a_second_holder_of_the_state_is_refused(tmp_path: Path) -> None:
    with StateLock(tmp_path, "run"):
        with pytest.raises(LockedError, match="in use by inquiryd pid"):
            StateLock(tmp_path, "poll").acquire()
    StateLock(tmp_path, "poll").acquire().release()  # free again once released


def test_a_killed_holder_leaves_no_stuck_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pathlib import Path; "
                               "from daemon.lock import StateLock; "
                               f"StateLock(Path({str(tmp_path)!r}), 'run').acquire(); "
                               "print('locked', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(LockedError):
        StateLock(tmp_path, "poll").acquire()
    holder.kill()
    holder.wait()
    StateLock(tmp_path, "poll").acquire().release()


def write_demo(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    for d in ("new", "cur", "tmp"):
        (inbox / d).mkdir(parents=True)
    from tests.helpers import inquiry

    for i in range(3):
        (inbox / "new" / f"17640000{i}.x").write_bytes(inquiry(i))
    config = tmp_path / "inquiryd.toml"
    config.write_text('[company]\nname = "B"\n[[mailbox]]\nname = "local"\nkind = "maildir"\n'
                      f'path = "{inbox}"\n[smtp]\nsender = "Sales <sales@b.example>"\n[paths]\nrules = "{ROOT / "rules"}"\n'
                      f'templates = "{ROOT / "templates"}"\nstate = "{tmp_path / "state"}"\n')
    return config


def test_run_polls_a_missed_poll_at_start_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = write_demo(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "-c", str(config), "run"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if "event=mailbox_polled" in line:
                break
        second = subprocess.run([sys.executable, "-m", "daemon", "-c", str(config), "poll"],
                                cwd=ROOT, capture_output=True, text=True)
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + rest
    assert "event=missed_poll" in text and "stored=3" in text
    assert second.returncode == 1 and "in use by inquiryd pid" in second.stderr
    assert proc.returncode == 0 and "event=service_stopped" in text


def test_sigterm_during_a_big_poll_loses_nothing_and_handles_each_message_once(
        tmp_path: Path, imap_user: Any) -> None:
    """systemd's stop under load: the service stops within TimeoutStopSec, exit 0, after
    the message in hand; the next poll does the rest; no message is stored, processed or
    drafted twice."""
    from sqlalchemy import func, select

    from daemon.db import Database
    from daemon.models import Draft, Message, MessageState
    from tests.helpers import imap_settings, inquiry

    count = 300
    imap_user.server.append_many(imap_user.name, "INBOX", [inquiry(n) for n in range(count)])
    settings = imap_settings(tmp_path, imap_user)
    config = str(settings.source)
    env = {**os.environ, "PW_SALES": imap_user.password}
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "-c", config, "run"],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if sum("event=draft_written" in x for x in lines) == 5:
                break
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, rest = proc.communicate(timeout=STOP_TIMEOUT)
        stopped_in = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    first_run = "".join(lines) + rest
    assert proc.returncode == 0 and "event=service_stopped" in first_run, first_run[-3000:]
    assert stopped_in < STOP_TIMEOUT
    db = Database(settings.database_url)
    with db.unit_of_work() as s:
        done_at_stop = s.scalar(select(func.count()).where(
            Message.state == MessageState.PROCESSED)) or 0
    assert 5 <= done_at_stop < count  # stopped in the middle of the poll, not after it

    again = subprocess.run([sys.executable, "-m", "daemon", "-c", config, "poll"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    with db.unit_of_work() as s:
        per_id = s.execute(select(Message.message_id, func.count())
                           .group_by(Message.message_id)).all()
        states = s.execute(select(Message.state, Message.attempts, func.count())
                           .group_by(Message.state, Message.attempts)).all()
        drafts = s.execute(select(Draft.in_reply_to_message, func.count())
                           .group_by(Draft.in_reply_to_message)).all()
    db.dispose()
    assert len(per_id) == count and {n for _, n in per_id} == {1}  # each stored once
    assert states == [(MessageState.PROCESSED, 1, count)]  # each processed, in one attempt
    assert {n for _, n in drafts} == {1}  # never drafted twice
    written = first_run.count("event=draft_written") + again.stderr.count("event=draft_written")
    assert written == len(drafts) == len(list((settings.review_path / "pending").glob("*.eml")))
