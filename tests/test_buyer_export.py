"""Buyer export: the sheets, the filters, and the round trip through import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from daemon import rulebook
from daemon.buyer_export import export_file
from daemon.buyer_import import import_file
from daemon.models import Buyer, BuyerAddress, Inquiry, Message

RULES = rulebook.load(Path(__file__).resolve().parents[1] / "rules")
T = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def seed(db):
    with db.unit_of_work() as s:
        a = Buyer(company="Al Noor Trading LLC", company_key="al noor", contact_name="Ahmed",
                  country="AE", region=RULES.geo.region_of("AE"), grade="A", source="website",
                  owner="Lily", phone="+971 4 555 0186", notes="老客户\nVIP",
                  first_contact_at=T, last_contact_at=T)
        b = Buyer(company="义乌贸易", company_key="义乌贸易", country="CN", grade="C",
                  source="trade-show")
        c = Buyer(contact_name="Maria", grade=None)
        s.add_all([a, b, c])
        s.flush()
        s.add_all([BuyerAddress(buyer_id=a.id, address="ahmed@alnoor.ae", domain="alnoor.ae"),
                   BuyerAddress(buyer_id=a.id, address="sales@alnoor.ae", domain="alnoor.ae"),
                   BuyerAddress(buyer_id=c.id, address="maria@gmail.com", domain="gmail.com")])
        m = Message(direction="in", dedup_key="k1", size=10, kind="inquiry", subject="LED bulbs",
                    buyer_id=a.id, fetched_at=T)
        s.add_all([m, Message(direction="out", dedup_key="k2", size=10, kind="reply",
                              subject="Re: LED bulbs", buyer_id=a.id, sent_at=T, fetched_at=T)])
        s.flush()
        s.add(Inquiry(buyer_id=a.id, message_id=m.id, grade="A",
                      products=[{"sku": "LB-9", "name": "LED bulb 9W", "matched": "led"}]))


def test_xlsx_sheets_and_filters(db, tmp_path):
    seed(db)
    path = tmp_path / "out.xlsx"
    assert export_file(db, path) == 3
    book = load_workbook(path)
    rows = list(book["Buyers"].iter_rows(values_only=True))
    head = rows[0]
    noor = dict(zip(head, rows[1]))
    assert noor["Email"] == "ahmed@alnoor.ae; sales@alnoor.ae"
    assert (noor["Grade"], noor["Country"], noor["Products"], noor["Inquiries"]) == (
        "A", "AE", "LED bulb 9W", 1)
    assert noor["Last contact"] == T.replace(tzinfo=None)
    history = list(book["Contact history"].iter_rows(values_only=True))
    assert [(r[3], r[4], r[5]) for r in history[1:]] == [
        ("in", "inquiry", "LED bulbs"), ("out", "reply", "Re: LED bulbs")]
    assert export_file(db, tmp_path / "a.xlsx", grade="a") == 1
    assert export_file(db, tmp_path / "cn.xlsx", country="cn", source="trade-show") == 1


@pytest.mark.parametrize("name", ["round.xlsx", "round.csv"])
def test_round_trip_changes_nothing(db, tmp_path, name):
    seed(db)
    path = tmp_path / name
    export_file(db, path)
    with db.unit_of_work() as s:
        before = [(b.company, b.contact_name, b.country, b.region, b.grade, b.grade_source,
                   b.notes, b.phone) for b in s.scalars(select(Buyer).order_by(Buyer.id))]
    report = import_file(db, path, RULES.geo, RULES.matching.free_mail)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 0, 3, 0)
    assert not report.merged
    with db.unit_of_work() as s:
        after = [(b.company, b.contact_name, b.country, b.region, b.grade, b.grade_source,
                  b.notes, b.phone) for b in s.scalars(select(Buyer).order_by(Buyer.id))]
        assert s.scalar(select(func.count()).select_from(BuyerAddress)) == 3
    assert after == before
    if name.endswith(".csv"):
        assert (tmp_path / "round-history.csv").exists()
