"""The `inquiryd` command line: each command parses its arguments and calls one function.

Exit codes: 0 success, 1 a mistake the user must fix (the message says what and where),
2 bad usage. No stack trace reaches the user for a mistake of theirs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from daemon import __version__, config, logs
from daemon.errors import ConfigError, InquirydError



class Context(dict[str, Any]):
    """What every command shares: the config path, loaded on first use."""

    def settings(self, require_secrets: bool = True) -> config.Settings:
        if "settings" not in self:
            self["settings"] = config.load(self["config"], require_secrets=require_secrets)
        return self["settings"]

    def database(self) -> Any:
        from daemon.db import open_database

        if "db" not in self:  # database work needs no server password
            self["db"] = open_database(self.settings(require_secrets=False).database_url)
        return self["db"]


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def fail(message: str) -> NoReturn:
    raise click.exceptions.Exit(_report(message))


def _report(message: str) -> int:
    click.echo(f"inquiryd: {message}" if "\n" not in message else message, err=True)
    return 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path),
              default=config.DEFAULT_CONFIG, show_default=True, help="The TOML config file.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.version_option(__version__, prog_name="inquiryd")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, verbose: bool) -> None:
    """inquiryd: reads buyer inquiries, keeps the buyer database, drafts graded
    replies for review, sends follow-ups and newsletters."""
    logs.setup("DEBUG" if verbose else "INFO")
    ctx.obj = Context(config=config_path)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Write a working starter config, rules, templates and state layout into DIRECTORY."""
    from daemon import starter

    for path in starter.init(directory):
        click.echo(f"wrote {path}")
    click.echo(f"next: inquiryd -c {directory / 'inquiryd.toml'} check --offline")


@cli.command()
@click.option("--offline", is_flag=True, help="Do not log in to IMAP and SMTP.")
@click.pass_obj
def check(ctx: Context, offline: bool) -> None:
    """Validate config, rules and templates (and log in to the servers)."""
    from daemon import checks

    problems, notes = checks.run_checks(ctx.settings(require_secrets=not offline),
                                        offline=offline)
    for note in notes:
        click.echo(note)
    if problems:
        fail("\n".join(problems))
    click.echo("all checks passed")


@cli.command()
@click.option("--offline", is_flag=True, help="Do not log in to IMAP and SMTP.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def doctor(ctx: Context, offline: bool, as_json: bool) -> None:
    """First checks of an install, each OK or with its fix; exit 1 when one fails."""
    from daemon.doctor import diagnose
    from daemon.views import print_doctor

    report = diagnose(ctx["config"], offline=offline)
    _echo_json(report.as_dict()) if as_json else print_doctor(report)
    if report.exit_code:
        raise click.exceptions.Exit(report.exit_code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(ctx: Context, as_json: bool) -> None:
    """Polls per mailbox (last, next, health), messages and drafts by state, unknown
    sends, failures, quarantine, follow-ups due today."""
    from daemon import queries
    from daemon.views import print_status

    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        report = queries.status(session, ctx.settings(require_secrets=False))
    _echo_json(report) if as_json else print_status(report)


@cli.command()
@click.pass_obj
def run(ctx: Context) -> None:
    """Run the daemon in the foreground (what systemd starts)."""
    from daemon.service import Service

    Service(ctx.settings(), ctx.database()).run()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def poll(ctx: Context, as_json: bool) -> None:
    """One fetch-and-process cycle now, then exit."""
    from daemon.commands import poll_once
    from daemon.views import print_poll

    report = poll_once(ctx.settings(), ctx.database())
    _echo_json(report.as_dict()) if as_json else print_poll(report)


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def explain(ctx: Context, target: Path, as_json: bool) -> None:
    """Show the pipeline's decisions for FILE.eml or every file in DIR; changes nothing."""
    from daemon.explain import explain as run_explain
    from daemon.views import print_explained

    for item in run_explain(ctx.settings(require_secrets=False), ctx.database(), target):
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False, default=str))
        else:
            print_explained(item)


