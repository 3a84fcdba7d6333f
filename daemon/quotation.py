"""The plain-text quotation sheet of a reply (pure, stdlib only).

domain.md: quotation sheets are plain text in the mail body; a quotation gives product,
spec, MOQ and tiers, unit price, payment terms, packaging, Incoterm and port, lead time.
Prices come from the catalogue column of the buyer's market region (Middle East and
South-East Asia are quoted lower than North America), `price_default` when the region
has none. The floor price is what a salesperson may go down to in negotiation: it is
never printed, and no tier goes down to it.

`build_quote` decides the numbers (a `Quote`); `render_quote` lays them out in the
buyer's language; `quotation` does both. The layout is for any mail client:
- lines of at most WIDTH display columns, spaces only (no tabs);
- columns aligned by display width (`unicodedata.east_asian_width`: a CJK character
  takes two columns in the monospaced fonts that show tables at all);
- for Arabic, table rows start with a LEFT-TO-RIGHT MARK so a right-to-left client does
  not reverse the column order.
Numbers are written the trade's way in every language (USD 1,234.56, ISO dates), so a
price cannot be misread across locales.

Quantity tiers (documented for salespeople in templates/README.md): the regional price
holds from the MOQ; from 5x MOQ it is 3 % lower, from 10x MOQ 5 %, from 20x MOQ 8 %. A
tier whose price would fall to the floor price or below is not offered.

Incoterms: catalogue prices are FOB prices. A buyer's FOB, FCA or EXW term is quoted as
asked (at the catalogue price). For a C- or D-term (CFR, CIF, DAP, DDP ...) the sheet
quotes FOB Ningbo and says that freight to the buyer's place is added in the proforma
invoice once quantity and volume are known: a CIF label on an FOB price would give the
freight away.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from daemon.catalog import Catalog, Product
from daemon.language import sheet_labels
from daemon.types import Extracted, Incoterm, ProductHit, Quantity

WIDTH = 76                      # display columns; RFC 5322 recommends at most 78
MAX_ITEMS = 10                  # a reply quoting more reads like a catalogue: attach one
CENT = Decimal("0.01")
CURRENCY = "USD"
DEFAULT_PORT = "Ningbo"
DEFAULT_TERM = "FOB"
# (multiple of MOQ, discount): see the module docstring.
TIERS: tuple[tuple[int, Decimal], ...] = (
    (1, Decimal("0")), (5, Decimal("0.03")), (10, Decimal("0.05")), (20, Decimal("0.08")))
# Terms quoted at the catalogue price as asked; others are quoted FOB (see docstring).
ORIGIN_TERMS = frozenset({"FOB", "FCA", "EXW", "FAS"})
_ORIGIN_DEFAULT_PLACE = {"FOB": DEFAULT_PORT, "FAS": DEFAULT_PORT, "FCA": "Yiwu",
                         "EXW": "Yiwu"}
# Units a buyer's quantity can be priced in: factor to the catalogue's unit.
_UNIT_FACTORS = {"": 1, "pc": 1, "pcs": 1, "piece": 1, "pieces": 1, "unit": 1, "units": 1,
                 "pair": 1, "pairs": 1, "set": 1, "sets": 1, "dozen": 12, "dozens": 12,
                 "doz": 12, "gross": 144}
_LRM = "\u200e"


@dataclass(frozen=True, slots=True)
class QuoteItem:
    """One product on the sheet. `quantity` is None when the buyer gave none for it."""

    sku: str
    name: str
    spec: str
    unit: str
    moq: int
    list_price: Decimal                       # the regional price, from the MOQ up
    tiers: tuple[tuple[int, Decimal], ...]    # (from quantity, unit price), list first
    quantity: int | None
    quantity_text: str                        # as the buyer wrote it
    unit_price: Decimal                       # at the buyer's quantity (list without one)
    amount: Decimal | None
    below_moq: bool
    lead_time_days: int | None
    certifications: tuple[str, ...]
    price_column: str                         # the catalogue column used: region or "default"


@dataclass(frozen=True, slots=True)
class Quote:
    """Everything a quotation says, before it is written out in a language."""

    items: tuple[QuoteItem, ...]
    region: str
    term: str                                 # the Incoterm the prices are on
    place: str
    buyer_term: Incoterm | None               # a C/D term the buyer asked for, quoted FOB
    payment: str                              # '' = our default terms, in the buyer's language
    today: date
    valid_until: date

    @property
    def total(self) -> Decimal | None:
        amounts = [i.amount for i in self.items if i.amount is not None]
        return sum(amounts, Decimal(0)) if amounts else None

    @property
    def has_quantities(self) -> bool:
        return any(i.quantity is not None for i in self.items)


# ------------------------------------------------------------------ the numbers


def build_quote(hits: Sequence[ProductHit], catalog: Catalog, extracted: Extracted,
                region: str, *, today: date, validity_days: int = 30) -> Quote | None:
    """The quote for the products asked for, or None when none is in the catalogue."""
    products = _products(hits, catalog)
    if not products:
        return None
    quantities = _quantities_for(products, extracted.quantities)
    items = tuple(_item(p, region, quantities.get(p.sku)) for p in products)
    term, place, buyer_term = _basis(extracted.incoterms)
    return Quote(items, region, term, place, buyer_term,
                 "; ".join(extracted.payment_terms), today,
                 today + timedelta(days=validity_days))


def _products(hits: Sequence[ProductHit], catalog: Catalog) -> list[Product]:
    """Catalogue products in the order the buyer named them, each once."""
    seen: dict[str, Product] = {}
    for hit in hits:
        product = catalog.get(hit.sku)
        if product is not None and product.sku not in seen:
            seen[product.sku] = product
    return list(seen.values())[:MAX_ITEMS]


def _quantities_for(products: Sequence[Product],
                    quantities: Iterable[Quantity]) -> dict[str, Quantity]:
    """Which of the buyer's quantities belongs to which product.

    A quantity written next to a SKU or keyword is that product's. Of the others: one
    quantity applies to every product without its own ("2,000 pcs each"); as many
    quantities as products pair up in order; anything else is too unclear to price.
    """
    priced = [q for q in quantities if q.unit.strip().lower() in _UNIT_FACTORS]
    own = {q.sku.upper(): q for q in reversed(priced) if q.sku}
    result = {p.sku: own[p.sku] for p in products if p.sku in own}
    loose = [q for q in priced if not q.sku]
    rest = [p for p in products if p.sku not in result]
    if len(loose) == 1:
        result.update({p.sku: loose[0] for p in rest})
    elif loose and len(loose) == len(rest):
        result.update({p.sku: q for p, q in zip(rest, loose, strict=True)})
    return result


def tier_prices(list_price: Decimal, moq: int,
                floor: Decimal | None) -> tuple[tuple[int, Decimal], ...]:
    """(from quantity, unit price) for each tier that stays above the floor price."""
    tiers = []
    for multiple, discount in TIERS:
        price = (list_price * (1 - discount)).quantize(CENT, ROUND_HALF_UP)
        if multiple > 1 and floor is not None and price <= floor:
            break
        tiers.append((max(moq, 1) * multiple, price))
    return tuple(tiers)


def _item(product: Product, region: str, quantity: Quantity | None) -> QuoteItem:
    list_price = product.price_for(region).quantize(CENT, ROUND_HALF_UP)
    tiers = tier_prices(list_price, product.moq, product.floor_price)
    amount_of: int | None = None
    if quantity is not None:
        amount_of = quantity.amount * _UNIT_FACTORS[quantity.unit.strip().lower()]
    billed = max(amount_of, product.moq) if amount_of is not None else None
    price = _price_at(tiers, billed) if billed is not None else list_price
    return QuoteItem(
        sku=product.sku, name=product.name, spec=product.spec, unit=product.unit,
        moq=product.moq, list_price=list_price, tiers=tiers, quantity=billed,
        quantity_text=quantity.text if quantity is not None else "", unit_price=price,
        amount=(price * billed).quantize(CENT) if billed is not None else None,
        below_moq=amount_of is not None and amount_of < product.moq,
        lead_time_days=product.lead_time_days, certifications=product.certifications,
        price_column=region if region in product.prices else "default")


def _price_at(tiers: Sequence[tuple[int, Decimal]], quantity: int) -> Decimal:
    price = tiers[0][1]
    for start, tier_price in tiers:
        if quantity >= start:
            price = tier_price
    return price


def _basis(incoterms: Sequence[Incoterm]) -> tuple[str, str, Incoterm | None]:
    """(term, place) the prices are on, and the buyer's term when it is not that."""
    if not incoterms:
        return DEFAULT_TERM, DEFAULT_PORT, None
    asked = incoterms[0]
    term = asked.term.strip().upper()
    if term in ORIGIN_TERMS:
        return term, asked.place.strip() or _ORIGIN_DEFAULT_PLACE[term], None
    return DEFAULT_TERM, DEFAULT_PORT, Incoterm(term, asked.place.strip())


