"""The terms of a confirmation letter as it was sent (pure): what the reviewer changed.

A salesperson may edit any term of the confirmation letter before approving it, and
the buyer confirms the letter as sent, so the proforma invoice and the contract must
restate the letter as sent, not as drafted. `read_back` reads the block of terms that
templates/confirmation/<lang>/_terms.txt.j2 writes (the English labels) out of the sent
text and returns the terms with the reviewer's changes, each change in words for the
next reviewer.

What can change: a product line's specification, quantity and unit price (its amount
and the total must then still add up, as the buyer read them), a line removed, and the
payment, packaging, port, Incoterm, lead time, shipment date and validity. What cannot
be read back is a problem, never a guess: a product that was not drafted, another
currency, an amount or total that does not add up, a label not found. The caller
refuses to issue on problems unless told to use the terms as drafted.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from daemon.deal_terms import DealTerms, Line, line_amount
from daemon.quotation import ORIGIN_TERMS, count, money

_ITEM = re.compile(r"^\s*(\d+)\.\s+(\S+)(?:\s+(.*))?$")
_FIELD = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?):\s*(.*?)\s*$")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEXT_FIELDS = {"Payment": "payment", "Packaging": "packaging", "Port of loading": "port"}


@dataclass(frozen=True)
class ReadBack:
    """The terms as sent, what changed from the draft (in words), and what could not
    be read (in words; the terms are then the drafted ones)."""

    terms: DealTerms
    changes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass
class _Item:
    no: int
    sku: str
    fields: dict[str, str] = dataclasses.field(default_factory=dict)


def read_back(text: str, drafted: DealTerms) -> ReadBack:
    """The terms of the letter `text` (its plain body as sent), against `drafted`."""
    items, fields, problems = _blocks(text)
    if problems:
        return ReadBack(drafted, problems=tuple(problems))
    changes: list[str] = []
    lines = _lines(items, drafted, changes, problems)
    values = _header(fields, drafted, changes, problems)
    total = sum((line.amount for line in lines), Decimal(0))
    shown = _money(fields.get("Total amount", ""), drafted.currency, "total amount", problems)
    if shown is not None and lines and shown != total:
        problems.append(f"the total amount {drafted.currency} {money(shown)} is not the sum "
                        f"of the lines ({drafted.currency} {money(total)})")
    if problems:
        return ReadBack(drafted, problems=tuple(problems))
    if not changes:
        return ReadBack(drafted)
    terms = dataclasses.replace(drafted, lines=tuple(lines), total=total, **values)
    if terms.total != drafted.total:
        changes.append(f"total amount {drafted.currency} {money(drafted.total)} -> "
                       f"{money(terms.total)}")
    return ReadBack(terms, tuple(changes))


def _blocks(text: str) -> tuple[list[_Item], dict[str, str], list[str]]:
    """The product items and the other `Label: value` lines of the block of terms."""
    rows = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, row in enumerate(rows) if row.strip() == "Products:"), None)
    if start is None:
        return [], {}, ["the block of terms (\u201cProducts:\u201d) is not in the letter as sent"]
    items: list[_Item] = []
    fields: dict[str, str] = {}
    for row in rows[start + 1:]:
        row = row.rstrip()
        if row.lstrip().startswith(">"):
            break  # the quoted thread below the letter
        item = _ITEM.match(row)
        if item and not fields:
            items.append(_Item(int(item.group(1)), item.group(2)))
            continue
        found = _FIELD.match(row)
        if not found:
            continue
        label, value = found.group(1).strip(), found.group(2)
        if items and not fields and row.startswith((" ", "\t")) and label != "Total amount":
            items[-1].fields.setdefault(label, value)
        else:
            fields.setdefault(label, value)
    if not items:
        return [], {}, ["no product line is left in the letter as sent"]
    return items, fields, []


def _lines(items: list[_Item], drafted: DealTerms, changes: list[str],
           problems: list[str]) -> list[Line]:
    by_sku = {line.sku: line for line in drafted.lines}
    seen: set[str] = set()
    lines: list[Line] = []
    for item in items:
        was = by_sku.get(item.sku)
        if was is None:
            problems.append(f"line {item.no}: {item.sku} was not in the confirmation as "
                            "drafted (draft a new confirmation for another product)")
            continue
        if item.sku in seen:
            problems.append(f"line {item.no}: {item.sku} is listed twice")
            continue
        seen.add(item.sku)
        line = _line(item, was, drafted.currency, changes, problems)
        if line is not None:
            lines.append(line)
    for line in drafted.lines:
        if line.sku not in seen and not problems:
            changes.append(f"{line.sku} removed")
    return lines


def _line(item: _Item, was: Line, currency: str, changes: list[str],
          problems: list[str]) -> Line | None:
    where = f"line {item.no} ({item.sku})"
    quantity = _count(item.fields.get("Quantity", ""), f"{where}: quantity", problems)
    price = _money(item.fields.get("Unit price", ""), currency, f"{where}: unit price",
                   problems)
    amount = _money(item.fields.get("Amount", ""), currency, f"{where}: amount", problems)
    if quantity is None or price is None or amount is None:
        return None
    if amount != line_amount(price, quantity):
        problems.append(f"{where}: the amount {currency} {money(amount)} is not "
                        f"{count(quantity)} x {currency} {money(price)}")
        return None
    spec = item.fields.get("Specification", was.spec or "as our e-sample")
    spec = was.spec if spec == "as our e-sample" and not was.spec else spec
    line = dataclasses.replace(was, spec=spec, quantity=quantity, unit_price=price,
                               amount=amount)
    if quantity != was.quantity:
        changes.append(f"{item.sku} quantity {count(was.quantity)} -> {count(quantity)} "
                       f"{was.unit}")
    if price != was.unit_price:
        changes.append(f"{item.sku} unit price {currency} {money(was.unit_price)} -> "
                       f"{money(price)}")
    if spec != was.spec:
        changes.append(f"{item.sku} specification \u201c{was.spec}\u201d -> \u201c{spec}\u201d")
    return line


def _header(fields: dict[str, str], drafted: DealTerms, changes: list[str],
            problems: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    currency = fields.get("Currency", drafted.currency).strip()
    if currency != drafted.currency:
        problems.append(f"the currency {currency} is not the drafted {drafted.currency} "
                        "(draft a new confirmation in another currency)")
    for label, name in _TEXT_FIELDS.items():
        now = fields.get(label, getattr(drafted, name)).strip()
        if now and now != getattr(drafted, name):
            values[name] = now
            changes.append(f"{label.lower()} \u201c{getattr(drafted, name)}\u201d -> "
                           f"\u201c{now}\u201d")
    term = fields.get("Price terms", drafted.basis).split()
    incoterm = term[0].upper() if term else drafted.incoterm
    if incoterm not in ORIGIN_TERMS:
        problems.append(f"price terms: the prices are on {drafted.incoterm}; {incoterm} is "
                        "not a term they can be read on (draft a new confirmation)")
    elif incoterm != drafted.incoterm:
        values["incoterm"] = incoterm
        changes.append(f"price terms {drafted.incoterm} -> {incoterm}")
    lead = _count(fields.get("Lead time", str(drafted.lead_time_days)), "lead time", problems)
    if lead is not None and lead != drafted.lead_time_days:
        values["lead_time_days"] = lead
        changes.append(f"lead time {drafted.lead_time_days} -> {lead} days")
    for label, name in (("Shipment", "shipment_date"), ("Valid until", "valid_until")):
        was: date = getattr(drafted, name)
        when = _date(fields.get(label, was.isoformat()), label.lower(), problems)
        if when is not None and when != was:
            values[name] = when
            changes.append(f"{label.lower()} {was.isoformat()} -> {when.isoformat()}")
    return values


def _count(value: str, what: str, problems: list[str]) -> int | None:
    found = _NUMBER.search(value)
    if found is None or "." in found.group():
        problems.append(f"{what}: \u201c{value}\u201d is not a whole number")
        return None
    return int(found.group().replace(",", ""))


def _money(value: str, currency: str, what: str, problems: list[str]) -> Decimal | None:
    found = _NUMBER.search(value)
    other = value.split()[0] if value.split() else ""
    if found is None or (other.isalpha() and other != currency):
        problems.append(f"{what}: \u201c{value}\u201d is not an amount in {currency}")
        return None
    return Decimal(found.group().replace(",", ""))


def _date(value: str, what: str, problems: list[str]) -> date | None:
    found = _DATE.search(value)
    try:
        if found:
            return date.fromisoformat(found.group())
    except ValueError:
        pass
    problems.append(f"{what}: \u201c{value}\u201d is not a date (YYYY-MM-DD)")
    return None
