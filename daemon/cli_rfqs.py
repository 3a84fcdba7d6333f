"""`inquiryd rfqs ...`: buyers' RFQs from platform digests, to answer on the platform.

`list [--state S] [--json]` shows the leads, newest first, with the products of ours
each matches; `set ID answered|ignored` records what a salesperson did with one.
"""

from __future__ import annotations

import json
from typing import Any

import click

STATES = ("open", "answered", "ignored")


@click.group()
def rfqs() -> None:
    """Buyers' RFQs listed in platform digests, with the products of ours they match."""


@rfqs.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only leads in this state.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def rfqs_list(ctx: Any, state: str | None, as_json: bool) -> None:
    """RFQ leads, newest first, with the products they match."""
    from daemon.rfq_record import list_leads

    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        rows = list_leads(session, state)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no RFQ leads" + (f" in state {state}" if state else ""))
        return
    for r in rows:
        skus = ", ".join(r["skus"]) or "no product of ours"  # type: ignore[arg-type]
        click.echo(f"#{r['id']} {r['state']:<8} {r['platform']}  {r['posted'] or '-'}  "
                   f"{r['country'] or '--'}  {r['quantity'] or '-'}  {r['title']}")
        click.echo(f"    matches: {skus}" + (f"  buyer: {r['buyer']}" if r["buyer"] else ""))
        if r["url"]:
            click.echo(f"    {r['url']}")
    click.echo(f"{len(rows)} lead(s)")


@rfqs.command("set")
@click.argument("lead_id", type=int)
@click.argument("state", type=click.Choice(["answered", "ignored", "open"]))
@click.pass_obj
def rfqs_set(ctx: Any, lead_id: int, state: str) -> None:
    """Record that lead LEAD_ID was answered on the platform, or ignored (or reopen it)."""
    from daemon.errors import UsageError
    from daemon.rfq_record import set_state

    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        lead = set_state(session, lead_id, state)
        if lead is None:
            raise UsageError(f"no RFQ lead {lead_id} (see `inquiryd rfqs list`)")
        title = lead.title
    click.echo(f"RFQ lead #{lead_id} is now {state}: {title}")
