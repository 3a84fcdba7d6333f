"""`inquiryd buyers import|export|list|show`: the buyer database as people use it."""

from __future__ import annotations

import click


def register_buyer_commands(buyers: click.Group) -> None:
    """Add this module's commands to the `buyers` group."""
