"""Who owns a buyer, and who reviews their drafts today (pure).

A buyer keeps the salesperson they have (same buyer, same salesperson); a new or
ownerless buyer who wrote to a salesperson's own mailbox (`mailbox.salesperson`) is
theirs; otherwise they get the owner of the first product they ask about that has one
(`[owners] by_product`), else the owner of their region (`by_region`), else `default`.
An owner who is away (`[[salesperson]] absent` date ranges) is covered by their named
colleague (`covered_by`), following the chain a few steps at most and never looping:
if everyone on the chain is away, the last one reached who is not the owner, or the
owner, keeps the draft.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

MAX_HOPS = 5


@dataclass(frozen=True)
class Person:
    """One salesperson as routing needs them."""

    name: str
    absent: tuple[tuple[date, date], ...] = ()
    covered_by: str = ""

    def away(self, today: date) -> tuple[date, date] | None:
        """The absence `today` falls in (inclusive), or None."""
        return next(((a, b) for a, b in self.absent if a <= today <= b), None)


@dataclass(frozen=True)
class OwnerRules:
    """`[owners]`: product and region owners and the default."""

    by_region: Mapping[str, str] = field(default_factory=dict)
    by_product: Mapping[str, str] = field(default_factory=dict)
    default: str = ""
    by_mailbox: Mapping[str, str] = field(default_factory=dict)  # mailbox -> who reads it


@dataclass(frozen=True)
class Route:
    """Who reviews a draft for `owner`; `note` is for the reviewer ('' = the owner)."""

    owner: str
    reviewer: str
    note: str = ""


def assign_owner(existing_owner: str, region: str, skus: Iterable[str],
                 rules: OwnerRules, mailbox: str = "") -> tuple[str, str]:
    """(owner, reason); owner '' when no rule names anyone."""
    if existing_owner:
        return existing_owner, f"same buyer, same salesperson ({existing_owner})"
    reader = rules.by_mailbox.get(mailbox, "") if mailbox else ""
    if reader:
        return reader, f"wrote to {mailbox}, the mailbox {reader} reads"
    products = {k.upper(): v for k, v in rules.by_product.items()}
    for sku in skus:
        owner = products.get((sku or "").upper())
        if owner:
            return owner, f"product {sku} belongs to {owner}"
    owner = rules.by_region.get(region, "") if region else ""
    if owner:
        return owner, f"region {region} belongs to {owner}"
    if rules.default:
        return rules.default, f"no product or region rule matched: default {rules.default}"
    return "", "no owner rule matched and no default"


def route(owner: str, today: date, people: Sequence[Person] | Mapping[str, Person]) -> Route:
    """Who reviews the owner's drafts today, and the note that says why."""
    by_name = people if isinstance(people, Mapping) else {p.name: p for p in people}
    current = by_name.get(owner)
    if current is None:
        return Route(owner, owner)
    first_away = current.away(today)
    if first_away is None:
        return Route(owner, owner)
    seen = {owner}
    reviewer = owner
    for _ in range(MAX_HOPS):
        colleague = by_name.get(current.covered_by) if current.covered_by else None
        if colleague is None or colleague.name in seen:
            break
        seen.add(colleague.name)
        reviewer, current = colleague.name, colleague
        if colleague.away(today) is None:
            break
    if reviewer == owner:
        return Route(owner, owner, f"for {owner}, who is away until {first_away[1]:%Y-%m-%d} "
                                   "(no colleague available to cover)")
    return Route(owner, reviewer,
                 f"for {owner}, covered by {reviewer} until {first_away[1]:%Y-%m-%d}")


def rules_from(settings: Any) -> OwnerRules | None:
    """The `[owners]` rules of a Settings; None when no `[[salesperson]]` is configured."""
    if not settings.salesperson:
        return None
    o = settings.owners
    return OwnerRules(dict(o.by_region), dict(o.by_product), o.default,
                      {b.name: b.salesperson for b in settings.mailbox if b.salesperson})


def people_from(settings: Any) -> dict[str, Person]:
    """The configured salespeople, by name, as routing needs them."""
    return {p.name: Person(p.name, tuple(p.absent), p.covered_by)
            for p in settings.salesperson}
