"""`inquiryd campaign ...`: newsletters to segments of the buyer database."""

from __future__ import annotations

import click


@click.group()
def campaign() -> None:
    """Newsletters to segments of the buyer database."""
