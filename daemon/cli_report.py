"""`inquiryd report ...`: reports for the sales manager."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

import click


@click.group()
def report() -> None:
    """Reports for the sales manager."""


def _day_start(day: date | None, tz: tzinfo) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), tz)


def _month_bounds(month: str | None, tz: tzinfo) -> tuple[str, datetime, datetime]:
    """'YYYY-MM' (default: last month) -> (label, first instant, first instant of next)."""
    if month:
        try:
            first = datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            raise click.BadParameter("use YYYY-MM, e.g. 2025-03", param_hint="--month") from None
    else:
        today = datetime.now(tz).date()
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first.strftime("%Y-%m"), _day_start(first, tz), _day_start(nxt, tz)  # type: ignore[return-value]


@report.command("stats")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (company time zone).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Day after the last one.")
@click.option("--xlsx", "xlsx_path", type=click.Path(path_type=Path), help="Write a workbook.")
@click.option("--html", "html_path", type=click.Path(path_type=Path),
              help="Write one self-contained HTML page with charts.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def stats_command(ctx: Any, since: datetime | None, until: datetime | None,
                  xlsx_path: Path | None, html_path: Path | None, as_json: bool) -> None:
    """Buyers, inquiries, the funnel and reply times, for a period."""
    from daemon import report_html, report_queries, report_stats, report_xlsx
    from daemon.cli import _echo_json

    tz = ctx.settings(require_secrets=False).schedule.tz
    period = report_queries.Period(_day_start(since and since.date(), tz),
                                   _day_start(until and until.date(), tz))
    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        stats = report_stats.compute(report_queries.buyer_rows(session, period),
                                     report_queries.inquiry_rows(session, period),
                                     report_queries.reply_rows(session, period), tz)
    label = (f"{since.date() if since else 'start'} to "
             f"{until.date() if until else 'now'} (until exclusive)")
    if xlsx_path:
        report_xlsx.write_stats(stats, xlsx_path)
    if html_path:
        html_path.write_text(report_html.render(stats, title="inquiryd statistics",
                                                period=label), encoding="utf-8")
    if as_json:
        _echo_json(stats.as_dict())
    else:
        _print_summary(stats, label, [p for p in (xlsx_path, html_path) if p])


def _print_summary(stats: Any, label: str, written: list[Path]) -> None:
    click.echo(f"period: {label}")
    click.echo(f"buyers: {stats.buyers_total}; inquiries: {stats.inquiries_total}")
    click.echo("funnel: " + ", ".join(f"{k} {v}" for k, v in stats.funnel))
    for name, t in stats.reply_times.items():
        med = "-" if t.median_minutes is None else f"{t.median_minutes:.0f} min"
        click.echo(f"{name.replace('_', ' ')}: n={t.count} median {med}")
    for path in written:
        click.echo(f"wrote {path}")


@report.command("a-grade")
@click.option("--month", help="YYYY-MM (default: last month).")
@click.option("--xlsx", "xlsx_path", type=click.Path(path_type=Path),
              help="Where to write (default: a-grade-YYYY-MM.xlsx).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--email", is_flag=True,
              help="Email it to [company] sales_manager now (once a month; see --resend).")
@click.option("--resend", is_flag=True, help="With --email: send even if already sent.")
@click.pass_obj
def a_grade_command(ctx: Any, month: str | None, xlsx_path: Path | None, as_json: bool,
                    email: bool, resend: bool) -> None:
    """The A-grade buyers with details and last activity, as an .xlsx."""
    from daemon import report_queries, report_xlsx
    from daemon.cli import _echo_json

    if email:
        return _email_a_grade(ctx, month, xlsx_path, as_json, resend)
    tz = ctx.settings(require_secrets=False).schedule.tz
    label, since, until = _month_bounds(month, tz)
    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        rows = report_queries.a_grade_rows(session, since, until)
    path = xlsx_path or Path(f"a-grade-{label}.xlsx")
    report_xlsx.write_a_grade(rows, path, label)
    if as_json:
        _echo_json({"month": label, "file": str(path), "buyers": rows})
    else:
        click.echo(f"{len(rows)} A-grade buyer(s) for {label}; wrote {path}")


def _email_a_grade(ctx: Any, month: str | None, xlsx_path: Path | None, as_json: bool,
                   resend: bool) -> None:
    """`--email`: the scheduled job's function (a_list_job.send_a_list), run now."""
    import shutil

    from daemon import a_list_job
    from daemon.cli import _echo_json, fail

    settings = ctx.settings()  # sending needs the SMTP password
    if not settings.company.sales_manager:
        fail(f"{settings.source}: company.sales_manager: not set; write "
             '"Name <manager@example.com>" to email the A-grade list')
    label = _month_bounds(month, settings.schedule.tz)[0]
    db = ctx.database()
    db.ensure_schema()
    out = a_list_job.send_a_list(settings, db, label, resend=resend)
    if xlsx_path and out.path:
        shutil.copyfile(out.path, xlsx_path)
    if as_json:
        _echo_json({"month": out.month, "status": out.status, "recipient": out.recipient,
                    "buyers": out.buyers, "file": str(xlsx_path or out.path or "")})
    elif out.status == "already_sent":
        click.echo(f"the A-grade list for {out.month} was already sent to {out.recipient} "
                   f"on {out.sent_at:%Y-%m-%d %H:%M}Z; --resend sends it again")
    elif out.status == "unknown":
        click.echo(f"the connection broke after the A-grade list for {out.month} was handed "
                   f"over: it may have arrived at {out.recipient}; wrote {out.path}")
    else:
        click.echo(f"{out.buyers} A-grade buyer(s) for {out.month}; sent to {out.recipient}; "
                   f"wrote {xlsx_path or out.path}")
