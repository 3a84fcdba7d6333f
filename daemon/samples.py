"""The physical samples policy (pure): who pays, when a sample should arrive, and whether
sending one moves the inquiry to stage `sample`.

The policy is data (rules/samples.toml, read by `SamplePolicy.from_toml`): the default
payment (free sample, freight collect), the limits above which a sample is large (paid
by T/T first), and transit days per courier. Mistakes are reported all at once as
`FILE: key: what is wrong`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from daemon.deals import forward
from daemon.errors import ConfigError

PAYMENTS = {"free-collect": "free sample, freight collect",
            "tt-first": "paid by T/T before it leaves",
            "prepaid": "we pay the freight"}
MAX_DAYS = 120
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class Courier:
    name: str
    description: str
    couriers: tuple[str, ...]
    days: int

    def matches(self, courier: str) -> bool:
        """`courier` as typed names one of ours: whole words, any case ("DHL Express")."""
        typed = f" {' '.join(courier.lower().split())} "
        return any(f" {c.lower()} " in typed for c in self.couriers)


# What a desk whose rules/ has no samples.toml gets (the shipped file says the same).
DEFAULT_COURIERS = (
    Courier("express", "international express couriers, door to door",
            ("DHL", "FedEx", "UPS", "TNT", "Aramex", "SF Express"), 5),
    Courier("ems", "EMS (the postal express service)", ("EMS",), 12),
    Courier("post", "ordinary and registered air mail",
            ("post", "China Post", "air mail", "airmail", "registered mail"), 20))


@dataclass(frozen=True, slots=True)
class SamplePolicy:
    default_payment: str = "free-collect"
    max_quantity: int = 20
    max_value_usd: Decimal = Decimal("50")
    default_days: int = 10
    couriers: tuple[Courier, ...] = DEFAULT_COURIERS

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str) -> SamplePolicy:
        """The policy of samples.toml; ConfigError naming file and key of each mistake."""
        problems: list[str] = []
        payment = _table(data, "payment", source, problems).get("default", "free-collect")
        if payment not in PAYMENTS:
            problems.append(f"{source}: payment.default: {payment!r} is not one of "
                            f"{', '.join(PAYMENTS)}")
        large = _table(data, "large", source, problems)
        quantity = _whole(large.get("max_quantity", 20), f"{source}: large.max_quantity",
                          problems, 1, 1_000_000)
        value = _amount(large.get("max_value_usd", 50), f"{source}: large.max_value_usd",
                        problems)
        days = _whole(_table(data, "transit", source, problems).get("default_days", 10),
                      f"{source}: transit.default_days", problems, 1, MAX_DAYS)
        couriers = (_couriers(data["courier"], source, problems) if "courier" in data
                    else DEFAULT_COURIERS)
        if problems:
            raise ConfigError(problems)
        return cls(str(payment), quantity, value, days, couriers)


def _table(data: Mapping[str, Any], key: str, source: str,
           problems: list[str]) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        problems.append(f"{source}: {key}: must be a table [{key}]")
        return {}
    return value


def _whole(value: Any, where: str, problems: list[str], low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: must be a whole number from {low} to {high}, not {value!r}")
        return low
    return value


def _amount(value: Any, where: str, problems: list[str]) -> Decimal:
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool) else Decimal(-1)
    except InvalidOperation:
        amount = Decimal(-1)
    if amount < 0:
        problems.append(f"{where}: must be an amount in USD (0 or more), not {value!r}")
        return Decimal(0)
    return amount


def _couriers(entries: Any, source: str, problems: list[str]) -> tuple[Courier, ...]:
    if not isinstance(entries, list):
        problems.append(f"{source}: courier: must be a list of [[courier]] entries")
        return ()
    found = []
    for n, entry in enumerate(entries, start=1):
        where = f"{source}: courier '{entry.get('name', '?')}' (entry {n})"
        before = len(problems)
        name = str(entry.get("name", ""))
        if not _NAME.match(name):
            problems.append(f"{where}: name: must be kebab-case, e.g. 'express'")
        names = entry.get("couriers")
        if not isinstance(names, list) or not names or not all(
                isinstance(c, str) and c.strip() for c in names):
            problems.append(f"{where}: couriers: must be a list of courier names")
        days = _whole(entry.get("days"), f"{where}: days", problems, 1, MAX_DAYS)
        if len(problems) == before:
            found.append(Courier(name, str(entry.get("description", "")),
                                 tuple(str(c).strip() for c in names), days))
    return tuple(found)


# ------------------------------------------------------------------ the decisions


def transit(policy: SamplePolicy, courier: str) -> tuple[int, str]:
    """Days in transit for `courier`, and where the figure comes from."""
    for entry in policy.couriers:
        if courier and entry.matches(courier):
            return entry.days, f"{entry.name}: {entry.days} days"
    shown = f"{courier!r} not listed" if courier else "no courier given"
    return policy.default_days, f"{shown}: default {policy.default_days} days"


def expected_arrival(policy: SamplePolicy, courier: str, sent_at: datetime) -> datetime:
    return sent_at + timedelta(days=transit(policy, courier)[0])


def payment(policy: SamplePolicy, quantity: int, unit_price: Decimal | None,
            asked: str | None = None) -> tuple[str, str]:
    """Who pays, and why: as asked; else T/T first for a large sample; else the default."""
    if asked:
        if asked not in PAYMENTS:
            raise ValueError(f"payment {asked!r}: use one of {', '.join(PAYMENTS)}")
        return asked, f"{PAYMENTS[asked]} (as entered)"
    if quantity > policy.max_quantity:
        return "tt-first", (f"large sample: {quantity} is more than {policy.max_quantity} "
                            f"pieces, so {PAYMENTS['tt-first']}")
    value = unit_price * quantity if unit_price is not None else None
    if value is not None and value > policy.max_value_usd:
        return "tt-first", (f"large sample: worth USD {value:.2f}, more than USD "
                            f"{policy.max_value_usd:.2f}, so {PAYMENTS['tt-first']}")
    return policy.default_payment, f"{PAYMENTS[policy.default_payment]} (the policy)"


def moves_to_sample(stage: str) -> bool:
    """Sending a sample moves the inquiry forward to `sample`, and revives a dormant or
    lost one (a person sent it); a deal already further (confirmed, contract, won) stays:
    a repeat or production sample does not move it back."""
    return forward(stage, "sample") or stage in ("dormant", "lost")


def stage_reason(sku: str, quantity: int, courier: str, tracking: str, paid: str) -> str:
    """The reason recorded with the stage move, in words."""
    by = f" by {courier}" if courier else ""
    number = f" (tracking {tracking})" if tracking else ""
    return f"sample {sku} x {quantity} sent{by}{number}, {PAYMENTS.get(paid, paid)}"
