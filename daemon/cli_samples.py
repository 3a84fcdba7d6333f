"""`inquiryd samples ...`: physical samples sent to buyers.

`add INQUIRY_ID --sku SKU ...` records one (and moves the inquiry to stage `sample`),
`list [--due] [--json]` shows them, `arrived SAMPLE_ID` marks one received. Who pays
and when it should arrive follow rules/samples.toml.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, time, timezone
from typing import Any

import click

from daemon import samples as policy_rules
from daemon.errors import UsageError


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
def samples() -> None:
    """Physical samples: what was sent, by which courier, and when it should arrive."""


def _when(settings: Any, day: date | None) -> datetime:
    """Now, or noon of `day` at the desk (a date alone must not slip a day in UTC)."""
    now = datetime.now(timezone.utc)
    if day is None:
        return now
    when = datetime.combine(day, time(12), tzinfo=settings.schedule.tz)
    if when.date() > now.astimezone(settings.schedule.tz).date():
        raise UsageError(f"{day.isoformat()} is in the future")
    return when


@samples.command("add")
@click.argument("inquiry_id", type=int)
@click.option("--sku", required=True, help="The product, as in rules/catalog.csv.")
@click.option("--qty", "quantity", default=1, show_default=True, type=click.IntRange(1, 100000),
              help="How many pieces (pairs, sets ...).")
@click.option("--courier", default="", help="DHL, FedEx, UPS, TNT, EMS, post ...")
@click.option("--tracking", default="", help="The courier's tracking number.")
@click.option("--payment", type=click.Choice(list(policy_rules.PAYMENTS)), default=None,
              help="Who pays (default: rules/samples.toml; large samples T/T first).")
@click.option("--sent", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The day it left (YYYY-MM-DD; default: now).")
@click.option("--by", default=lambda: os.environ.get("USER", ""), help="Who sent it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def samples_add(ctx: Any, inquiry_id: int, sku: str, quantity: int, courier: str,
                tracking: str, payment: str | None, sent: datetime | None, by: str,
                as_json: bool) -> None:
    """Record a physical sample sent for INQUIRY_ID; the inquiry moves to stage sample."""
    from daemon import rulebook, samples_record
    from daemon.models import Buyer

    settings = ctx.settings(require_secrets=False)
    policy = samples_record.load_policy(settings.paths.rules)
    catalog = rulebook.load(settings.paths.rules).catalog
    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        added = samples_record.add(
            session, inquiry_id, sku, quantity=quantity, courier=courier.strip(),
            tracking=tracking.strip(), payment=payment,
            sent_at=_when(settings, sent.date() if sent else None), policy=policy,
            catalog=catalog, by=by)
        s = added.sample
        row = samples_record.as_row(s, session.get_one(Buyer, s.buyer_id),
                                    datetime.now(timezone.utc))
        text = (f"sample {s.id}: {s.sku} x {s.quantity} for inquiry {s.inquiry_id}"
                f"{f' by {s.courier}' if s.courier else ''}"
                f"{f' ({s.tracking})' if s.tracking else ''}, {s.payment}: "
                f"{added.payment_reason}\n"
                f"expected {s.expected_at:%Y-%m-%d} ({added.transit}); inquiry "
                + ("moved to stage sample" if added.moved else f"stays at stage {added.stage}"))
    _echo_json(row) if as_json else click.echo(text)


@samples.command("list")
@click.option("--due", is_flag=True, help="Only those that should have arrived by now.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def samples_list(ctx: Any, due: bool, as_json: bool) -> None:
    """Samples sent, newest first, with when each should arrive."""
    from daemon import samples_record

    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        rows = samples_record.listing(session, due=due)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no samples due" if due else "no samples recorded")
        return
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['state']:<10}  inquiry {r['inquiry_id']:<5} "
                   f"{r['buyer'][:30]:<30}  {r['sku']} x {r['quantity']}  "
                   f"{r['courier'] or '-'} {r['tracking'] or ''}  {r['payment']}  "
                   f"sent {(r['sent_at'] or '-')[:10]}  expected {(r['expected_at'] or '-')[:10]}"
                   + (f"  arrived {r['arrived_at'][:10]}" if r["arrived_at"] else ""))
    click.echo(f"{len(rows)} sample{'s' if len(rows) != 1 else ''}")


@samples.command("arrived")
@click.argument("sample_id", type=int)
@click.option("--on", "on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The day it arrived (YYYY-MM-DD; default: now).")
@click.option("--by", default=lambda: os.environ.get("USER", ""), help="Who says so.")
@click.pass_obj
def samples_arrived(ctx: Any, sample_id: int, on: datetime | None, by: str) -> None:
    """Mark SAMPLE_ID received by the buyer: no arrival follow-up is due any more."""
    from daemon import samples_record

    settings = ctx.settings(require_secrets=False)
    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        row = samples_record.arrived(session, sample_id,
                                     _when(settings, on.date() if on else None), by)
        click.echo(f"sample {row.id} ({row.sku} x {row.quantity}, inquiry {row.inquiry_id}) "
                   f"arrived {row.arrived_at:%Y-%m-%d}")
