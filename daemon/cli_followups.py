"""`inquiryd followups ...`: grade-based follow-ups.

`due [--days N] [--json]` shows what the daily job will draft (or send) in the next N
days, per buyer and day, with the reasons; `run-now` drafts today's due follow-ups now.
"""

from __future__ import annotations

import json
from typing import Any

import click


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
def followups() -> None:
    """Grade-based follow-ups."""


@followups.command("due")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366),
              help="How many days ahead, today included.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def followups_due(ctx: Any, days: int, as_json: bool) -> None:
    """The follow-ups due in the next DAYS days, per buyer, with the reasons."""
    from daemon import followups_job, rulebook

    settings = ctx.settings(require_secrets=False)
    db = ctx.database()
    db.ensure_schema()
    rules = rulebook.load(settings.paths.rules).followups
    rows = followups_job.due_now(settings, db, rules, days=days)
    if as_json:
        _echo_json([{"buyer_id": d.buyer_id, "buyer": d.label, "grade": d.grade,
                     "step": d.step, "date": d.when.isoformat(),
                     "scheduled": d.scheduled.isoformat(), "overdue": d.overdue,
                     "situation": d.situation or "keep-in-touch",
                     "reasons": [r.text for r in d.reasons]} for d in rows])
        return
    if not rows:
        click.echo(f"no follow-ups due in the next {days} days")
        return
    for d in rows:
        moved = f" (due {d.scheduled})" if d.scheduled != d.when else ""
        click.echo(f"{d.when} {d.when:%a}  {d.grade}  #{d.buyer_id} {d.label}  "
                   f"follow-up {d.step}{moved}  {d.situation or 'keep in touch'}")
        for reason in d.reasons[1:]:
            click.echo(f"    {reason.text}")
    click.echo(f"{len(rows)} follow-ups to {len({d.buyer_id for d in rows})} buyers")


@followups.command("run-now")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def followups_run_now(ctx: Any, as_json: bool) -> None:
    """Draft today's due follow-ups now (what the daily job does)."""
    from daemon.followups_job import run_now

    report = run_now(ctx.settings(), ctx.database())
    if as_json:
        _echo_json(vars(report))
        return
    click.echo(f"{report.due} due, {report.drafted} drafted"
               + (f", {report.approved} approved to send" if report.approved else "")
               + (f", {report.dormant} now dormant" if report.dormant else "")
               + (f", {report.failed} failed (see the log)" if report.failed else ""))