@cli.command()
@click.argument("ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Every failed and quarantined message.")
@click.pass_obj
def reprocess(ctx: Context, ids: tuple[str, ...], all_failed: bool) -> None:
    """Run failed or quarantined messages again (by id from `status`, or Message-ID)."""
    from daemon.commands import reprocess_messages

    if not ids and not all_failed:
        raise click.UsageError("name message ids, or give --all-failed")
    count = reprocess_messages(ctx.settings(), ctx.database(), ids, all_failed=all_failed)
    click.echo(f"{count} message(s) processed again")


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(ctx: Context) -> None:
    """Apply pending schema migrations."""
    database = ctx.database()
    applied = database.upgrade()
    click.echo(f"{database.safe_url}: " + (
        f"applied {', '.join(applied)}" if applied else "already up to date"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def send(ctx: Context, as_json: bool) -> None:
    """Send approved drafts now (one sweep of the review folder)."""
    from daemon.commands import stoppable
    from daemon.sweep import send_now

    with stoppable() as stop:
        report = send_now(ctx.settings(), ctx.database(), stop)
    data = dataclasses.asdict(report)
    _echo_json(data) if as_json else click.echo(", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in data.items() if v or k == "sent"))


@cli.group()
def buyers() -> None:
    """The buyer database."""




@buyers.command("grade")
@click.argument("who")
@click.argument("grade", type=click.Choice(["A", "B", "C", "D"], case_sensitive=False))
@click.option("--why", required=True, help="The reason, kept in the buyer's history.")
@click.option("--by", default=lambda: os.environ.get("USER", ""), help="Who decides.")
@click.pass_obj
def buyers_grade(ctx: Context, who: str, grade: str, why: str, by: str) -> None:
    """Set a buyer's grade by hand (by address or id); automatic grading keeps it."""
    from daemon.commands import override_grade

    buyer = override_grade(ctx.database(), who, grade.upper(), by=by, why=why)
    click.echo(f"buyer #{buyer} is now grade {grade.upper()} (set by hand: {why})")


@cli.group()
def drafts() -> None:
    """Drafts waiting for review or sent."""


@drafts.command("list")
@click.option("--state", help="Only drafts in this state (pending, approved, sent, unknown...).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def drafts_list(ctx: Context, state: str | None, as_json: bool) -> None:
    """List drafts, newest first."""
    from daemon import outbox
    from daemon.views import print_drafts

    db = ctx.database()
    db.ensure_schema()
    with db.unit_of_work() as session:
        rows = outbox.drafts_list(session, state)
    _echo_json(rows) if as_json else print_drafts(rows)


@drafts.command("resolve")
@click.argument("draft_id")
@click.argument("decision", type=click.Choice(["sent", "resend"]))
@click.pass_obj
def drafts_resolve(ctx: Context, draft_id: str, decision: str) -> None:
    """Decide a draft whose send outcome is unknown: it was sent, or send it again."""
    from daemon.sweep import resolve_draft

    click.echo(resolve_draft(ctx.settings(), ctx.database(), draft_id, decision))


def _add_command_groups() -> None:
    # Command groups that live beside the code they drive.
    from daemon.cli_buyers import register_buyer_commands
    from daemon import cli_deal_documents  # noqa: F401  (adds its commands to `deals`)
    from daemon.cli_campaign import campaign, campaign_address
    from daemon.cli_deals import deals
    from daemon.cli_followups import followups
    from daemon.cli_report import report
    from daemon.cli_rfqs import rfqs
    from daemon.cli_samples import samples

    cli.add_command(deals)
    cli.add_command(samples)
    cli.add_command(rfqs)
    cli.add_command(followups)
    cli.add_command(campaign)
    cli.add_command(report)
    buyers.add_command(campaign_address, "address")
    register_buyer_commands(buyers)


_add_command_groups()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become a message and exit 1, never a trace."""
    try:
        # Without standalone mode click returns the code of an Exit instead of raising it.
        code = cli.main(args=argv, prog_name="inquiryd", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except ConfigError as exc:
        sys.exit(_report("\n".join(exc.problems)))
    except InquirydError as exc:
        sys.exit(_report(str(exc)))
    sys.exit(code if isinstance(code, int) else 0)