# ------------------------------------------------------------------ text layout


def display_width(text: str) -> int:
    """Columns `text` takes in a monospaced font: CJK wide and fullwidth count 2."""
    if text.isascii():            # the common case, and every ASCII character is 1 column
        return len(text)
    return sum(_char_width(ch) for ch in text)


@functools.lru_cache(maxsize=4096)
def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def pad(text: str, width: int, *, right: bool = False) -> str:
    """`text` filled with spaces to `width` display columns (never cut)."""
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


def wrap(text: str, width: int) -> list[str]:
    """Greedy wrap by display width: at spaces, or between any two wide characters."""
    lines: list[str] = []
    line, used = "", 0
    space = False
    for token in _tokens(" ".join(text.split())):
        if token == " ":
            space = bool(line)
            continue
        size = display_width(token)
        gap = 1 if space else 0
        space = False
        if used + gap + size <= width:
            line, used = line + " " * gap + token, used + gap + size
            continue
        if line:
            lines.append(line)
        while size > width:                        # a word longer than a whole line
            head, token = _split_at(token, width)
            lines.append(head)
            size = display_width(token)
        line, used = token, size
    if line:
        lines.append(line)
    return lines or [""]


def _tokens(text: str) -> list[str]:
    """Words, single spaces, and each wide character alone (CJK breaks anywhere)."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        wide = unicodedata.east_asian_width(ch) in ("W", "F")
        if ch == " " or wide:
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens


def _split_at(word: str, width: int) -> tuple[str, str]:
    width = max(width, 1)
    head = ""
    for i, ch in enumerate(word):
        if display_width(head + ch) > width and head:
            return head, word[i:]
        head += ch
    return head, ""


def money(amount: Decimal) -> str:
    """1234.5 -> '1,234.50' (the trade's notation in every language)."""
    return f"{amount.quantize(CENT, ROUND_HALF_UP):,.2f}"


def count(amount: int) -> str:
    return f"{amount:,}"


def quotation(hits: Sequence[ProductHit], catalog: Catalog, extracted: Extracted,
              region: str, *, today: date, validity_days: int = 30,
              lang: str = "en") -> str:
    """The quotation sheet as plain text; '' when no product asked for is in the catalogue.

    An empty string tells the template to ask which products and quantities instead.
    """
    quote = build_quote(hits, catalog, extracted, region, today=today,
                        validity_days=validity_days)
    return render_quote(quote, lang) if quote is not None else ""


def render_quote(quote: Quote, lang: str = "en") -> str:
    """The quote laid out as the plain-text sheet, labels in `lang` (English fallback)."""
    words = sheet_labels(lang)
    rtl = lang == "ar"
    parts = [_title(quote, words), "", *_table(quote, words, rtl), ""]
    for number, item in enumerate(quote.items, 1):
        parts += [*_details(number, item, words), ""]
    parts += _terms(quote, words)
    return "\n".join(line.rstrip() for line in parts) + "\n"


def _title(quote: Quote, words: dict[str, str]) -> str:
    return (f"{words['title']}  {words['date']}: {quote.today.isoformat()}  "
            f"{words['valid_until']}: {quote.valid_until.isoformat()}")


def _table(quote: Quote, words: dict[str, str], rtl: bool) -> list[str]:
    """The summary table: one row per product, product names wrapped in their column."""
    with_qty = quote.has_quantities
    keys = ["col_no", "col_item", "col_product", "col_moq"]
    keys += ["col_qty", "col_price", "col_amount"] if with_qty else ["col_price"]
    headers = [words[k] for k in keys]
    rows = [_row(n, item, words, with_qty) for n, item in enumerate(quote.items, 1)]
    numeric = {0, len(keys) - 1, len(keys) - 2} if with_qty else {0, len(keys) - 1}
    widths = _widths(headers, rows)
    gaps = 2 * (len(headers) - 1)
    rule = "-" * (sum(widths) + gaps)
    lines = _wrapped_row(headers, widths, numeric, wrap_all=True)
    lines.append(rule)
    for row in rows:
        lines += _wrapped_row(row, widths, numeric)
    if with_qty and quote.total is not None:
        total = money(quote.total)
        label = f"{words['total']} ({CURRENCY}, {quote.term} {quote.place})"
        lines += [rule, pad(label, len(rule) - display_width(total) - 2) + "  " + total]
    return [_LRM + line if rtl else line for line in lines]


PRODUCT_MIN = 16                 # narrower, and names break into three or four lines


def _widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Column widths within WIDTH: headers wrap before the product column gets narrow."""
    gaps = 2 * (len(headers) - 1)
    data = [max((display_width(r[c]) for r in rows), default=0) for c in range(len(headers))]
    widths = [max(d, display_width(h)) for d, h in zip(data, headers, strict=True)]
    if sum(widths) - widths[2] + gaps + PRODUCT_MIN > WIDTH:
        words = [max(display_width(w) for w in h.split()) for h in headers]
        widths = [max(d, w) for d, w in zip(data, words, strict=True)]
    room = WIDTH - (sum(widths) - widths[2]) - gaps
    natural = max(data[2], display_width(headers[2]))
    # Names wrap onto more lines before the table grows past WIDTH (8: a short word).
    widths[2] = min(natural, room) if room >= min(natural, PRODUCT_MIN) else max(room, 8)
    return widths


def _row(number: int, item: QuoteItem, words: dict[str, str], with_qty: bool) -> list[str]:
    unit = words.get(f"unit_{item.unit.lower()}", item.unit)
    row = [str(number), item.sku, item.name, f"{count(item.moq)} {unit}"]
    if with_qty:
        row.append(f"{count(item.quantity)} {unit}" if item.quantity is not None else "-")
    row.append(money(item.unit_price))
    if with_qty:
        row.append(money(item.amount) if item.amount is not None else "-")
    return row


def _line(cells: Sequence[str], widths: Sequence[int], numeric: set[int]) -> str:
    return "  ".join(pad(c, widths[i], right=i in numeric) for i, c in enumerate(cells))


def _wrapped_row(row: Sequence[str], widths: Sequence[int], numeric: set[int], *,
                 wrap_all: bool = False) -> list[str]:
    """One table row over as many lines as its wrapped cells need.

    Data rows wrap only the product name; the header row wraps any cell.
    """
    cells = [wrap(cell, widths[c]) if (wrap_all or c == 2) else [cell]
             for c, cell in enumerate(row)]
    height = max(len(c) for c in cells)
    if wrap_all:        # header labels sit on the last line, like a printed table
        cells = [[""] * (height - len(c)) + c for c in cells]
    return [_line([c[i] if i < len(c) else "" for c in cells], widths, numeric)
            for i in range(height)]


def _details(number: int, item: QuoteItem, words: dict[str, str]) -> list[str]:
    """Per product: spec, tiers, the buyer's quantity, lead time, certificates."""
    unit = words.get(f"unit_{item.unit.lower()}", item.unit)
    fields: list[tuple[str, str | tuple[str, ...]]] = []
    if item.spec:
        fields.append((words["spec"], item.spec))
    fields.append((words["moq"], f"{count(item.moq)} {unit}"))
    fields.append((words["price_tiers"], tuple(
        f"{count(start)}+ {unit}: {money(price)}" for start, price in item.tiers)))
    if item.below_moq:
        fields.append((words["your_quantity"],
                       words["below_moq"].format(asked=item.quantity_text or "-",
                                                 moq=f"{count(item.moq)} {unit}")))
    if item.lead_time_days:
        fields.append((words["lead_time"], words["lead_time_value"].format(
            days=item.lead_time_days)))
    if item.certifications:
        fields.append((words["certifications"], ", ".join(item.certifications)))
    return [f"{number}. {item.sku}  {item.name}", *key_values(fields, indent=3)]


def _terms(quote: Quote, words: dict[str, str]) -> list[str]:
    fields: list[tuple[str, str | tuple[str, ...]]] = [
        (words["price_basis"], f"{CURRENCY}, {quote.term} {quote.place}")]
    if quote.buyer_term is not None:
        place = quote.buyer_term.place or words["your_port"]
        fields.append((words["your_terms"], words["freight_note"].format(
            term=quote.buyer_term.term, place=place)))
    fields.append((words["payment"], quote.payment or words["payment_default"]))
    fields.append((words["packaging"], words["packaging_default"]))
    fields.append((words["valid_until"], quote.valid_until.isoformat()))
    return [words["terms"], *key_values(fields, indent=3)]


def key_values(fields: Sequence[tuple[str, str | tuple[str, ...]]], *,
               indent: int) -> list[str]:
    """`label:  value` lines, values aligned and wrapped under each other.

    A value given as a tuple is a list of items ("500+ pcs: 0.86", ...) joined by " | "
    and wrapped between items, so no item is cut in two.
    """
    label_width = max(display_width(label) for label, _ in fields) + 1
    value_width = max(WIDTH - indent - label_width - 2, 20)
    lines = []
    for label, value in fields:
        head = " " * indent + pad(label + ":", label_width) + "  "
        parts = (wrap(value, value_width) if isinstance(value, str)
                 else wrap_items(value, value_width))
        for i, part in enumerate(parts):
            lines.append((head if i == 0 else " " * display_width(head)) + part)
    return lines


def wrap_items(items: Sequence[str], width: int, separator: str = " | ") -> list[str]:
    """Items joined by `separator`, a line broken only between items when possible."""
    lines: list[str] = []
    line = ""
    tail = separator.rstrip()          # ends a line that continues on the next
    for n, item in enumerate(items):
        joined = line + separator + item if line else item
        room = width - (display_width(tail) if n < len(items) - 1 else 0)
        if display_width(joined) <= room:
            line = joined
            continue
        if line:
            lines.append(line + tail)
        *full, line = wrap(item, width)
        lines += full
    if line:
        lines.append(line)
    return lines or [""]
