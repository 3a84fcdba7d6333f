"""Buyer import: sheets as the desk has them, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from daemon import buyer_sheets as sheets
from daemon import rulebook
from daemon.buyer_import import import_file, read_rows, write_rejects
from daemon.models import Buyer, BuyerAddress

RULES = rulebook.load(Path(__file__).resolve().parents[1] / "rules")
FREE = RULES.matching.free_mail


def run(db, path, **kw):
    return import_file(db, path, RULES.geo, FREE, **kw)


def xlsx(path: Path, rows: list[list[object]], title: str | None = None) -> Path:
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[0]))
        sheet.append([])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def counts(db):
    with db.unit_of_work() as s:
        return (s.scalar(select(func.count()).select_from(Buyer)),
                s.scalar(select(func.count()).select_from(BuyerAddress)))


CHINESE = [
    ["客户名称", "联系人", "邮箱", "国家", "电话", "等级", "来源", "备注", "业务员"],
    ["Al Noor Trading LLC", "Ahmed", "ahmed@alnoor.ae; sales@alnoor.ae", "阿联酋", "+971 4 555 0186", "A", "展会", "老客户", "Lily"],
    ["Al Noor Trading", "", "info@alnoor.ae", "", "", "", "", "", ""],       # same domain: merged
    ["Casa Bella", "Maria", "maria@gmail.com\nbella@hotmail.com", "Spain", "", "b", "", "", ""],
    ["", "", "", "", "", "", "", "", ""],                                         # blank: skipped
    ["", "Nobody", "", "France", "", "", "", "", ""],                             # rejected
    ["Bad Mail Co", "", "bad@", "", "", "", "", "", ""],                          # rejected
    ["Kowalski Sp", "Jan", "", "PL", "", "", "", "", ""],                         # company only
]


def test_chinese_headers_merged_title_duplicates_in_sheet(db, tmp_path):
    path = xlsx(tmp_path / "客户.xlsx", CHINESE, title="2024 广交会客户名单")
    report = run(db, path, source="trade-show")
    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 0, 0, 2)
    assert [m.line for m in report.merged] == [5]
    assert [r.line for r in report.rejects] == [8, 9]
    assert "no email address and no company" in report.rejects[0].reason
    assert "bad email" in report.rejects[1].reason
    assert counts(db) == (3, 5)
    with db.unit_of_work() as s:
        noor = s.scalars(select(Buyer).where(Buyer.company_key == "al noor")).one()
        assert (noor.country, noor.region, noor.grade, noor.grade_source, noor.source,
                noor.owner) == ("AE", RULES.geo.region_of("AE"), "A", "override", "展会", "Lily")
        bella = s.scalars(select(Buyer).where(Buyer.company == "Casa Bella")).one()
        assert (bella.country, bella.grade, bella.source) == ("ES", "B", "trade-show")
    out = tmp_path / "rejects.csv"
    write_rejects(out, report)
    assert "bad email" in out.read_text(encoding="utf-8-sig")


def test_again_changes_nothing_and_matches_database(db, tmp_path):
    path = xlsx(tmp_path / "a.xlsx", CHINESE, title="客户")
    run(db, path)
    again = run(db, path)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 2)
    assert counts(db) == (3, 5)


def test_against_database_fills_blanks_only_unless_overwrite(db, tmp_path):
    run(db, xlsx(tmp_path / "a.xlsx", CHINESE))
    later = xlsx(tmp_path / "b.xlsx", [
        ["Company", "Contact", "E-mail", "Country", "City", "Grade"],
        ["Al Noor General Trading", "Omar", "omar@alnoor.ae", "Saudi Arabia", "Dubai", "C"],  # domain
        ["CASA BELLA S.L.", "", "", "", "Madrid", ""],                      # company name
        ["New One", "", "x@gmail.com", "Germany", "", ""],                 # free mail: new
        ["Other", "", "maria@gmail.com", "", "", ""],                      # address
    ])
    report = run(db, later)
    assert (report.created, report.updated, report.unchanged) == (1, 2, 1)  # "Other": Casa Bella, nothing new
    assert counts(db) == (4, 7)
    with db.unit_of_work() as s:
        noor = s.scalars(select(Buyer).where(Buyer.company_key == "al noor")).one()
        assert (noor.contact_name, noor.country, noor.city, noor.grade) == ("Ahmed", "AE", "Dubai", "A")
        assert s.scalar(select(BuyerAddress.buyer_id).where(
            BuyerAddress.address == "omar@alnoor.ae")) == noor.id
        assert s.scalars(select(Buyer.city).where(Buyer.company == "Casa Bella")).one() == "Madrid"
    forced = run(db, later, overwrite=True)
    assert forced.created == 0
    with db.unit_of_work() as s:
        noor = s.scalars(select(Buyer).join(BuyerAddress)
                         .where(BuyerAddress.address == "omar@alnoor.ae")).one()
        assert (noor.contact_name, noor.country, noor.grade) == ("Omar", "SA", "C")
        assert noor.company == "Al Noor General Trading"


def test_dry_run_writes_nothing(db, tmp_path):
    report = run(db, xlsx(tmp_path / "a.xlsx", CHINESE), dry_run=True)
    assert (report.created, report.rejected) == (3, 2)
    assert counts(db) == (0, 0)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_csv_encodings(db, tmp_path, encoding):
    text = ("公司名称,联系人,电子邮件,国家地区,手机,类型\r\n"
            "义乌贸易,王伟,wang@yiwu-trade.cn / li@yiwu-trade.cn,中国,138 0000 0000,批发商\r\n"
            "Dubai Mart,,buy@dubaimart.ae,UAE,,零售\r\n"
            "义乌贸易有限公司,,,,,\r\n")
    path = tmp_path / "buyers.csv"
    path.write_bytes(text.encode(encoding))
    report = run(db, path)
    assert (report.created, report.rejected, len(report.merged)) == (2, 0, 1)
    with db.unit_of_work() as s:
        yiwu = s.scalars(select(Buyer).where(Buyer.company == "义乌贸易")).one()
        assert (yiwu.contact_name, yiwu.country, yiwu.buyer_type) == ("王伟", "CN", "批发商")
    assert counts(db) == (2, 3)


def test_map_option_and_header_search(tmp_path):
    rows = [["Our customers"], [], ["Firm", "Mailbox", "Land"], ["Acme", "a@acme.de", "Deutschland"]]
    with pytest.raises(sheets.SheetError):
        sheets.find_header(rows)
    header = sheets.find_header(rows, sheets.parse_map("Firm=company, Mailbox=email, Land=country"))
    assert header.row == 2
    with pytest.raises(sheets.SheetError):
        sheets.parse_map("Firm=nonsense")


def test_split_emails():
    assert sheets.split_emails("A@x.com; b@y.org, c@z.net / d@w.io\ne@v.cn　f@u.de") == (
        ["a@x.com", "b@y.org", "c@z.net", "d@w.io", "e@v.cn", "f@u.de"], [])
    assert sheets.split_emails("ok@x.com, nope")[1] == ["nope"]


def test_read_rows_gbk_bytes(tmp_path):
    path = tmp_path / "g.csv"
    path.write_bytes("公司;邮箱\n甲;a@b.cn\n".encode("gbk"))
    assert read_rows(path) == [["公司", "邮箱"], ["甲", "a@b.cn"]]
