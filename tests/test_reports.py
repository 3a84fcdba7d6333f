"""`report stats` and `report a-grade` on a seeded database (SQLite and PostgreSQL).

The expected figures are worked out by hand from the seed below, not by the code under test.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from daemon.cli import cli
from daemon.db import Database
from daemon.models import Buyer, Draft, Inquiry, Message
from daemon.report_stats import working_time
from tests.helpers import COMPANY

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def _msg(n: int, buyer: int, at: datetime, direction: str = "in", **kw: Any) -> Message:
    return Message(id=n, direction=direction, message_id=f"<m{n}@x>", dedup_key=f"m{n}",
                   size=100, fetched_at=at, buyer_id=buyer, state="processed", **kw)


def _draft(n: int, msg: int, buyer: int, created: datetime, approved: datetime | None = None,
           sent: datetime | None = None) -> Draft:
    return Draft(id=f"d{n}", kind="reply", buyer_id=buyer, in_reply_to_message=msg,
                 outgoing_message_id=f"<d{n}@x>", to_addr="b@x", created_at=created,
                 approved_at=approved, sent_at=sent, state="sent" if sent else "pending")


def seed(db: Database) -> None:
    m = timedelta(minutes=1)
    with db.unit_of_work() as s:
        s.add_all([
            Buyer(id=1, company="Al Noor", source="trade-show", region="Middle East", country="AE",
                  buyer_type="importer", owner="alice", grade="A", created_at=local(2025, 3, 1)),
            Buyer(id=2, company="Berlin Licht", source="trade-show", region="Europe",
                  country="DE", buyer_type="retailer", owner="bob", grade="B",
                  created_at=local(2025, 3, 2)),
            Buyer(id=3, company="Dubai Sun", source="website", region="Middle East",
                  country="AE", buyer_type="importer", owner="alice", grade="A",
                  created_at=local(2025, 3, 3), last_contact_at=local(2025, 3, 6, 12)),
            Buyer(id=4, company="Lagos Power", source="platform", region="Africa", country="NG",
                  owner="bob", grade="C", created_at=local(2025, 2, 10)),
        ])
        s.flush()
        panel, tube = {"sku": "LED-1", "name": "LED panel"}, {"sku": "LED-2", "name": "LED tube"}
        s.add_all([
            Inquiry(buyer_id=1, grade="A", stage="quoted", products=[panel, tube],
                    created_at=local(2025, 3, 3)),
            Inquiry(buyer_id=2, grade="B", stage="new", products=[panel, panel],
                    created_at=local(2025, 3, 4)),
            Inquiry(buyer_id=3, grade="A", stage="won",
                    products=[{"sku": "SOL-1", "name": "Solar lamp"}], created_at=local(2025, 3, 5)),
            Inquiry(buyer_id=4, grade="C", stage="lost", products=[tube],
                    created_at=local(2025, 3, 6)),
            Inquiry(buyer_id=1, grade="A", stage="negotiating", products=[panel],
                    created_at=local(2025, 2, 1)),
        ])
        a1, a2 = local(2025, 3, 3, 10), local(2025, 3, 7, 17)    # Monday, Friday
        a3, a4 = local(2025, 3, 4, 10), local(2025, 3, 5, 9)     # Tuesday, Wednesday
        s.add_all([_msg(1, 1, a1), _msg(2, 1, a2), _msg(3, 2, a3), _msg(4, 4, a4),
                   _msg(5, 1, local(2025, 3, 10, 9, 30), "out", sent_at=local(2025, 3, 10, 9, 30))])
        s.flush()
        s.add_all([
            _draft(1, 1, 1, a1 + 5 * m, a1 + 60 * m, a1 + 90 * m),
            _draft(9, 1, 1, a1 + 300 * m),                         # a later draft: not the reply
            _draft(2, 2, 1, a2 + 10 * m, local(2025, 3, 10, 9), local(2025, 3, 10, 9, 30)),
            _draft(3, 3, 2, a3 + 20 * m, local(2025, 3, 5, 12), local(2025, 3, 5, 12)),
            _draft(4, 4, 4, a4 + 30 * m),
        ])


def run(tmp_path: Path, db: Database, *args: str) -> Any:
    maildir = tmp_path / "Maildir"
    maildir.mkdir(exist_ok=True)
    cfg = tmp_path / "inquiryd.toml"
    cfg.write_text(COMPANY + f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{maildir}"\n'
                   f'[smtp]\nsender = "Sales <sales@brightstar.example>"\n'
                   f'[database]\nurl = "{db.url}"\n[paths]\nstate = "{tmp_path / "state"}"\n',
                   encoding="utf-8")
    result = CliRunner().invoke(cli, ["-c", str(cfg), "report", *args])
    assert result.exit_code == 0, result.output
    return result


def pairs(items: list[dict[str, Any]]) -> dict[str, int]:
    return {i["label"]: i["count"] for i in items}


def test_stats_on_the_seeded_database(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = json.loads(run(tmp_path, db, "stats", "--json").output)
    assert out["buyers"]["total"] == 4
    assert pairs(out["buyers"]["source"]) == {"trade-show": 2, "website": 1, "platform": 1}
    assert pairs(out["buyers"]["region"]) == {"Middle East": 2, "Europe": 1, "Africa": 1}
    assert pairs(out["buyers"]["country"]) == {"AE": 2, "DE": 1, "NG": 1}
    assert pairs(out["buyers"]["type"]) == {"importer": 2, "retailer": 1, "(none)": 1}
    assert out["inquiries"]["total"] == 5
    assert out["inquiries"]["products"][0] == {"label": "LED panel", "count": 3}
    assert pairs(out["inquiries"]["products"]) == {"LED panel": 3, "LED tube": 2, "Solar lamp": 1}
    assert pairs(out["inquiries"]["grades"]) == {"A": 3, "B": 1, "C": 1}
    assert pairs(out["funnel"]) == {"new": 1, "quoted": 1, "negotiating": 1, "sample": 0,
                                    "confirmed": 0, "contract": 0, "won": 1, "lost": 1,
                                    "dormant": 0}
    rt = out["reply_times"]
    # arrival to draft: 5, 10, 20, 30 minutes.
    assert rt["arrival_to_draft"] == {"count": 4, "median_minutes": 15.0, "within_2h": 1.0,
                                      "within_1_working_day": 1.0}
    # draft to approval: 55 min; Fri 17:10 -> Mon 09:00 (15h50 of weekdays); 25h40.
    assert rt["draft_to_approval"]["count"] == 3
    assert rt["draft_to_approval"]["median_minutes"] == 25 * 60 + 40
    assert rt["draft_to_approval"]["within_2h"] == pytest.approx(1 / 3)
    assert rt["draft_to_approval"]["within_1_working_day"] == pytest.approx(2 / 3)
    # arrival to sent: 90 min; Fri 17:00 -> Mon 09:30 (16h30 of weekdays); 26h.
    assert rt["arrival_to_sent"]["median_minutes"] == 26 * 60
    assert rt["arrival_to_sent"]["within_1_working_day"] == pytest.approx(2 / 3)
    alice = out["reply_times_by_owner"]["alice"]["arrival_to_sent"]
    assert alice == {"count": 2, "median_minutes": (90 + 64.5 * 60) / 2, "within_2h": 0.5,
                     "within_1_working_day": 1.0}
    bob = out["reply_times_by_owner"]["bob"]
    assert bob["arrival_to_draft"]["count"] == 2 and bob["arrival_to_sent"]["count"] == 1


def test_stats_for_a_period_and_its_files(db: Database, tmp_path: Path) -> None:
    seed(db)
    xlsx, html = tmp_path / "stats.xlsx", tmp_path / "stats.html"
    out = json.loads(run(tmp_path, db, "stats", "--since", "2025-03-01", "--until", "2025-03-06",
                         "--xlsx", str(xlsx), "--html", str(html), "--json").output)
    assert out["buyers"]["total"] == 3                              # Lagos came in February
    assert out["inquiries"]["total"] == 3                           # Feb 1 and Mar 6 left out
    assert pairs(out["inquiries"]["products"]) == {"LED panel": 2, "LED tube": 1, "Solar lamp": 1}
    assert out["reply_times"]["arrival_to_draft"]["count"] == 3     # Friday's mail is later
    wb = load_workbook(xlsx)
    assert {"Buyers by source", "Products", "Funnel", "Reply times"} <= set(wb.sheetnames)
    assert [list(r) for r in wb["Products"].iter_rows(values_only=True)][1] == ["LED panel", 2]
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") >= 7 and "<script" not in page and "LED panel" in page


def test_a_grade_list_for_a_month(db: Database, tmp_path: Path) -> None:
    seed(db)
    path = tmp_path / "a.xlsx"
    out = json.loads(run(tmp_path, db, "a-grade", "--month", "2025-03", "--xlsx", str(path),
                         "--json").output)
    assert [b["company"] for b in out["buyers"]] == ["Al Noor", "Dubai Sun"]
    al, dubai = out["buyers"]
    assert al["messages_in_month"] == 2 + 1 and al["inquiries"] == 2
    assert al["last_activity"].startswith("2025-03-10 01:30")          # the reply sent, UTC
    assert dubai["last_activity"].startswith("2025-03-06 04:00") and dubai["messages_in_month"] == 0
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("ID", "Company") and len(rows) == 3
    assert rows[1][rows[0].index("Last activity")] == datetime(2025, 3, 10, 1, 30)


def test_working_time_skips_the_weekend() -> None:
    assert working_time(local(2025, 3, 7, 17), local(2025, 3, 10, 9), TZ) == timedelta(hours=16)
    assert working_time(local(2025, 3, 8, 1), local(2025, 3, 9, 23), TZ) == timedelta(0)
    assert working_time(local(2025, 3, 4, 10), local(2025, 3, 4, 9), TZ) == timedelta(0)
