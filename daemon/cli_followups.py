"""`inquiryd followups ...`: grade-based follow-ups."""

from __future__ import annotations

import click


@click.group()
def followups() -> None:
    """Grade-based follow-ups."""
