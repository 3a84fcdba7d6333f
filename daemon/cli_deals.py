"""`inquiryd deals ...`: inquiries through their stages, and the documents that close them.

`list [--stage S] [--buyer WHO] [--json]` shows each inquiry's stage, since when and
why; `set ID STAGE [--why TEXT] [--by NAME]` moves one by hand, with the reason kept.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click


@click.group()
def deals() -> None:
    """Inquiries through their stages: quoted, negotiating, sample, confirmed, contract..."""


@deals.command("list")
@click.option("--stage", help="Only this stage: new, quoted, negotiating, sample, confirmed, "
                              "contract, won, lost, dormant.")
@click.option("--buyer", "who", help="Only this buyer's (id or address).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def deals_list(ctx: Any, stage: str | None, who: str | None, limit: int, as_json: bool) -> None:
    """Inquiries by stage, the most recently moved first, with the last change's reason."""
    from daemon.commands import find_buyer
    from daemon.deals_views import list_deals, print_deals

    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        buyer = find_buyer(session, who) if who else None
        rows = list_deals(session, stage, buyer, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
    else:
        print_deals(rows)


@deals.command("set")
@click.argument("inquiry_id")
@click.argument("stage")
@click.option("--why", default="", help="The reason, kept in the inquiry's history.")
@click.option("--by", default=lambda: os.environ.get("USER", ""), help="Who decides.")
@click.pass_obj
def deals_set(ctx: Any, inquiry_id: str, stage: str, why: str, by: str) -> None:
    """Move inquiry ID to STAGE by hand (won and lost are only ever set this way)."""
    from daemon.deals_record import set_by_hand
    from daemon.errors import UsageError

    if not inquiry_id.isdigit():
        raise UsageError(f"no inquiry {inquiry_id!r}: give its number (inquiryd deals list)")
    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        inquiry, move = set_by_hand(session, int(inquiry_id), stage, why, by)
        now = str(inquiry.stage)
    if move is None:
        click.echo(f"inquiry #{inquiry_id} is already {now}; nothing changed")
    else:
        click.echo(f"inquiry #{inquiry_id} is now {now} ({move.reason})")
