"""Numbers as buyers write them: "5,000", "5.000", "5 000", "0,82", "1.200,50" (pure).

Run on folded text (digits already ASCII, no-break spaces already plain spaces).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# A count: thousands grouped by , . space or ' (exactly three digits per group), or plain.
COUNT = r"\d{1,3}(?:[ ,.'’]\d{3})+(?!\d)|\d+(?:[.,]\d+)?"
# A price: grouped thousands with optional decimals, or plain with decimals.
PRICE = r"\d{1,3}(?:[ ,.]\d{3})+(?:[.,]\d{1,4})?(?!\d)|\d+(?:[.,]\d{1,4})?(?!\d)"

# Words that multiply: "10k pieces", "10 mil piezas", "5 тыс. шт", "2万个".
MULTIPLIERS = {"k": 1000, "mil": 1000, "тыс": 1000, "тыс.": 1000, "千": 1000, "万": 10000,
               "萬": 10000, "bin": 1000, "ribu": 1000}
MULTIPLIER = r"(?:k|mil|тыс\.?|千|万|萬|bin|ribu)(?![a-z])"


def to_decimal(written: str) -> Decimal | None:
    """'1,200.50' -> 1200.50, '0,82' -> 0.82, '1.200' -> 1200, '2.5' -> 2.5."""
    s = re.sub(r"[ '’]", "", written)
    if "," in s and "." in s:
        decimal_mark = "," if s.rfind(",") > s.rfind(".") else "."
        s = s.replace("." if decimal_mark == "," else ",", "").replace(",", ".")
    elif "," in s or "." in s:
        mark = "," if "," in s else "."
        parts = s.split(mark)
        grouped = len(parts) > 2 or (len(parts[-1]) == 3 and parts[0] not in ("0", ""))
        s = "".join(parts) if grouped else s.replace(",", ".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


# No order is for more pieces; a longer run of digits is an id or junk, and an int of
# over 4,300 digits cannot even be printed (ValueError) by the stages after extract.
MAX_COUNT = 10**12


def to_count(written: str, multiplier: str = "") -> int | None:
    """A whole quantity: '5,000' -> 5000; '1.5' with 'k' -> 1500."""
    value = to_decimal(written)
    if value is None:
        return None
    value *= MULTIPLIERS.get(multiplier.strip(), 1)
    whole = value == value.to_integral_value()
    return int(value) if whole and 0 < value <= MAX_COUNT else None
