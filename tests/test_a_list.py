"""The monthly A-grade list: when it is due, sent once to the sales manager with the .xlsx."""

from __future__ import annotations

import io
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from daemon import a_list_job, cli, config
from daemon.db import Database
from daemon.models import Buyer, BuyerAddress, Event, Message
from daemon.service import trigger
from tests.helpers import settings_for

MANAGER = "Lily Chen <lily@brightstar.example>"


@pytest.mark.parametrize(("day", "first"), [
    (date(2026, 2, 2), True),    # Feb 1 2026 is a Sunday: Monday the 2nd
    (date(2026, 2, 1), False),   # the Sunday itself
    (date(2026, 2, 3), False),
    (date(2026, 8, 3), True),    # Aug 1 2026 is a Saturday: Monday the 3rd
    (date(2026, 8, 1), False),
    (date(2026, 8, 2), False),
    (date(2026, 7, 1), True),    # a Wednesday
    (date(2026, 6, 1), True),    # a Monday
    (date(2026, 11, 2), True),   # Nov 1 2026 is a Sunday
    (date(2026, 5, 29), False),
])
def test_is_first_working_day(day: date, first: bool) -> None:
    assert a_list_job.is_first_working_day(day) is first


def test_due_from_the_first_working_day_on_and_last_month() -> None:
    assert not a_list_job.is_due(date(2026, 8, 1)) and not a_list_job.is_due(date(2026, 8, 2))
    assert a_list_job.is_due(date(2026, 8, 3)) and a_list_job.is_due(date(2026, 8, 20))
    assert a_list_job.previous_month(date(2026, 1, 5)) == "2025-12"
    assert a_list_job.previous_month(date(2026, 8, 3)) == "2026-07"


def test_the_default_schedule_wakes_on_working_days_only() -> None:
    settings_tz = config.Schedule().tz
    trig = trigger(config.Schedule().reports, settings_tz)
    now = datetime(2026, 7, 31, 9, tzinfo=settings_tz)
    fires = []
    for _ in range(3):
        now = trig.get_next_fire_time(None, now)
        fires.append(now.date())
        now = now.replace(minute=1)
    # Friday the 31st is past 08:00: next Mon 3, Tue 4, Wed 5 August (never Saturday).
    assert fires == [date(2026, 8, 3), date(2026, 8, 4), date(2026, 8, 5)]


@pytest.mark.parametrize("value", ["not an address", "Lily <lily>", "lily@", "@x.example"])
def test_sales_manager_must_be_an_address(tmp_path: Path, value: str) -> None:
    with pytest.raises(Exception) as err:
        _settings(tmp_path, None, manager=value)
    assert "sales_manager" in str(getattr(err.value, "problems", err.value))


def _settings(tmp_path: Path, server: Any, *, manager: str | None = MANAGER) -> config.Settings:
    maildir = tmp_path / "Maildir"
    maildir.mkdir(exist_ok=True)
    host, port = (server.host, server.port) if server else ("127.0.0.1", 25)
    extra = (f'[smtp]\nhost = "{host}"\nport = {port}\ntls = "none"\n'
             f'sender = "Sales <sales@brightstar.example>"\ntimeout_seconds = 5\n')
    settings = settings_for(tmp_path, f'[[mailbox]]\nname = "sales"\nkind = "maildir"\n'
                                      f'path = "{maildir}"\n', extra=extra)
    if manager is not None:
        text = settings.source.read_text("utf-8").replace(
            "[company]\n", f'[company]\nsales_manager = "{manager}"\n', 1)
        settings.source.write_text(text, "utf-8")
        settings = config.load(settings.source, environ={})
    return settings


@pytest.fixture
def desk(tmp_path: Path, smtp_server: Any) -> Any:
    settings = _settings(tmp_path, smtp_server)
    db = Database(settings.database_url)
    db.upgrade()
    with db.unit_of_work() as s:
        for i, (company, grade) in enumerate([("Gulf Trading", "A"), ("Berlin Deko", "B"),
                                              ("Lagos Imports", "A")], start=1):
            s.add(Buyer(id=i, company=company, grade=grade, country="AE", owner="lily"))
            s.add(BuyerAddress(buyer_id=i, address=f"b{i}@buyer{i}.example",
                               domain=f"buyer{i}.example"))
        s.flush()
        s.add(Message(buyer_id=1, direction="in", folder="INBOX", uid=1, dedup_key="k1", size=1,
                      fetched_at=datetime(2026, 7, 10, 3, tzinfo=UTC)))
    yield settings, db
    db.dispose()


def _attachment(message: Any) -> tuple[str, bytes]:
    parts = [p for p in message.iter_attachments()]
    assert len(parts) == 1
    return parts[0].get_filename(), parts[0].get_payload(decode=True)


