"""`inquiryd buyers import|export|list|show`: the buyer database as people use it."""

from __future__ import annotations

import click


def register_buyer_commands(buyers: click.Group) -> None:
    """Add this module's commands to the `buyers` group."""
    _register_views(buyers)
    _register_import_export(buyers)


# -- history and the filtered list (buyers show | list) -----------------------------------------

def _register_views(buyers: click.Group) -> None:
    """`buyers show` and `buyers list`: one buyer's history, and who is where."""
    import json
    from datetime import UTC, datetime
    from typing import Any

    def echo_json(data: Any) -> None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def when(value: datetime | None) -> datetime | None:
        # A date given on the command line is midnight UTC of that day.
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @buyers.command("show")
    @click.argument("who")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_obj
    def buyers_show(ctx: Any, who: str, as_json: bool) -> None:
        """Everything about one buyer (by address or id): addresses, grades, messages,
        inquiries, drafts, next follow-up."""
        from daemon.buyer_views import buyer_history
        from daemon.commands import find_buyer
        from daemon.views import print_buyer_history

        db = ctx.database()
        db.ensure_schema()
        with db.unit_of_work() as session:
            data = buyer_history(session, find_buyer(session, who))
        echo_json(data) if as_json else print_buyer_history(data)

    @buyers.command("list")
    @click.option("--grade", multiple=True, help="A, B, C or D (repeat, or A,B).")
    @click.option("--country", help="ISO country code, e.g. AE.")
    @click.option("--region", help="Region, e.g. Middle East.")
    @click.option("--city", help="City, e.g. Dubai.")
    @click.option("--source", help="trade-show, website, old-customer...")
    @click.option("--owner", help="The salesperson who owns the buyer.")
    @click.option("--status", help="Buyer status (active, customer, ...).")
    @click.option("--product", help="A SKU the buyer asked about in an inquiry.")
    @click.option("--last-contact-before", type=click.DateTime(), help="YYYY-MM-DD (UTC).")
    @click.option("--last-contact-after", type=click.DateTime(), help="YYYY-MM-DD (UTC).")
    @click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
    @click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_obj
    def buyers_list(ctx: Any, grade: tuple[str, ...], country: str | None,
                    region: str | None, city: str | None, source: str | None,
                    owner: str | None, status: str | None, product: str | None,
                    last_contact_before: datetime | None,
                    last_contact_after: datetime | None, limit: int, offset: int,
                    as_json: bool) -> None:
        """Buyers matching the filters, most recently contacted first
        (e.g. `buyers list --country AE --city Dubai` before a trip)."""
        from daemon.buyer_views import list_buyers
        from daemon.views import print_buyer_list

        db = ctx.database()
        db.ensure_schema()
        with db.unit_of_work() as session:
            rows = list_buyers(session, grade=grade or None, country=country, region=region,
                               city=city, source=source, owner=owner, status=status,
                               product=product,
                               last_contact_before=when(last_contact_before),
                               last_contact_after=when(last_contact_after),
                               limit=limit, offset=offset)
        echo_json(rows) if as_json else print_buyer_list(rows, limit=limit, offset=offset)



# -- sheets in and out (buyers import | export) ------------------------------------------------

def _register_import_export(buyers: click.Group) -> None:
    """`buyers import` and `buyers export`: the desk's Excel sheets in and out."""
    import sys
    from pathlib import Path
    from typing import Any

    @buyers.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--source", default="", help="Source for rows without one "
                                               "(trade-show, old-customer, website...).")
    @click.option("--dry-run", is_flag=True, help="Show the counts; write nothing.")
    @click.option("--overwrite", is_flag=True, help="Replace fields a person already set.")
    @click.option("--map", "mapping", default="", help="Extra columns: 'Header=field,...'.")
    @click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
                  help="Where to write rejected rows [default: FILE-rejected.csv].")
    @click.pass_obj
    def buyers_import(ctx: Any, file: Path, source: str, dry_run: bool, overwrite: bool,
                      mapping: str, rejects: Path | None) -> None:
        """Import buyers from an .xlsx or .csv sheet (English or Chinese headers)."""
        from daemon import rulebook
        from daemon.buyer_import import import_file, write_rejects
        from daemon.buyer_sheets import SheetError
        from daemon.errors import ConfigError

        book = rulebook.load(ctx.settings(require_secrets=False).paths.rules)
        db = ctx.database()
        db.ensure_schema()
        try:
            report = import_file(db, file, book.geo, book.matching.free_mail, source=source,
                                 dry_run=dry_run, overwrite=overwrite, mapping=mapping,
                                 progress=sys.stderr.isatty())
        except SheetError as exc:
            raise ConfigError(f"{file}: {exc}") from None
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(report.summary())
        if report.rejects and (rejects or not dry_run):
            target = rejects or file.with_name(f"{file.stem}-rejected.csv")
            write_rejects(target, report)
            click.echo(f"rejected rows and reasons: {target}")

    @buyers.command("export")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--grade", type=click.Choice(["A", "B", "C", "D"], case_sensitive=False))
    @click.option("--country", help="ISO country code, e.g. AE.")
    @click.option("--region", help="Region, e.g. Middle East.")
    @click.option("--source", help="trade-show, website, old-customer...")
    @click.pass_obj
    def buyers_export(ctx: Any, file: Path, grade: str | None, country: str | None,
                      region: str | None, source: str | None) -> None:
        """Export buyers to .xlsx (Buyers and Contact history sheets) or .csv."""
        from daemon.buyer_export import export_file

        db = ctx.database()
        db.ensure_schema()
        count = export_file(db, file, grade=grade, country=country, region=region,
                            source=source)
        click.echo(f"exported {count} buyers to {file}")
