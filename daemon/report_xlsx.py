"""The reports as .xlsx workbooks (I/O: openpyxl writes the file)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from daemon.report_stats import INTERVALS, Stats, Timing

A_GRADE_COLUMNS = (
    ("id", "ID"), ("company", "Company"), ("contact", "Contact"), ("email", "Email"),
    ("country", "Country"), ("region", "Region"), ("city", "City"), ("type", "Type"),
    ("source", "Source"), ("owner", "Owner"), ("status", "Status"),
    ("grade_source", "Grade set by"), ("phone", "Phone"), ("inquiries", "Inquiries"),
    ("messages_in_month", "Messages this month"), ("first_contact", "First contact"),
    ("last_activity", "Last activity"), ("next_followup", "Next follow-up"),
)


def _sheet(wb: Workbook, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    ws: Worksheet = wb.create_sheet(title)
    ws.append(list(header))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_cell(v) for v in row])
    ws.freeze_panes = "A2"
    for i, name in enumerate(header, start=1):
        width = max([len(str(name))] + [len(str(_cell(r[i - 1]) or "")) for r in rows])
        ws.column_dimensions[ws.cell(1, i).column_letter].width = min(50, width + 2)


def _cell(value: Any) -> Any:
    # Excel has no time zones: write the wall-clock time in UTC, without the zone.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _timing_row(who: str, timings: dict[str, Timing]) -> list[Any]:
    row: list[Any] = [who]
    for name, _, _ in INTERVALS:
        t = timings[name]
        row += [t.count, t.median_minutes, t.within_2h, t.within_1_working_day]
    return row


def write_stats(stats: Stats, path: Path) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    for dim, items in stats.buyers_by.items():
        _sheet(wb, f"Buyers by {dim}", (dim, "buyers"), items)
    _sheet(wb, "Products", ("product", "inquiries"), stats.products)
    _sheet(wb, "Grades", ("grade", "inquiries"), stats.grades)
    _sheet(wb, "Funnel", ("stage", "inquiries"), stats.funnel)
    header = ["owner"] + [f"{n} {c}" for n, _, _ in INTERVALS
                          for c in ("count", "median minutes", "share 2h", "share 1 working day")]
    rows = [_timing_row("all", stats.reply_times)] + [
        _timing_row(o, t) for o, t in stats.reply_times_by_owner.items()]
    _sheet(wb, "Reply times", header, rows)
    wb.save(path)


def write_a_grade(rows: Sequence[dict[str, Any]], path: Path, month: str) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, f"A-grade {month}", [h for _, h in A_GRADE_COLUMNS],
           [[r[k] for k, _ in A_GRADE_COLUMNS] for r in rows])
    wb.save(path)