def test_job_sends_once_with_the_workbook(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    out = a_list_job.send_a_list(settings, db, today=date(2026, 8, 3), check_due=True)
    assert out.status == "sent" and out.month == "2026-07" and out.buyers == 2
    assert out.path == settings.paths.state / "reports" / "a-grade-2026-07.xlsx"
    assert out.path.exists()
    [received] = smtp_server.messages
    assert received.accepted
    assert received.mail_from == "sales@brightstar.example"
    assert received.rcpt_tos == ("lily@brightstar.example",)
    msg = received.message
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["To"] == MANAGER and "2026-07" in msg["Subject"]
    name, data = _attachment(msg)
    assert name == "a-grade-2026-07.xlsx"
    ws = load_workbook(io.BytesIO(data)).active
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert [row[1] for row in rows] == ["Gulf Trading", "Lagos Imports"]
    assert [row[14] for row in rows] == [1, 0]  # messages in July
    with db.unit_of_work() as s:
        [event] = s.scalars(select(Event).where(Event.name == "a_list_sent")).all()
        assert event.data["month"] == "2026-07" and event.data["recipient"] == MANAGER

    # The same day again, a restart, a later day of August: nothing more.
    again = a_list_job.send_a_list(settings, db, today=date(2026, 8, 3), check_due=True)
    later = a_list_job.send_a_list(settings, db, today=date(2026, 8, 20), check_due=True)
    assert again.status == later.status == "already_sent"
    assert [m.message["Subject"] for m in smtp_server.messages].count(msg["Subject"]) == 1


def test_job_waits_for_the_first_working_day(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    out = a_list_job.send_a_list(settings, db, today=date(2026, 8, 1), check_due=True)
    assert out.status == "not_due" and smtp_server.messages == []


def test_scheduled_job_sends_once(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    a_list_job.job(settings, db)
    a_list_job.job(settings, db)
    today = datetime.now(settings.schedule.tz).date()
    assert len(smtp_server.messages) == (1 if a_list_job.is_due(today) else 0)


def test_no_manager_logs_and_does_nothing(tmp_path: Path, smtp_server: Any,
                                          caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path, smtp_server, manager=None)
    db = Database(settings.database_url)
    db.upgrade()
    with caplog.at_level(logging.INFO, logger="daemon.a_list_job"):
        assert a_list_job.send_a_list(settings, db, today=date(2026, 8, 3)).status == "no_manager"
        a_list_job.job(settings, db)
    assert smtp_server.messages == []
    if a_list_job.is_due(datetime.now(settings.schedule.tz).date()):
        assert "reason=no_sales_manager" in caplog.text
    assert not (settings.paths.state / "reports").exists()
    db.dispose()


def test_job_never_raises(desk: Any, smtp_server: Any,
                          caplog: pytest.LogCaptureFixture) -> None:
    settings, db = desk
    smtp_server.fail_next(code=554, times=1)
    with caplog.at_level(logging.ERROR, logger="daemon.a_list_job"):
        a_list_job.job(settings, db)
    if a_list_job.is_due(datetime.now(settings.schedule.tz).date()):
        assert "event=a_list_failed" in caplog.text
        assert a_list_job.already_sent(db, a_list_job.previous_month(
            datetime.now(settings.schedule.tz).date())) is None  # retried at the next run


def _cli(settings: config.Settings, *args: str, capsys: Any) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(["-c", str(settings.source), "report", "a-grade", *args])
    return done.value.code, capsys.readouterr().out


def test_report_a_grade_email(desk: Any, smtp_server: Any, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    settings, _ = desk
    copy = tmp_path / "copy.xlsx"
    code, out = _cli(settings, "--month", "2026-07", "--email", "--xlsx", str(copy),
                     capsys=capsys)
    assert code == 0, out
    assert "2 A-grade buyer(s) for 2026-07; sent to" in out and copy.exists()
    assert len(smtp_server.messages) == 1
    assert _attachment(smtp_server.messages[0].message)[0] == "a-grade-2026-07.xlsx"

    code, out = _cli(settings, "--month", "2026-07", "--email", capsys=capsys)
    assert code == 0 and "already sent" in out and len(smtp_server.messages) == 1
    code, out = _cli(settings, "--month", "2026-07", "--email", "--resend", capsys=capsys)
    assert code == 0 and len(smtp_server.messages) == 2


def test_report_a_grade_email_without_manager(tmp_path: Path, smtp_server: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path, smtp_server, manager=None)
    with pytest.raises(SystemExit) as done:
        cli.main(["-c", str(settings.source), "report", "a-grade", "--email"])
    assert done.value.code == 1
    assert "sales_manager" in capsys.readouterr().err
    assert smtp_server.messages == []
