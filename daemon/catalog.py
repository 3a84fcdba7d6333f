"""The product catalogue (rules/catalog.csv) as typed, validated data (pure, stdlib only).

Salespeople keep the catalogue in Excel and save it as CSV, so the reader accepts what
Excel writes: a UTF-8 byte-order mark, `;` or tab as the delimiter (Excel does that in
German, French and Spanish locales), cells with line breaks, blank rows at the end, and
a decimal comma in prices. Everything else that is wrong is reported at once, one line
per problem, as `FILE:LINE: column 'NAME': what is wrong`, so a salesperson can fix the
sheet in one pass.

Prices are per market region (domain.md: Middle East and South-East Asia buyers get a
competitive first quote, US buyers a price that includes service); a product without a
price for a region is quoted at its `price_default`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from types import MappingProxyType

from daemon.errors import ConfigError
from daemon.extract.text import fold

# The market regions, each with its own price column `price_<region>`. rules/regions.toml
# maps every country to one of these (daemon.geo checks that).
REGIONS = ("middle_east", "southeast_asia", "north_america", "europe", "latin_america",
           "africa", "south_asia", "east_asia", "russia_cis", "oceania")

REQUIRED = ("sku", "name", "keywords", "moq", "unit", "price_default")
OPTIONAL = ("spec", "floor_price", "lead_time_days", "certifications", "e_sample", "notes")
PRICE_COLUMNS = tuple(f"price_{r}" for r in REGIONS)
KNOWN = REQUIRED + OPTIONAL + PRICE_COLUMNS

_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{1,39}$")
_INTEGER = re.compile(r"^\d{1,3}(?:[,. \u00a0]\d{3})+$|^\d+$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")
_LIST_SEPARATOR = re.compile(r"[;；]")


@dataclass(frozen=True, slots=True)
class Product:
    """One catalogue line: what we sell, at what price per region, with which e-sample."""

    sku: str
    name: str
    keywords: tuple[str, ...]
    spec: str
    moq: int
    unit: str
    # region -> USD unit price, always with "default"; left out of the hash (a mapping
    # has none) so that products can still be put in sets.
    prices: Mapping[str, Decimal] = field(hash=False)
    floor_price: Decimal | None = None      # lowest price a salesperson may agree to
    lead_time_days: int | None = None
    certifications: tuple[str, ...] = ()
    e_sample: str = ""                      # file under templates/attachments/

    def price_for(self, region: str) -> Decimal:
        """The unit price quoted to a buyer in `region` (the default when it has none)."""
        return self.prices.get(region, self.prices["default"])


@dataclass(frozen=True, slots=True, eq=False)
class Catalog:
    """All products, in file order, with lookup by SKU (case-insensitive).

    Compared and hashed by identity: a reloaded catalogue is a new catalogue, which lets
    the extractors cache what they compile from it.
    """

    products: tuple[Product, ...]
    by_sku: Mapping[str, Product]

    @classmethod
    def of(cls, products: tuple[Product, ...] | list[Product]) -> Catalog:
        items = tuple(products)
        return cls(items, MappingProxyType({p.sku.upper(): p for p in items}))

    def get(self, sku: str) -> Product | None:
        return self.by_sku.get(sku.strip().upper())

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def __len__(self) -> int:
        return len(self.products)

    @classmethod
    def from_csv_text(cls, text: str, source: str) -> Catalog:
        """Parse catalog.csv; ConfigError with every problem if anything is wrong."""
        reader = _Reader(text, source)
        products = reader.read()
        if reader.problems:
            raise ConfigError(reader.problems)
        return cls.of(products)


class _Reader:
    """One pass over the CSV, collecting problems instead of stopping at the first."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text.removeprefix("\ufeff")
        self.source = source
        self.problems: list[str] = []
        self.line = 1
        self.seen: dict[str, int] = {}         # SKU -> line, for duplicates

    def problem(self, column: str, what: str, line: int | None = None) -> None:
        self.problems.append(f"{self.source}:{line or self.line}: column '{column}': {what}")

    def read(self) -> list[Product]:
        first = self.text.split("\n", 1)[0]
        delimiter = max((",", ";", "\t"), key=first.count)
        rows = csv.reader(io.StringIO(self.text, newline=""), delimiter=delimiter)
        header = next(rows, None)
        if not header or not any(h.strip() for h in header):
            self.problems.append(f"{self.source}:1: empty file: a header row is needed "
                                 f"({', '.join(REQUIRED)})")
            return []
        columns = self._header(header)
        products: list[Product] = []
        keywords: dict[str, tuple[str, int]] = {}
        while True:
            self.line = rows.line_num + 1
            row = next(rows, None)
            if row is None:
                break
            if not any(cell.strip() for cell in row):
                continue        # Excel leaves empty rows ";;;;" at the end
            product = self._product(dict(zip(columns, row, strict=False)), len(row),
                                    len(columns))
            if product is not None:
                self._unique_keywords(product, keywords)
                products.append(product)
        if not products and not self.problems:
            self.problems.append(f"{self.source}:2: the catalogue has no products")
        return products

    def _header(self, header: list[str]) -> list[str]:
        columns = [h.strip().lower() for h in header]
        for col in REQUIRED:
            if col not in columns:
                self.problem(col, "missing from the header row", 1)
        counts: dict[str, int] = {}
        for col in columns:
            counts[col] = counts.get(col, 0) + 1
            if col and col not in KNOWN:
                hint = (f"; price columns are price_default and "
                        f"price_<region> for {', '.join(REGIONS)}"
                        if col.startswith("price") else
                        f"; known columns: {', '.join(KNOWN)}")
                self.problem(col, "unknown column" + hint, 1)
            if counts[col] == 2:
                self.problem(col, "appears twice in the header row", 1)
        return columns

    def _product(self, row: dict[str, str], width: int, expected: int) -> Product | None:
        if width > expected:
            self.problems.append(f"{self.source}:{self.line}: {width} cells, but the header "
                                 f"has {expected} columns (a stray delimiter?)")
        cell = {k: (v or "").strip() for k, v in row.items()}
        before = len(self.problems)
        sku = self._sku(cell.get("sku", ""))
        name = self._text(cell, "name")
        unit = self._text(cell, "unit")
        words = self._keywords(cell.get("keywords", ""))
        moq = self._integer(cell, "moq", required=True)
        prices = self._prices(cell)
        floor = self._decimal(cell, "floor_price", required=False)
        lead = self._integer(cell, "lead_time_days", required=False)
        e_sample = self._e_sample(cell.get("e_sample", ""))
        if floor is not None and prices:
            for region, price in prices.items():
                if floor > price:
                    self.problem("floor_price", f"{floor} is above price_{region} {price}")
        if len(self.problems) > before:
            return None
        return Product(
            sku=sku, name=name, keywords=words, spec=cell.get("spec", ""), moq=moq or 0,
            unit=unit, prices=MappingProxyType(prices), floor_price=floor,
            lead_time_days=lead, certifications=_split(cell.get("certifications", "")),
            e_sample=e_sample)

    def _sku(self, value: str) -> str:
        sku = value.upper()
        if not value:
            self.problem("sku", "empty")
        elif not _SKU.match(value):
            self.problem("sku", f"'{value}' is not a product code (letters, digits and "
                                f"- . / _, 2 to 40 characters)")
        elif sku in self.seen:
            self.problem("sku", f"{sku} is already on line {self.seen[sku]}")
        else:
            self.seen[sku] = self.line
        return sku

    def _text(self, cell: dict[str, str], column: str) -> str:
        value = cell.get(column, "")
        if not value and column in REQUIRED:
            self.problem(column, "empty")
        return value

    def _keywords(self, value: str) -> tuple[str, ...]:
        words = _split(value)
        if not words:
            self.problem("keywords", "empty: list the words buyers use for this product, "
                                     "separated by ';'")
        return words

    def _integer(self, cell: dict[str, str], column: str, required: bool) -> int | None:
        value = cell.get(column, "")
        if not value:
            if required:
                self.problem(column, "empty")
            return None
        if not _INTEGER.match(value):
            self.problem(column, f"'{value}' is not a whole number")
            return None
        return int(re.sub(r"\D", "", value))

    def _decimal(self, cell: dict[str, str], column: str, required: bool) -> Decimal | None:
        value = cell.get(column, "")
        if not value:
            if required:
                self.problem(column, "empty")
            return None
        number = value.replace(",", ".") if _DECIMAL_COMMA.match(value) else value
        try:
            result = Decimal(number)
        except InvalidOperation:
            result = None
        if result is None or not result.is_finite() or result <= 0:
            self.problem(column, f"'{value}' is not a price in USD (like 0.85)")
            return None
        return result

    def _prices(self, cell: dict[str, str]) -> dict[str, Decimal]:
        prices: dict[str, Decimal] = {}
        default = self._decimal(cell, "price_default", required=True)
        if default is not None:
            prices["default"] = default
        for region in REGIONS:
            price = self._decimal(cell, f"price_{region}", required=False)
            if price is not None:
                prices[region] = price
        return prices

    def _e_sample(self, value: str) -> str:
        path = PurePosixPath(value.replace("\\", "/"))
        if value and (path.is_absolute() or ".." in path.parts or ":" in value):
            self.problem("e_sample", f"'{value}' must be a file name under "
                                     f"templates/attachments/, like e-samples/BS-NK-101.pdf")
        return str(path) if value else ""

    def _unique_keywords(self, product: Product, keywords: dict[str, tuple[str, int]]) -> None:
        for word in product.keywords:
            key = " ".join(fold(word).split())
            other = keywords.setdefault(key, (product.sku, self.line))
            if other[0] != product.sku:
                self.problem("keywords", f"'{word}' is also a keyword of {other[0]} "
                                         f"(line {other[1]}): a keyword must name one product")


def _split(value: str) -> tuple[str, ...]:
    """A ;-separated cell as a tuple, without blanks or repeats, in order."""
    items = (" ".join(part.split()) for part in _LIST_SEPARATOR.split(value))
    return tuple(dict.fromkeys(i for i in items if i))
