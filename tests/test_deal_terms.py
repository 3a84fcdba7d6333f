"""The terms of a deal, built from what an inquiry recorded (pure, no servers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.catalog import Catalog
from daemon.config import Company
from daemon.deal_terms import DealTerms, Party, build_terms, line_amount
from daemon.errors import UsageError
from tests.helpers import ROOT

CATALOG = Catalog.from_csv_text((ROOT / "rules" / "catalog.csv").read_text("utf-8"), "catalog.csv")
TODAY = date(2026, 11, 24)
BUYER = Party(company="Al Noor Trading LLC", contact="Omar Haddad", country="AE",
              email="omar@alnoor.example")
PLAIN = Company(name="Brightstar")
CONFIGURED = Company(name="Brightstar", payment_terms="50% T/T deposit, 50% against B/L copy",
                     packaging="12 pcs per display card", port="Shanghai", lead_time_days=40,
                     bank=("Bank of China, Yiwu", "SWIFT BKCHCNBJ92H"))


def products(*skus: str) -> list[dict[str, str]]:
    return [{"sku": s, "name": s, "matched": s} for s in skus]


def terms_of(quantities: list[tuple[int, str]] = (), **more: object) -> dict[str, object]:
    return {"quantities": [{"amount": a, "unit": "pcs", "sku": s} for a, s in quantities],
            "incoterms": [], "payment_terms": [], "delivery": None, **more}


def build(skus: tuple[str, ...], terms: dict[str, object], *, region: str = "middle_east",
          company: Company = PLAIN) -> DealTerms:
    return build_terms(products(*skus), terms, catalog=CATALOG, region=region,
                       company=company, buyer=BUYER, seller_email="sales@brightstar.example",
                       today=TODAY)


def test_lines_are_priced_at_the_buyers_regional_price_and_add_up() -> None:
    deal = build(("BS-NK-101", "BS-KC-518"), terms_of([(1000, "BS-NK-101"), (2000, "BS-KC-518")]))
    necklace, keychain = deal.lines
    assert (necklace.quantity, necklace.unit_price, necklace.amount) == (1000, Decimal("0.86"),
                                                                         Decimal("860.00"))
    assert (keychain.quantity, keychain.unit_price, keychain.amount) == (2000, Decimal("0.32"),
                                                                         Decimal("640.00"))
    assert deal.total == Decimal("1500.00") == sum(line.amount for line in deal.lines)
    assert deal.currency == "USD" and deal.basis == "FOB Ningbo"
    north = build(("BS-NK-101",), terms_of([(1000, "BS-NK-101")]), region="north_america")
    assert north.lines[0].unit_price == Decimal("1.15")  # the US column, not the Gulf one


def test_quantity_tiers_follow_the_quotation() -> None:
    # 10x the MOQ of 500: the quotation's 5 % tier, rounded to cents (0.817 -> 0.82).
    deal = build(("BS-NK-101",), terms_of([(5000, "BS-NK-101")]))
    assert deal.lines[0].unit_price == Decimal("0.82") and deal.total == Decimal("4100.00")


def test_a_product_without_a_quantity_is_confirmed_at_its_moq_with_a_note() -> None:
    deal = build(("BS-NK-101", "BS-RG-620"), terms_of([(1000, "BS-NK-101")]))
    ring = deal.lines[1]
    assert (ring.sku, ring.quantity) == ("BS-RG-620", 600)
    assert deal.notes == ("BS-RG-620: no quantity agreed, confirmed at the MOQ of 600 pcs",)


def test_amounts_are_rounded_half_up_to_cents() -> None:
    assert line_amount(Decimal("0.825"), 1) == Decimal("0.83")
    deal = build(("BS-SC-455",), terms_of([(1333, "BS-SC-455")]))
    assert deal.lines[0].amount == Decimal("346.58")  # 1,333 x 0.26 = 346.58 exactly
    assert deal.total.as_tuple().exponent == -2


@pytest.mark.parametrize(("incoterms", "company", "basis", "buyer_term"), [
    ([], PLAIN, "FOB Ningbo", ""),
    ([], CONFIGURED, "FOB Shanghai", ""),
    ([{"term": "FOB", "place": "Shenzhen"}], PLAIN, "FOB Shenzhen", ""),
    ([{"term": "exw", "place": ""}], CONFIGURED, "EXW Shanghai", ""),
    # A freight term is never priced from FOB prices: stated FOB, the buyer's term beside.
    ([{"term": "CIF", "place": "Jebel Ali"}], PLAIN, "FOB Ningbo", "CIF Jebel Ali"),
])
def test_incoterm_and_port(incoterms: list[dict[str, str]], company: Company, basis: str,
                           buyer_term: str) -> None:
    deal = build(("BS-NK-101",), terms_of([(1000, "")], incoterms=incoterms), company=company)
    assert (deal.basis, deal.buyer_term) == (basis, buyer_term)


def test_what_the_buyer_did_not_say_comes_from_the_company_then_the_defaults() -> None:
    plain = build(("BS-NK-101",), terms_of([(1000, "")]))
    assert plain.payment == "30% T/T deposit, 70% before shipment"
    assert plain.packaging.startswith("each piece in an OPP bag")
    assert plain.lead_time_days == 30 and plain.shipment_date == date(2026, 12, 24)
    assert plain.valid_until == date(2026, 12, 24) and plain.bank == ()
    configured = build(("BS-NK-101",), terms_of([(1000, "")]), company=CONFIGURED)
    assert configured.payment == "50% T/T deposit, 50% against B/L copy"
    assert configured.packaging == "12 pcs per display card"
    assert configured.bank == ("Bank of China, Yiwu", "SWIFT BKCHCNBJ92H")
    assert configured.lead_time_days == 30  # the product's own lead time comes first
    assert configured.seller.company == "Brightstar" and configured.buyer == BUYER


def test_the_buyers_payment_and_delivery_date_win() -> None:
    deal = build(("BS-NK-101",), terms_of([(1000, "")], payment_terms=["L/C at sight"],
                                          delivery="2027-03-01"), company=CONFIGURED)
    assert deal.payment == "L/C at sight" and deal.shipment_date == date(2027, 3, 1)
    past = build(("BS-NK-101",), terms_of([(1000, "")], delivery="2026-01-01"))
    assert past.shipment_date == date(2026, 12, 24)  # a date gone by: after the lead time
    words = build(("BS-NK-101",), terms_of([(1000, "")], delivery="before Ramadan"))
    assert words.shipment_date == date(2026, 12, 24)


def test_an_inquiry_without_a_product_of_ours_has_nothing_to_confirm() -> None:
    with pytest.raises(UsageError, match="no product of the catalogue"):
        build(("XX-NOT-OURS",), terms_of([(100, "")]))
    with pytest.raises(UsageError):
        build((), terms_of())


def test_the_json_form_gives_back_the_same_terms() -> None:
    deal = build(("BS-NK-101", "BS-RG-620"), terms_of([(1000, "BS-NK-101")],
                                                     incoterms=[{"term": "CIF", "place": "Dammam"}]),
                 company=CONFIGURED)
    data = deal.as_dict()
    assert data["total"] == "1190.00" and data["lines"][0]["unit_price"] == "0.86"
    assert data["shipment_date"] == "2026-12-24" and data["bank"][0] == "Bank of China, Yiwu"
    assert DealTerms.from_dict(data) == deal
    with pytest.raises(ValueError):
        DealTerms.from_dict({"lines": []})


def test_a_total_that_is_not_the_sum_of_the_lines_is_refused() -> None:
    deal = build(("BS-NK-101",), terms_of([(1000, "")]))
    with pytest.raises(ValueError, match="not the sum"):
        replace(deal, total=deal.total + Decimal("0.01"))
    with pytest.raises(ValueError, match="is not"):
        replace(deal, lines=(replace(deal.lines[0], amount=Decimal("1.00")),), total=Decimal("1.00"))
    edited = deal.as_dict()
    edited["total"] = "999.99"
    with pytest.raises(ValueError):
        DealTerms.from_dict(edited)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([p.sku for p in CATALOG]),
                          st.integers(min_value=1, max_value=2_000_000)),
                min_size=1, max_size=6, unique_by=lambda t: t[0]),
       st.sampled_from(["", "middle_east", "north_america", "europe", "africa"]))
def test_the_total_is_always_the_sum_of_the_lines(items: list[tuple[str, int]],
                                                  region: str) -> None:
    deal = build(tuple(s for s, _ in items), terms_of([(q, s) for s, q in items]), region=region)
    assert deal.total == sum((line.amount for line in deal.lines), Decimal(0))
    for line in deal.lines:
        assert line.amount == (line.unit_price * line.quantity).quantize(Decimal("0.01"))
        assert line.quantity >= CATALOG.get(line.sku).moq  # type: ignore[union-attr]
