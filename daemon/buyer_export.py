"""Exporting the buyer database (I/O): an .xlsx (Buyers + Contact history) or a .csv.

The Buyers sheet's headers are ones buyer_sheets.ALIASES knows, so an exported file
imports back with no changes; the columns after Notes are facts the database keeps
(contact dates, products, inquiries) and import ignores them.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.db import Database
from daemon.models import Buyer, BuyerAddress, Inquiry, Message

BUYER_COLUMNS = ("Company", "Contact", "Email", "Country", "Region", "City", "Phone", "Grade",
                 "Source", "Type", "Owner", "Status", "Notes", "First contact", "Last contact",
                 "Next follow-up", "Products", "Inquiries", "Buyer ID")
HISTORY_COLUMNS = ("Buyer ID", "Company", "Date", "Direction", "Kind", "Subject")


def export_file(db: Database, path: Path, *, grade: str | None = None,
                country: str | None = None, region: str | None = None,
                source: str | None = None) -> int:
    """Write the buyers (filtered) to PATH; .csv also writes PATH-history.csv. Returns count."""
    with db.unit_of_work() as session:
        buyers = _buyers(session, grade, country, region, source)
        rows = [_buyer_row(session, b) for b in buyers]
        history = _history(session, buyers)
    if path.suffix.lower() == ".csv":
        _write_csv(path, BUYER_COLUMNS, rows)
        _write_csv(path.with_name(f"{path.stem}-history.csv"), HISTORY_COLUMNS, history)
    else:
        _write_xlsx(path, rows, history)
    return len(rows)


def _buyers(session: Session, grade: str | None, country: str | None, region: str | None,
            source: str | None) -> list[Buyer]:
    query = select(Buyer).order_by(Buyer.id)
    if grade:
        query = query.where(Buyer.grade == grade.upper())
    if country:
        query = query.where(Buyer.country == country.upper())
    if region:
        query = query.where(Buyer.region == region)
    if source:
        query = query.where(Buyer.source == source)
    return list(session.scalars(query))


def _buyer_row(session: Session, b: Buyer) -> list[Any]:
    addresses = session.scalars(select(BuyerAddress.address).where(
        BuyerAddress.buyer_id == b.id).order_by(BuyerAddress.id))
    products: dict[str, None] = {}
    count = 0
    for items in session.scalars(select(Inquiry.products).where(Inquiry.buyer_id == b.id)
                                 .order_by(Inquiry.id)):
        count += 1
        for p in items or []:
            name = (p.get("name") or p.get("sku") or "") if isinstance(p, dict) else str(p)
            if name:
                products[name] = None
    return [b.company, b.contact_name, "; ".join(addresses), b.country, b.region, b.city,
            b.phone, b.grade or "", b.source, b.buyer_type, b.owner, b.status, b.notes,
            _when(b.first_contact_at), _when(b.last_contact_at), _when(b.next_followup_at),
            "; ".join(products), count, b.id]


def _history(session: Session, buyers: list[Buyer]) -> list[list[Any]]:
    names = {b.id: b.company for b in buyers}
    if not names:
        return []
    messages = session.scalars(select(Message).where(Message.buyer_id.in_(names)))
    rows = [[m.buyer_id, names[m.buyer_id or 0], m.sent_at or m.fetched_at, m.direction,
             m.kind or "", m.subject or ""] for m in messages]
    rows.sort(key=lambda r: (r[0], r[2]))
    return [[*r[:2], _when(r[2]), *r[3:]] for r in rows]


def _when(value: datetime | None) -> datetime | None:
    # Excel has no time zones: times are written as UTC without one.
    return value.astimezone(UTC).replace(tzinfo=None) if value else None


def _write_xlsx(path: Path, rows: list[list[Any]], history: list[list[Any]]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Buyers"
    history_sheet = book.create_sheet("Contact history")
    for target, columns, data in ((sheet, BUYER_COLUMNS, rows),
                                  (history_sheet, HISTORY_COLUMNS, history)):
        target.append(list(columns))
        for row in data:
            target.append([v if v != "" else None for v in row])
        target.freeze_panes = "A2"
        for cell in target[1]:
            cell.font = Font(bold=True)
        for column in target.iter_cols(min_row=2):
            for cell in column:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
    book.save(path)


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(columns)
        for row in rows:
            out.writerow([v.isoformat(sep=" ", timespec="minutes") if isinstance(v, datetime)
                          else "" if v is None else v for v in row])
