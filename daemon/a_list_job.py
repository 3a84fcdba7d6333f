"""The monthly A-grade list (I/O): last month's A-grade buyers as an .xlsx, emailed to the
sales manager (`[company] sales_manager`) once a month.

When: `[schedule] reports` says when the job wakes (default 08:00 Monday to Friday, in
the company's time zone); it sends only from the first working day of the month on
(Monday to Friday; public holidays are not known), so a list missed while the machine
was off goes out at the next run. Once: an `a_list_sent` event per month is checked
before anything is built, so a second run, a restart or a later day of the month does
nothing. A cut-off after the final dot (`UnknownOutcome`, it may have arrived) is
recorded too, never retried: `inquiryd report a-grade --email --resend` sends again.

The workbook stays under <state>/reports/a-grade-YYYY-MM.xlsx. The mail leaves From the
configured sender with `Auto-Submitted: auto-generated` (RFC 3834).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy import select

from daemon import report_queries, report_xlsx
from daemon.config import Settings
from daemon.db import Database
from daemon.models import Event, utcnow
from daemon.send import UnknownOutcome, expected_sender, send_bytes

log = logging.getLogger(__name__)

EVENT = "a_list_sent"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# ------------------------------------------------------------------ pure: when

def first_working_day(year: int, month: int) -> date:
    """The first Monday-to-Friday of the month."""
    day = date(year, month, 1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def is_first_working_day(day: date) -> bool:
    return day == first_working_day(day.year, day.month)


def is_due(today: date) -> bool:
    """On or after this month's first working day (a missed run catches up later)."""
    return today >= first_working_day(today.year, today.month)


def previous_month(today: date) -> str:
    """'YYYY-MM' of the month before `today`."""
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def month_bounds(label: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """'YYYY-MM' -> [first instant, first instant of the next month) in `tz`."""
    first = datetime.strptime(label, "%Y-%m").date()
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(first, time(0), tz), datetime.combine(nxt, time(0), tz)


# ------------------------------------------------------------------ I/O

@dataclass
class Outcome:
    """What one call did: sent, already sent (earlier event), or nothing to send to."""

    month: str
    status: str  # "sent" | "unknown" | "already_sent" | "no_manager" | "not_due"
    recipient: str = ""
    buyers: int = 0
    path: Path | None = None
    sent_at: datetime | None = None


def report_path(settings: Settings, month: str) -> Path:
    return settings.paths.state / "reports" / f"a-grade-{month}.xlsx"


def already_sent(db: Database, month: str) -> Event | None:
    with db.unit_of_work() as session:
        for event in session.scalars(select(Event).where(Event.name == EVENT)
                                     .order_by(Event.id)):
            if (event.data or {}).get("month") == month:
                session.expunge(event)
                return event
    return None


def build_message(settings: Settings, sender: str, recipient: str, month: str,
                  rows: list[dict[str, Any]], xlsx: bytes) -> EmailMessage:
    msg = EmailMessage()
    display = parseaddr(settings.smtp.sender)[0] if parseaddr(settings.smtp.sender)[1] == sender \
        else ""
    msg["From"] = formataddr((display or settings.company.name, sender))
    msg["To"] = recipient
    msg["Subject"] = f"A-grade buyers {month}: {len(rows)}"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid("a-list", sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"
    lines = [(f"The A-grade buyers for {month} ({len(rows)}), with details and last "
              "activity, are in the attached workbook."), ""]
    for r in rows[:50]:
        last = r.get("last_activity")
        when = f"; last activity {last.astimezone(settings.schedule.tz):%Y-%m-%d}" if last else ""
        lines.append(f"- {r.get('company') or r.get('email') or r['id']}"
                     f" ({r.get('country') or '-'}; owner {r.get('owner') or '-'}{when})")
    if len(rows) > 50:
        lines.append(f"... and {len(rows) - 50} more in the workbook")
    lines += ["", "-- inquiryd"]
    msg.set_content("\n".join(lines) + "\n")
    msg.add_attachment(xlsx, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1],
                       filename=f"a-grade-{month}.xlsx")
    return msg


def send_a_list(settings: Settings, db: Database, month: str | None = None, *,
                today: date | None = None, resend: bool = False,
                check_due: bool = False) -> Outcome:
    """Build `month`'s list (default: last month), write it and email it to the sales
    manager, unless it was sent already (`resend` sends anyway). Errors propagate."""
    tz = settings.schedule.tz
    today = today or datetime.now(tz).date()
    month = month or previous_month(today)
    recipient = settings.company.sales_manager
    if check_due and not is_due(today):
        return Outcome(month, "not_due")
    if not recipient:
        return Outcome(month, "no_manager")
    earlier = already_sent(db, month)
    if earlier is not None and not resend:
        return Outcome(month, "already_sent", earlier.data.get("recipient", ""),
                       sent_at=earlier.at)
    sender = expected_sender(settings)
    since, until = month_bounds(month, tz)
    with db.unit_of_work() as session:
        rows = report_queries.a_grade_rows(session, since, until)
    path = report_path(settings, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    report_xlsx.write_a_grade(rows, path, month)
    message = build_message(settings, sender, recipient, month, rows, path.read_bytes())
    status = "sent"
    try:
        reply = send_bytes(settings, sender, [parseaddr(recipient)[1]], message.as_bytes())
    except UnknownOutcome as exc:  # may have arrived: recorded, never retried by itself
        status, reply = "unknown", str(exc)
    with db.unit_of_work() as session:
        session.add(Event(name=EVENT, data={
            "month": month, "recipient": recipient, "buyers": len(rows), "file": str(path),
            "outcome": status, "reply": reply, "message_id": message["Message-ID"]}))
    return Outcome(month, status, recipient, len(rows), path, utcnow())


def job(settings: Settings, db: Database, stop: threading.Event | None = None) -> None:
    """The scheduled run: never raises (a failure is logged and retried at the next run)."""
    if stop is not None and stop.is_set():
        return
    try:
        out = send_a_list(settings, db, check_due=True)
    except Exception:  # a failed report must not end the service
        log.exception("event=a_list_failed")
        return
    if out.status == "no_manager":
        log.info("event=a_list_skipped month=%s reason=no_sales_manager "
                 "hint=set_company.sales_manager", out.month)
    elif out.status in ("sent", "unknown"):
        level = logging.INFO if out.status == "sent" else logging.WARNING
        log.log(level, "event=a_list_%s month=%s buyers=%d file=%s", out.status, out.month,
                out.buyers, out.path)
    else:
        log.debug("event=a_list_skipped month=%s reason=%s", out.month, out.status)
