"""`inquiryd status`: per mailbox last and next poll and health, messages and drafts by
state, unknown sends with what to do, quarantine, follow-ups due today; on SQLite and
PostgreSQL, and end to end against Dovecot and aiosmtpd."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from daemon import followups_job, queries, rulebook
from daemon.cli import main
from daemon.config import Settings
from daemon.db import Database
from daemon.models import (
    Buyer, BuyerAddress, Campaign, Delivery, Draft, DraftState, Mailbox, Message, MessageState,
    Poll,
)
from tests.helpers import ROOT, imap_block, inquiry, settings_for

NOW = datetime(2027, 3, 10, 2, 0, tzinfo=timezone.utc)  # Wednesday 10:00 in Shanghai
TODAY = date(2027, 3, 10)
RULES = rulebook.load(ROOT / "rules").followups


def two_mailboxes(tmp_path: Path) -> Settings:
    boxes = "".join(f'[[mailbox]]\nname = "{n}"\nkind = "maildir"\npath = "{n}"\n'
                    for n in ("sales", "export"))
    return settings_for(tmp_path, boxes)


def seed(db: Database) -> None:
    hour_ago = NOW - timedelta(hours=1)
    with db.unit_of_work() as s:
        sales = Mailbox(name="sales", last_poll_at=hour_ago, last_poll_ok_at=hour_ago)
        export = Mailbox(name="export", last_poll_at=hour_ago, failures_in_row=3,
                         last_error="export: login refused")
        s.add_all([sales, export, Mailbox(name="retired", last_poll_at=hour_ago)])
        s.flush()
        s.add(Poll(mailbox_id=sales.id, started_at=hour_ago, finished_at=hour_ago, fetched=4,
                   stored=4, processed=2, failed=2))
        for n, state in enumerate([MessageState.PROCESSED] * 2 + [MessageState.FAILED,
                                                                   MessageState.QUARANTINED]):
            s.add(Message(mailbox_id=sales.id, folder="INBOX", uid=n + 1, message_id=f"<m{n}@x>",
                          dedup_key=f"m{n}", size=10, state=state, attempts=1,
                          error=None if n < 2 else f"broken {n}"))
        due, fresh = _buyer(s, "due", "A", NOW - timedelta(days=10)), \
            _buyer(s, "fresh", "B", NOW - timedelta(hours=2))
        s.add_all([_draft("d-pending", DraftState.PENDING, due),
                   _draft("d-unknown", DraftState.UNKNOWN, fresh)])
        spring = Campaign(name="spring-fair", template="newsletter/spring.txt.j2",
                          subject="Meet us at the Canton Fair")
        s.add(spring)
        s.flush()
        s.add(Delivery(campaign_id=spring.id, buyer_id=due, address="due@buyer.example",
                       state="unknown", error="connection lost after the final dot"))
        s.add(Delivery(campaign_id=spring.id, buyer_id=fresh, address="fresh@buyer.example",
                       state="sent"))


def _buyer(s: Any, name: str, grade: str, last: datetime) -> int:
    buyer = Buyer(company=f"{name} GmbH", grade=grade, country="DE", created_at=last,
                  last_contact_at=last)
    s.add(buyer)
    s.flush()
    s.add(BuyerAddress(buyer_id=buyer.id, address=f"{name}@buyer.example",
                       domain="buyer.example"))
    return int(buyer.id)


def _draft(draft_id: str, state: DraftState, buyer_id: int) -> Draft:
    return Draft(id=draft_id, kind="reply", state=state, buyer_id=buyer_id,
                 outgoing_message_id=f"<{draft_id}@brightstar.example>",
                 to_addr=f"{draft_id}@buyer.example", subject=f"Re: {draft_id}",
                 state_changed_at=NOW - timedelta(minutes=5),
                 error="connection lost after the final dot" if state == "unknown" else None)


def test_status_reports_every_part_in_company_time(tmp_path: Path, db: Database) -> None:
    settings = two_mailboxes(tmp_path)
    seed(db)
    with db.unit_of_work() as s:
        report = queries.status(s, settings, now=NOW)
    sales, export, retired = report["mailboxes"]
    assert (sales["name"], export["name"], retired["name"]) == ("sales", "export", "retired")
    assert sales["last_poll_at"] == "2027-03-10T09:00:00+08:00"
    assert sales["next_poll_at"] == export["next_poll_at"] == "2027-03-10T12:30:00+08:00"
    assert (sales["health"], export["health"]) == ("ok", "unhealthy")
    assert export["last_error"] == "export: login refused"
    assert retired["configured"] is False and retired["next_poll_at"] is None
    assert sales["last_poll"]["fetched"] == 4
    assert report["messages"] == {"processed": 2, "failed": 1, "quarantined": 1}
    assert report["drafts"] == {"pending": 1, "unknown": 1}
    assert [m["error"] for m in report["quarantine"]] == ["broken 3"]
    assert [m["error"] for m in report["failed"]] == ["broken 2"]


def test_unknown_sends_are_listed_with_what_to_do(tmp_path: Path, db: Database) -> None:
    seed(db)
    with db.unit_of_work() as s:
        draft, delivery = queries.status(s, two_mailboxes(tmp_path), now=NOW)["unknown_sends"]
    assert (draft["type"], draft["id"], draft["to"]) == ("draft", "d-unknown",
                                                         "d-unknown@buyer.example")
    assert draft["action"] == "inquiryd drafts resolve d-unknown sent|resend"
    assert draft["since"] == "2027-03-10T09:55:00+08:00"
    assert (delivery["type"], delivery["campaign"], delivery["to"]) == (
        "newsletter", "spring-fair", "due@buyer.example")
    assert "never sends it again by itself" in delivery["action"]
    assert set(draft) == set(delivery)  # one shape for both: scripts read the same keys


def test_follow_ups_due_today_are_those_followups_due_counts(tmp_path: Path,
                                                             db: Database) -> None:
    settings = two_mailboxes(tmp_path)
    seed(db)
    with db.unit_of_work() as s:
        followups = queries.status(s, settings, now=NOW)["followups"]
    expected = followups_job.due_now(settings, db, RULES, days=1, today=TODAY)
    assert [d.label for d in expected] == ["due GmbH"]  # the one written to today is not due
    assert followups == {"due_today": 1, "next_run_at": "2027-03-11T09:00:00+08:00",
                         "error": None}


def test_broken_follow_up_rules_leave_the_rest_of_status(tmp_path: Path, db: Database) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "followups.toml").write_text("[[cadence]]\nname = 'x'\n")
    settings = settings_for(tmp_path, '[[mailbox]]\nname = "sales"\nkind = "maildir"\n'
                            'path = "sales"\n', extra=(
                                f'[paths]\nrules = "{rules}"\ntemplates = "{ROOT / "templates"}"\n'
                                f'state = "{tmp_path / "state"}"\n'))
    seed(db)
    with db.unit_of_work() as s:
        report = queries.status(s, settings, now=NOW)
    assert report["followups"]["due_today"] is None
    assert "followups.toml" in report["followups"]["error"]
    assert report["messages"]["processed"] == 2


# ------------------------------------------------------------------ end to end


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, _ = capsys.readouterr()
    return int(info.value.code or 0), out


def test_status_after_a_real_poll_and_a_send_cut_off_after_the_dot(
        tmp_path: Path, imap_user: Any, smtp_server: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    server = imap_user.server
    server.append_many(imap_user.name, "INBOX", [inquiry(n) for n in range(3)])
    server.create_folder(imap_user.name, "Sent")
    monkeypatch.setenv("PW_SALES", imap_user.password)
    settings_for(tmp_path, imap_block(imap_user), environ=dict(os.environ), extra=(
        f'[smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\ntls = "none"\n'
        'sender = "Sales <sales@brightstar.example>"\ntimeout_seconds = 5\n'))
    config = str(tmp_path / "inquiryd.toml")
    assert run(capsys, "-c", config, "poll")[0] == 0
    review = tmp_path / "state" / "review"
    first = sorted((review / "pending").glob("*.eml"))[0]
    shutil.move(first, review / "approved" / first.name)
    os.utime(review / "approved" / first.name, (0, 0))  # older than the settle time
    smtp_server.disconnect_after_data()
    run(capsys, "-c", config, "send")
    code, out = run(capsys, "-c", config, "status", "--json")
    report = json.loads(out)
    (unknown,) = report["unknown_sends"]
    assert code == 0 and report["drafts"] == {"pending": 2, "unknown": 1}
    assert report["messages"] == {"processed": 3}
    (sales,) = report["mailboxes"]
    assert sales["health"] == "ok" and sales["last_poll"]["stored"] == 3
    assert datetime.fromisoformat(sales["next_poll_at"]) > datetime.fromisoformat(
        report["now"])
    code, text = run(capsys, "-c", config, "status")
    assert f"draft {unknown['id']} to {unknown['to']}: inquiryd drafts resolve " \
           f"{unknown['id']} sent|resend" in text
    assert "Follow-ups: " in text and "Messages: processed 3" in text
    run(capsys, "-c", config, "drafts", "resolve", unknown["id"], "sent")
    report = json.loads(run(capsys, "-c", config, "status", "--json")[1])
    assert report["unknown_sends"] == [] and report["drafts"]["sent"] == 1
