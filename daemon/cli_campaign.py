"""`inquiryd campaign ...`: newsletters to segments of the buyer database.

Also `campaign address ADDRESS [STATUS]`: see, and reverse, an address that was marked
unsubscribed or bounced (a person's decision; nothing else ever sets it back to active).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import click


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
def campaign() -> None:
    """Newsletters to segments of the buyer database."""


@campaign.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def campaign_list(ctx: Any, as_json: bool) -> None:
    """Campaign files in templates/newsletter/ and how far each was sent."""
    from daemon.campaigns import list_campaigns

    db = ctx.database()
    db.ensure_schema()
    rows = list_campaigns(ctx.settings(), db)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        done = ", ".join(f"{k} {v}" for k, v in sorted(row["deliveries"].items()))
        when = f" at {row['send_at']}" if row["send_at"] else ""
        click.echo(f"{row['name']}: {row['state']}{when}" + (f" ({done})" if done else ""))
        click.echo(f"    {row['problem'] or row['subject']}")
    if not rows:
        click.echo("no campaigns: add templates/newsletter/NAME.toml")


@campaign.command("preview")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def campaign_preview(ctx: Any, name: str, as_json: bool) -> None:
    """Recipient count and one rendered sample; nothing is written or sent."""
    from daemon.campaigns import preview

    db = ctx.database()
    db.ensure_schema()
    data = preview(ctx.settings(), db, name)
    if as_json:
        _echo_json(data)
        return
    click.echo(f"{name}: {data['recipients']} recipient(s); subject: {data['subject']}")
    for why, count in sorted(data["excluded"].items()):
        click.echo(f"  not sent: {count} ({why})")
    if data["over_cap_now"]:
        click.echo(f"  over the weekly cap today: {data['over_cap_now']} (skipped if sent now)")
    if data["deliveries"]:
        click.echo("  deliveries: " + ", ".join(f"{k} {v}"
                                                for k, v in sorted(data["deliveries"].items())))
    click.echo("--- sample ---\n" + (data["sample"] or "(nobody in the segment)"))


@campaign.command("send")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show who would get it; write and send nothing.")
@click.option("--connections", default=1, show_default=True, type=click.IntRange(1, 16),
              help="SMTP connections used at once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def campaign_send(ctx: Any, name: str, dry_run: bool, connections: int, as_json: bool) -> None:
    """Send campaign NAME now (throttled); a second run resumes, never sends twice."""
    from daemon.campaigns import preview, send_campaign
    from daemon.commands import stoppable
    from daemon.lock import StateLock

    settings, db = ctx.settings(), ctx.database()
    if dry_run:
        db.ensure_schema()
        data = preview(settings, db, name)
        data.pop("sample")
        _echo_json(data) if as_json else click.echo(
            f"dry run: {name} would go to {data['recipients']} recipient(s) "
            f"({data['over_cap_now']} of them over the weekly cap now); not sent: "
            + (", ".join(f"{v} {k}" for k, v in sorted(data["excluded"].items())) or "none"))
        return
    with StateLock(settings.paths.state, "send campaigns"), stoppable() as stop:
        db.ensure_schema()
        report = send_campaign(settings, db, name, stop, connections=connections)
    data = dataclasses.asdict(report)
    _echo_json(data) if as_json else click.echo(", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in data.items() if v and k != "campaign"))
    if report.error:
        raise click.exceptions.Exit(1)


STATUSES = ("active", "unsubscribed", "bounced")


@campaign.command("address")
@click.argument("address")
@click.argument("status", required=False, type=click.Choice(STATUSES))
@click.option("--by", default=lambda: os.environ.get("USER", ""), help="Who decides.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def campaign_address(ctx: Any, address: str, status: str | None, by: str,
                     as_json: bool) -> None:
    """Show an address's status and why; with STATUS, set it (e.g. back to active)."""
    from daemon.campaigns import address_status

    db = ctx.database()
    db.ensure_schema()
    data = address_status(db, address, status, by=by)
    if as_json:
        _echo_json(data)
        return
    click.echo(f"{data['address']} (buyer #{data['buyer_id']}): {data['status']}")
    for event in data["history"]:
        click.echo(f"  {event['at']}  {event['name']}  {event['why']}")
