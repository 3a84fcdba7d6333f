"""The product catalogue: rules/catalog.csv as shipped, and CSV in, products or problems out."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from daemon.catalog import REGIONS, Catalog
from daemon.errors import ConfigError

RULES = Path(__file__).resolve().parent.parent / "rules"
HEADER = "sku,name,keywords,moq,unit,price_default"
SAMPLE_SKUS = ("BS-NK-101", "BS-BR-205", "BS-ER-310", "BS-HC-402", "BS-KC-518", "BS-RG-620",
               "BS-GB-730")


def load(text: str) -> Catalog:
    return Catalog.from_csv_text(text, "catalog.csv")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return caught.value.problems


# --- the shipped catalogue ------------------------------------------------------------

def test_shipped_catalogue_has_the_sample_products_with_regional_prices() -> None:
    catalog = load((RULES / "catalog.csv").read_text(encoding="utf-8"))
    assert len(catalog) == 10
    for sku in SAMPLE_SKUS:
        product = catalog.get(sku)
        assert product is not None, sku
        # domain.md: Middle East and South-East Asia get the sharpest first quote, the USA
        # pays for service; nobody is quoted below the floor.
        assert product.price_for("middle_east") < product.price_for("north_america")
        assert product.price_for("southeast_asia") < product.price_for("default")
        assert product.floor_price is not None
        assert all(product.floor_price <= p for p in product.prices.values())
        assert product.e_sample == f"e-samples/{sku}.pdf"
        assert product.moq > 0 and product.lead_time_days


def test_shipped_keywords_cover_the_languages_of_the_desk() -> None:
    catalog = load((RULES / "catalog.csv").read_text(encoding="utf-8"))
    words = catalog.get("BS-NK-101").keywords  # type: ignore[union-attr]
    for word in ("necklace", "collar", "colar", "collier", "Halskette", "колье", "قلادة",
                 "项链", "ネックレス", "kolye"):
        assert word in words


# --- good input -----------------------------------------------------------------------

GOOD = [
    ("plain", f"{HEADER}\nA-1,Ring,ring;anillo,100,pcs,0.50\n",
     lambda c: c.get("a-1").keywords == ("ring", "anillo")),
    ("byte-order mark from Excel", f"\ufeff{HEADER}\nA-1,Ring,ring,100,pcs,0.50\n",
     lambda c: c.get("A-1") is not None),
    ("semicolon delimiter and decimal comma (Excel, German locale)",
     "sku;name;keywords;moq;unit;price_default;price_europe\n"
     "A-1;Ring;\"ring;Ring\";1.000;pcs;0,50;0,55\n",
     lambda c: c.get("A-1").prices == {"default": Decimal("0.50"), "europe": Decimal("0.55")}
     and c.get("A-1").moq == 1000),
    ("thousands in moq", f"{HEADER}\nA-1,Ring,ring,\"1,200\",pcs,0.50\n",
     lambda c: c.get("A-1").moq == 1200),
    ("empty rows at the end", f"{HEADER}\nA-1,Ring,ring,100,pcs,0.50\n,,,,,\n , ,\n\n",
     lambda c: len(c) == 1),
    ("a line break inside a quoted cell",
     f"{HEADER},spec\nA-1,Ring,ring,100,pcs,0.50,\"brass,\nopen band\"\n",
     lambda c: c.get("A-1").spec == "brass,\nopen band"),
    ("a region without its own price gets the default",
     f"{HEADER},price_middle_east\nA-1,Ring,ring,100,pcs,0.50,\n",
     lambda c: c.get("A-1").price_for("middle_east") == Decimal("0.50")),
    ("a region's price",
     f"{HEADER},price_middle_east,floor_price\nA-1,Ring,ring,100,pcs,0.50,0.45,0.40\n",
     lambda c: c.get("A-1").price_for("middle_east") == Decimal("0.45")
     and c.get("A-1").price_for("oceania") == Decimal("0.50")),
    ("lists and optional columns",
     f"{HEADER},certifications,lead_time_days,e_sample,notes\n"
     "A-1,Ring,ring,100,pcs,0.5,REACH; CPSIA ;,25,e-samples/A-1.pdf,call Lily\n",
     lambda c: c.get("A-1").certifications == ("REACH", "CPSIA")
     and c.get("A-1").lead_time_days == 25 and c.get("A-1").e_sample == "e-samples/A-1.pdf"),
    ("header names in any case", "SKU,Name,Keywords,MOQ,Unit,Price_Default\nA-1,R,r,1,pcs,1\n",
     lambda c: c.get("A-1") is not None),
]


@pytest.mark.parametrize(("text", "check"), [(t, c) for _, t, c in GOOD],
                         ids=[name for name, _, _ in GOOD])
def test_good_catalogues(text: str, check) -> None:  # type: ignore[no-untyped-def]
    assert check(load(text))


# --- bad input: every problem, with file, line and column -----------------------------

BAD = [
    ("missing required column", "sku,name,keywords,unit,price_default\nA-1,R,r,pcs,1\n",
     ["catalog.csv:1: column 'moq': missing from the header row"]),
    ("duplicate sku", f"{HEADER}\nA-1,R,r,1,pcs,1\nA-2,S,s,1,pcs,1\na-1,T,t,1,pcs,1\n",
     ["catalog.csv:4: column 'sku': A-1 is already on line 2"]),
    ("bad whole number", f"{HEADER}\nA-1,R,r,1O0,pcs,1\n",
     ["catalog.csv:2: column 'moq': '1O0' is not a whole number"]),
    ("bad price", f"{HEADER}\nA-1,R,r,100,pcs,cheap\n",
     ["catalog.csv:2: column 'price_default': 'cheap' is not a price in USD (like 0.85)"]),
    ("negative price", f"{HEADER}\nA-1,R,r,100,pcs,-1\n",
     ["catalog.csv:2: column 'price_default': '-1' is not a price"]),
    ("empty keywords", f"{HEADER}\nA-1,R, ; ,100,pcs,1\n",
     ["catalog.csv:2: column 'keywords': empty"]),
    ("empty name and sku", f"{HEADER}\n,,r,100,pcs,1\n",
     ["catalog.csv:2: column 'sku': empty", "catalog.csv:2: column 'name': empty"]),
    ("a typo in a price column would quietly quote the default",
     f"{HEADER},price_midle_east\nA-1,R,r,1,pcs,1,0.9\n",
     ["catalog.csv:1: column 'price_midle_east': unknown column"]),
    ("floor above a regional price",
     f"{HEADER},price_africa,floor_price\nA-1,R,r,1,pcs,1,0.5,0.8\n",
     ["catalog.csv:2: column 'floor_price': 0.8 is above price_africa 0.5"]),
    ("one keyword for two products", f"{HEADER}\nA-1,R,ring;Bague,1,pcs,1\nA-2,S,bague,1,pcs,1\n",
     ["catalog.csv:3: column 'keywords': 'bague' is also a keyword of A-1 (line 2)"]),
    ("e-sample outside the attachments", f"{HEADER},e_sample\nA-1,R,r,1,pcs,1,../../etc/passwd\n",
     ["catalog.csv:2: column 'e_sample': '../../etc/passwd' must be a file name under"]),
    ("empty file", "", ["catalog.csv:1: empty file"]),
    ("header only", f"{HEADER}\n", ["catalog.csv:2: the catalogue has no products"]),
    ("a stray delimiter", f"{HEADER}\nA-1,R,r,1,pcs,1,extra\n",
     ["catalog.csv:2: 7 cells, but the header has 6 columns"]),
    ("line numbers count multi-line cells",
     f"{HEADER},spec\nA-1,R,r,1,pcs,1,\"two\nlines\"\nA-2,S,s,x,pcs,1,\n",
     ["catalog.csv:4: column 'moq': 'x' is not a whole number"]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD],
                         ids=[name for name, _, _ in BAD])
def test_bad_catalogues_name_file_line_and_column(text: str, expected: list[str]) -> None:
    found = problems(text)
    for line in expected:
        assert any(p.startswith(line) for p in found), (line, found)


def test_every_problem_is_reported_at_once() -> None:
    text = f"{HEADER},price_asia\nA-1,R,,x,pcs,y,1\nA-1,R,r,1,pcs,1,1\n"
    found = problems(text)
    assert len(found) == 5, found      # unknown column, keywords, moq, price, duplicate
    assert found[0].startswith("catalog.csv:1: column 'price_asia'")


def test_region_columns_are_the_regions() -> None:
    assert len(REGIONS) == 10 and "middle_east" in REGIONS and "russia_cis" in REGIONS
