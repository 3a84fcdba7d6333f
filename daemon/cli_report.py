"""`inquiryd report ...`: reports for the sales manager."""

from __future__ import annotations

import click


@click.group()
def report() -> None:
    """Reports for the sales manager."""
