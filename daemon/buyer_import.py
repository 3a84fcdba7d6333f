"""Importing a buyer sheet (I/O): read .xlsx or .csv, match, write, report.

The decisions (header, normalising, merging, matching, what may change) are in
buyer_sheets.py; this module reads the file, asks the database, and applies them in one
transaction, rolled back for a dry run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import buyer_sheets as sheets
from daemon.db import Database
from daemon.geo import Geo
from daemon.models import Buyer, BuyerAddress, Event, GradeChange

SHEET_NAME = "Buyers"  # an exported workbook's buyer sheet; else the first sheet


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    merged: list[sheets.Merged] = field(default_factory=list)
    rejects: list[sheets.Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    header: tuple[str, ...] = ()
    dry_run: bool = False

    def summary(self) -> str:
        text = (f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}")
        if self.merged:
            text += f" ({len(self.merged)} rows merged into another row of the sheet)"
        return text + (" - dry run, nothing written" if self.dry_run else "")


class _DryRun(Exception):
    """Raised at the end of a dry run so the unit of work rolls everything back."""


def read_rows(path: Path) -> list[list[str]]:
    """Every row of the sheet as text cells; .xlsx (first or 'Buyers' sheet) or .csv."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return _read_csv(path.read_bytes())
    raise sheets.SheetError(f"{path}: not an .xlsx or .csv file")


def _read_xlsx(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    # read_only: merged title cells give their value in the first cell, None elsewhere.
    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book[SHEET_NAME] if SHEET_NAME in book.sheetnames else book.worksheets[0]
        return [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number typed as a number
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK), else a clear error."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise sheets.SheetError("the CSV is neither UTF-8 nor GBK/GB18030: save it as UTF-8")


def _read_csv(data: bytes) -> list[list[str]]:
    text = decode(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""), dialect)]


def import_file(db: Database, path: Path, geo: Geo, free_mail: frozenset[str], *,
                source: str = "", dry_run: bool = False, overwrite: bool = False,
                mapping: str = "", progress: bool = False, by: str = "import") -> ImportReport:
    """Read PATH and bring its buyers into the database; the report says what happened."""
    rows = read_rows(path)
    header = sheets.find_header(rows, sheets.parse_map(mapping) if mapping else None)
    report = ImportReport(header=tuple(rows[header.row]), dry_run=dry_run)
    index = sheets.country_index(geo.names)
    good: list[sheets.BuyerRow] = []
    for i, cells in enumerate(rows[header.row + 1:], start=header.row + 2):
        row = sheets.normalise(i, cells, header, lambda v: _country(v, index, geo),
                               geo.region_of, source)
        if isinstance(row, sheets.Rejected):
            report.rejects.append(row)
        elif row is not None:
            good.append(row)
            report.warnings.extend(row.warnings)
    buyers, report.merged = sheets.merge_rows(good, free_mail)
    try:
        with db.unit_of_work() as session:
            for row in _progress(buyers, progress, path.name):
                _one(session, row, report, free_mail, overwrite, f"{by}: {path.name}")
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    report.rejected = len(report.rejects)
    report.rejects.sort(key=lambda r: r.line)
    return report


def _country(value: str, index: dict[str, str], geo: Geo) -> str:
    code = index.get(sheets.fold(value), "")
    if code or not value.strip():
        return code
    # A city or a longer phrase ("Dubai", "Jebel Ali, UAE"): the geo rules' own reading.
    return geo.country_from("", value, "")[0]


def _progress(rows: Sequence[sheets.BuyerRow], show: bool, name: str
              ) -> Iterator[sheets.BuyerRow]:
    if not show or len(rows) < 50:
        yield from rows
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"importing {name}", total=len(rows))
        for row in rows:
            yield row
            bar.advance(task)


def _one(session: Session, row: sheets.BuyerRow, report: ImportReport,
         free_mail: frozenset[str], overwrite: bool, by: str) -> None:
    owners = dict(session.execute(select(BuyerAddress.address, BuyerAddress.buyer_id)
                                  .where(BuyerAddress.address.in_(row.emails))).all())
    match = sheets.choose(row, _ids(owners[e] for e in row.emails if e in owners),
                          _by_domain(session, row, free_mail), _by_company(session, row))
    if match.how == "ambiguous":
        report.rejects.append(sheets.Rejected(row.lines[0], match.reason))
        return
    if match.buyer_id is None:
        buyer = Buyer(status="active")
        session.add(buyer)
        todo = sheets.changes({}, row, overwrite=True)
    else:
        buyer = session.get_one(Buyer, match.buyer_id)
        todo = sheets.changes({n: getattr(buyer, n) or "" for n in sheets.UPDATABLE}, row,
                              overwrite)
    _apply(buyer, todo)
    session.flush()
    added = _addresses(session, buyer, row, owners, report)
    if todo.get("grade"):
        session.add(GradeChange(buyer_id=buyer.id, grade=buyer.grade, source="override", by=by,
                                reasons=[{"rule": "import", "text": f"grade in the sheet ({by})"}]))
    if match.buyer_id is None:
        report.created += 1
    elif todo or added:
        report.updated += 1
    else:
        report.unchanged += 1
        return
    session.add(Event(name="buyer_imported", buyer_id=buyer.id, data={
        "how": match.how, "why": match.reason, "lines": list(row.lines), "by": by,
        "changed": sorted(todo), "addresses": added}))


def _ids(values: Any) -> list[int]:
    return list(dict.fromkeys(values))


def _by_domain(session: Session, row: sheets.BuyerRow, free_mail: frozenset[str]) -> list[int]:
    domains = row.domains(free_mail)
    if not domains:
        return []
    return _ids(session.scalars(select(BuyerAddress.buyer_id).where(
        BuyerAddress.domain.in_(domains)).order_by(BuyerAddress.buyer_id)))


def _by_company(session: Session, row: sheets.BuyerRow) -> list[int]:
    if not row.company_key:
        return []
    return list(session.scalars(select(Buyer.id).where(Buyer.company_key == row.company_key)
                                .order_by(Buyer.id).limit(5)))


def _apply(buyer: Buyer, todo: dict[str, str]) -> None:
    for name, value in todo.items():
        setattr(buyer, name, value)
    if "company" in todo:
        buyer.company_key = sheets.company_key(todo["company"])
    if "grade" in todo:
        buyer.grade_source = "override"  # a person wrote it in the sheet


def _addresses(session: Session, buyer: Buyer, row: sheets.BuyerRow,
               owners: dict[str, int], report: ImportReport) -> list[str]:
    added = []
    for email in row.emails:
        owner = owners.get(email)
        if owner is None:
            session.add(BuyerAddress(buyer_id=buyer.id, address=email,
                                     domain=email.rpartition("@")[2]))
            owners[email] = buyer.id
            added.append(email)
        elif owner != buyer.id:
            report.warnings.append(f"line {row.lines[0]}: {email} belongs to buyer #{owner}: "
                                   f"left there")
    return added


def write_rejects(path: Path, report: ImportReport) -> None:
    """The rejected rows with their reasons, as a UTF-8 CSV (BOM: Excel reads it right)."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(["line", "reason", *report.header])
        for r in report.rejects:
            out.writerow([r.line, r.reason, *r.cells])
