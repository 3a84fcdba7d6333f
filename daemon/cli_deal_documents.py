"""`inquiryd deals confirm|pi|contract ID`: the documents that close a deal, each drafted
into the review folder (daemon/deal_documents.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from daemon.cli_deals import deals


def _issue(ctx: Any, inquiry_id: int, kind: str, as_json: bool,
           as_drafted: bool = False) -> None:
    from daemon.deal_documents import issue

    db = ctx.database()
    db.ensure_schema()
    done = issue(ctx.settings(require_secrets=False), db, inquiry_id, kind,
                 as_drafted=as_drafted)
    if as_json:
        click.echo(json.dumps({"kind": done.kind, "number": done.number,
                               "draft": done.draft_id, "review_file": done.review_file,
                               "total": done.total, "currency": done.currency,
                               "file": str(done.path) if done.path else None,
                               "sha256": done.sha256 or None}, indent=2))
        return
    click.echo(f"{done.number}: {done.currency} {done.total}, drafted for review as "
               f"{done.review_file}")
    if done.path is not None:
        click.echo(f"kept as {done.path}")


AS_DRAFTED = click.option(
    "--as-drafted", is_flag=True,
    help="Use the confirmation's terms as drafted when the letter sent was edited in a way "
         "that cannot be read back.")


@deals.command("confirm")
@click.argument("inquiry_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def deals_confirm(ctx: Any, inquiry_id: int, as_json: bool) -> None:
    """Draft the transaction confirmation letter of inquiry INQUIRY_ID: every agreed term,
    for the buyer to confirm by reply (edit it in the draft before approving)."""
    _issue(ctx, inquiry_id, "confirmation", as_json)


@deals.command("pi")
@click.argument("inquiry_id", type=int)
@AS_DRAFTED
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def deals_pi(ctx: Any, inquiry_id: int, as_drafted: bool, as_json: bool) -> None:
    """Make the proforma invoice (.xlsx) of inquiry INQUIRY_ID and draft it to the buyer,
    with the terms of its confirmation letter as sent (a reviewer's changes included)."""
    _issue(ctx, inquiry_id, "pi", as_json, as_drafted)


@deals.command("contract")
@click.argument("inquiry_id", type=int)
@AS_DRAFTED
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def deals_contract(ctx: Any, inquiry_id: int, as_drafted: bool, as_json: bool) -> None:
    """Make the export sales contract (PDF) of inquiry INQUIRY_ID and draft it to the
    buyer, with the terms of its confirmation letter as sent."""
    _issue(ctx, inquiry_id, "contract", as_json, as_drafted)
