"""Inquiries by stage (`inquiryd deals list`), as plain dicts, and their table.

Read-only. The filters and the limit run in the database; the last move of each listed
inquiry is read in one more query, not one per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import deals
from daemon.errors import UsageError
from daemon.models import Buyer, Inquiry, Stage, StageChange


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def stage_of(name: str) -> Stage:
    """The stage a person typed; UsageError naming the stages when there is none such."""
    try:
        return Stage(name.strip().lower())
    except ValueError:
        raise UsageError(f"no stage {name!r}; one of {', '.join(deals.STAGES)}") from None


def list_deals(session: Session, stage: str | None = None, buyer: Buyer | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
    """Inquiries, the most recently moved first, with the reason of their last move."""
    query = (select(Inquiry, Buyer).join(Buyer, Buyer.id == Inquiry.buyer_id)
             .order_by(Inquiry.stage_changed_at.desc(), Inquiry.id.desc()).limit(limit))
    if stage is not None:
        query = query.where(Inquiry.stage == stage_of(stage))
    if buyer is not None:
        query = query.where(Inquiry.buyer_id == buyer.id)
    rows = session.execute(query).all()
    last = last_moves(session, [i.id for i, _ in rows])
    return [_row(i, b, last.get(i.id)) for i, b in rows]


def last_moves(session: Session, ids: list[int]) -> dict[int, StageChange]:
    """The newest stage change of each of these inquiries."""
    found: dict[int, StageChange] = {}
    if not ids:
        return found
    for change in session.scalars(select(StageChange).where(StageChange.inquiry_id.in_(ids))
                                  .order_by(StageChange.at, StageChange.id)):
        found[change.inquiry_id] = change
    return found


def _row(i: Inquiry, b: Buyer, last: StageChange | None) -> dict[str, Any]:
    return {
        "id": i.id, "buyer_id": b.id, "buyer": b.company or b.contact_name or f"buyer {b.id}",
        "country": i.country or b.country, "grade": i.grade, "stage": str(i.stage),
        "since": _iso(i.stage_changed_at), "created_at": _iso(i.created_at),
        "products": [str(p.get("sku") or p.get("name")) for p in i.products or []
                     if isinstance(p, dict) and (p.get("sku") or p.get("name"))],
        "reason": last.reason if last else "", "by": last.by if last else "",
        "from_stage": last.from_stage if last else None,
    }


def print_deals(rows: list[dict[str, Any]]) -> None:
    """One line per inquiry: who, what stage since when, and why it got there."""
    console = Console(highlight=False)  # made here, so COLUMNS set by the caller counts
    if not rows:
        console.print("no inquiries match")
        return
    table = Table(title="Deals", title_justify="left")
    for col in ("id", "buyer", "country", "grade", "stage", "since", "last change"):
        table.add_column(col, overflow="fold")
    for r in rows:
        why = f"{r['reason']} ({r['by']})" if r["reason"] else ""
        table.add_row(str(r["id"]), Text(r["buyer"]), r["country"], r["grade"], r["stage"],
                      (r["since"] or "")[:16].replace("T", " "), Text(why))
    console.print(table)
    console.print(f"{len(rows)} inquiries")
