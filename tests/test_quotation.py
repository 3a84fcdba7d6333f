"""The plain-text quotation sheet: prices by region, tiers, terms, layout, no floor price."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest

from daemon.catalog import REGIONS, Catalog, Product
from daemon.quotation import (WIDTH, build_quote, display_width, money, quotation,
                              tier_prices, wrap)
from daemon.types import Extracted, Incoterm, ProductHit, Quantity

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 20)
LANGS = ("en", "es", "fr", "ru", "ar", "zh")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    text = (ROOT / "rules" / "catalog.csv").read_text(encoding="utf-8")
    return Catalog.from_csv_text(text, "rules/catalog.csv")


def hit(sku: str) -> ProductHit:
    return ProductHit(sku, sku, sku)


def asked(*skus: str, **fields: object) -> Extracted:
    return Extracted(products=tuple(hit(s) for s in skus), **fields)  # type: ignore[arg-type]


def quote_of(catalog: Catalog, extracted: Extracted, region: str = ""):  # noqa: ANN201
    quote = build_quote(extracted.products, catalog, extracted, region, today=TODAY)
    assert quote is not None
    return quote


# ------------------------------------------------------------------ prices by region


@pytest.mark.parametrize(("region", "sku", "price"), [
    ("middle_east", "BS-NK-101", "0.86"),
    ("southeast_asia", "BS-NK-101", "0.86"),
    ("north_america", "BS-NK-101", "1.15"),
    ("europe", "BS-NK-101", "1.05"),
    ("russia_cis", "BS-ER-310", "1.28"),
    ("", "BS-NK-101", "0.95"),               # no region: price_default
    ("east_asia", "BS-NK-101", "0.95"),      # a region without a column: price_default
    ("oceania", "BS-SC-455", "0.30"),
])
def test_the_buyers_region_picks_the_price_column(catalog: Catalog, region: str, sku: str,
                                                  price: str) -> None:
    item = quote_of(catalog, asked(sku), region).items[0]
    assert item.unit_price == Decimal(price)
    assert item.price_column == (region if region in ("middle_east", "southeast_asia",
                                                      "north_america", "europe",
                                                      "russia_cis") else "default")
    assert f"  {price}" in quotation((hit(sku),), catalog, asked(sku), region, today=TODAY)


def test_middle_east_is_quoted_below_north_america_for_every_product(catalog: Catalog) -> None:
    for product in catalog:
        me = quote_of(catalog, asked(product.sku), "middle_east").items[0].unit_price
        na = quote_of(catalog, asked(product.sku), "north_america").items[0].unit_price
        assert me < na, product.sku


def test_the_floor_price_is_never_shown(catalog: Catalog) -> None:
    for product in catalog:
        assert product.floor_price is not None
        for region in ("", *REGIONS):
            for amount in (product.moq, 100 * product.moq):
                extracted = asked(product.sku, quantities=(Quantity(amount, "pcs"),))
                for lang in LANGS:
                    text = quotation(extracted.products, catalog, extracted, region,
                                     today=TODAY, lang=lang)
                    assert money(product.floor_price) not in text, (product.sku, region)


def test_no_tier_reaches_the_floor() -> None:
    tiers = tier_prices(Decimal("1.00"), 500, Decimal("0.94"))
    assert tiers == ((500, Decimal("1.00")), (2500, Decimal("0.97")), (5000, Decimal("0.95")))
    assert all(price > Decimal("0.94") for _, price in tiers)
    assert len(tier_prices(Decimal("1.00"), 500, None)) == 4


@pytest.mark.parametrize(("amount", "unit", "billed", "price", "below_moq"), [
    (500, "pcs", 500, "0.86", False),
    (2499, "pcs", 2499, "0.86", False),
    (2500, "pcs", 2500, "0.83", False),        # 5x MOQ: 3 % off
    (5000, "pieces", 5000, "0.82", False),     # 10x MOQ: 5 % off
    (10000, "pcs", 10000, "0.79", False),      # 20x MOQ: 8 % off
    (300, "pcs", 500, "0.86", True),           # below the MOQ: quoted at the MOQ
    (250, "dozen", 3000, "0.83", False),       # 250 dozen = 3,000 pieces
])
def test_quantity_tiers_price_the_buyers_quantity(catalog: Catalog, amount: int, unit: str,
                                                  billed: int, price: str,
                                                  below_moq: bool) -> None:
    extracted = asked("BS-NK-101", quantities=(Quantity(amount, unit, "BS-NK-101"),))
    item = quote_of(catalog, extracted, "middle_east").items[0]
    assert (item.quantity, item.unit_price, item.below_moq) == (billed, Decimal(price),
                                                                below_moq)
    assert item.amount == Decimal(price) * billed


def test_quantities_go_to_their_products(catalog: Catalog) -> None:
    own = asked("BS-NK-101", "BS-ER-310", quantities=(
        Quantity(3000, "pairs", "BS-ER-310"), Quantity(1000, "pcs", "BS-NK-101")))
    assert [i.quantity for i in quote_of(catalog, own).items] == [1000, 3000]
    each = asked("BS-NK-101", "BS-ER-310", quantities=(Quantity(2000, "pcs"),))
    assert [i.quantity for i in quote_of(catalog, each).items] == [2000, 2000]
    unclear = asked("BS-NK-101", "BS-ER-310", "BS-RG-620",
                    quantities=(Quantity(2000, "pcs"), Quantity(800, "pcs")))
    assert [i.quantity for i in quote_of(catalog, unclear).items] == [None, None, None]
    cartons = asked("BS-NK-101", quantities=(Quantity(20, "cartons"),))
    assert quote_of(catalog, cartons).items[0].quantity is None


def test_total_and_table_columns_follow_quantities(catalog: Catalog) -> None:
    with_qty = asked("BS-NK-101", "BS-ER-310", quantities=(Quantity(2000, "pcs"),))
    text = quotation(with_qty.products, catalog, with_qty, "middle_east", today=TODAY)
    assert "Amount" in text and "Total (USD, FOB Ningbo)" in text and "4,160.00" in text
    without = asked("BS-NK-101")
    text = quotation(without.products, catalog, without, "middle_east", today=TODAY)
    assert "Amount" not in text and "Total" not in text


@pytest.mark.parametrize(("incoterms", "basis", "note"), [
    ((), "FOB Ningbo", None),
    ((Incoterm("FOB", "Shanghai"),), "FOB Shanghai", None),
    ((Incoterm("fob", ""),), "FOB Ningbo", None),
    ((Incoterm("EXW", ""),), "EXW Yiwu", None),
    ((Incoterm("CIF", "Jebel Ali"),), "FOB Ningbo", "CIF Jebel Ali: freight and insurance"),
    ((Incoterm("DDP", ""),), "FOB Ningbo", "DDP your port: freight"),
])
def test_incoterm_basis(catalog: Catalog, incoterms: tuple[Incoterm, ...], basis: str,
                        note: str | None) -> None:
    extracted = asked("BS-NK-101", incoterms=incoterms)
    text = quotation(extracted.products, catalog, extracted, "", today=TODAY)
    assert f"USD, {basis}" in text
    assert (note in text) if note else ("Your terms" not in text)


def test_payment_terms_validity_and_packaging(catalog: Catalog) -> None:
    default = asked("BS-NK-101")
    text = quotation(default.products, catalog, default, "", today=TODAY)
    assert "30% T/T deposit, 70% before shipment" in text
    assert "Valid until:  2026-12-20" in text and "Packaging:" in text
    theirs = asked("BS-NK-101", payment_terms=("L/C at sight",))
    text = quotation(theirs.products, catalog, theirs, "", today=TODAY, validity_days=15)
    assert "L/C at sight" in text and "30% T/T" not in text and "2026-12-05" in text


def test_no_product_no_table(catalog: Catalog) -> None:
    assert quotation((), catalog, Extracted(), "middle_east", today=TODAY) == ""
    unknown = asked("XX-000")
    assert quotation(unknown.products, catalog, unknown, "", today=TODAY) == ""
    assert build_quote((), catalog, Extracted(), "", today=TODAY) is None


def test_each_product_once_in_the_buyers_order(catalog: Catalog) -> None:
    extracted = asked("BS-RG-620", "BS-NK-101", "BS-RG-620")
    assert [i.sku for i in quote_of(catalog, extracted).items] == ["BS-RG-620", "BS-NK-101"]


# ------------------------------------------------------------------ layout


@pytest.mark.parametrize("lang", LANGS)
def test_every_line_fits_a_mail_client(catalog: Catalog, lang: str) -> None:
    extracted = Extracted(products=tuple(hit(p.sku) for p in catalog),
                          quantities=(Quantity(12000, "pcs"),),
                          incoterms=(Incoterm("CIF", "Jebel Ali"),))
    text = quotation(extracted.products, catalog, extracted, "north_america",
                     today=TODAY, lang=lang)
    assert "\t" not in text
    widths = [display_width(line) for line in text.splitlines()]
    assert max(widths) <= WIDTH, max(widths)


@pytest.mark.parametrize(("lang", "words"), [
    ("en", ("QUOTATION", "Unit price", "Lead time", "Payment")),
    ("es", ("COTIZACIÓN", "Plazo de producción", "Pago", "Embalaje")),
    ("fr", ("DEVIS", "Délai de production", "Paiement", "Emballage")),
    ("ru", ("КОММЕРЧЕСКОЕ ПРЕДЛОЖЕНИЕ", "Срок производства", "Оплата", "Упаковка")),
    ("ar", ("عرض أسعار", "مدة التصنيع", "الدفع", "التغليف")),
    ("zh", ("报价单", "交货期", "付款方式", "包装")),
    ("pt", ("QUOTATION", "Payment")),                    # no Portuguese sheet: English
])
def test_labels_are_in_the_replys_language(catalog: Catalog, lang: str,
                                           words: tuple[str, ...]) -> None:
    extracted = asked("BS-NK-101", quantities=(Quantity(1000, "pcs"),))
    text = quotation(extracted.products, catalog, extracted, "", today=TODAY, lang=lang)
    for word in words:
        if word == "Unit price":
            word = "Unit"
        assert word in text


def cjk_catalog() -> Catalog:
    def product(sku: str, name: str) -> Product:
        return Product(sku=sku, name=name, keywords=(sku,), spec="规格", moq=600, unit="pcs",
                       prices=MappingProxyType({"default": Decimal("1.20")}),
                       floor_price=Decimal("0.90"), lead_time_days=25)
    return Catalog.of([product("ZH-001", "不锈钢吊坠项链"), product("ZH-002", "Ring"),
                       product("ZH-003", "串珠手链加长款式特别长的品名需要换行显示")])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_columns_align_with_cjk_product_names(lang: str) -> None:
    catalog = cjk_catalog()
    extracted = Extracted(products=tuple(hit(p.sku) for p in catalog),
                          quantities=(Quantity(1000, "pcs"),))
    text = quotation(extracted.products, catalog, extracted, "", today=TODAY, lang=lang)
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    rows = [line for line in lines[rule + 1:] if line.strip() and not line.startswith("---")]
    rows = rows[:next(i for i, line in enumerate(rows) if line.startswith(("合计", "Total")))]
    first_lines = [line for line in rows if "ZH-00" in line]
    assert len(first_lines) == 3
    # Right-aligned amounts end in the same column; the product names start in one column.
    assert len({display_width(line) for line in first_lines}) == 1
    starts = {display_width(line[:line.index(name)]) for line, name in
              zip(first_lines, ("不锈钢", "Ring", "串珠"), strict=True)}
    assert len(starts) == 1
    # A wrapped name continues in the product column.
    continuation = rows[rows.index(first_lines[2]) + 1]
    assert display_width(continuation) - display_width(continuation.lstrip()) == starts.pop()
    assert display_width(lines[rule]) == display_width(first_lines[0])


def test_arabic_table_rows_are_held_left_to_right(catalog: Catalog) -> None:
    extracted = asked("BS-NK-101", quantities=(Quantity(1000, "pcs"),))
    text = quotation(extracted.products, catalog, extracted, "middle_east", today=TODAY,
                     lang="ar")
    table = [line for line in text.splitlines() if "BS-NK-101" in line and "0.86" in line]
    assert table and table[0].startswith("\u200e")


@pytest.mark.parametrize(("text", "width"), [
    ("abc", 3), ("项链", 4), ("ｱ", 1), ("é", 1), ("e\u0301", 1), ("\u200e", 0),
    ("ネックレス 5", 12), ("ＡＢ", 4),
])
def test_display_width(text: str, width: int) -> None:
    assert display_width(text) == width


@pytest.mark.parametrize(("text", "width", "lines"), [
    ("one two three", 7, ["one two", "three"]),
    ("不锈钢吊坠项链", 6, ["不锈钢", "吊坠项", "链"]),
    ("abcdefghij", 4, ["abcd", "efgh", "ij"]),
    ("", 10, [""]),
])
def test_wrap_by_display_width(text: str, width: int, lines: list[str]) -> None:
    assert wrap(text, width) == lines
