"""Reading the terms back out of a confirmation letter as sent (pure): the letters are the
real template's output, edited the way a salesperson edits a draft."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from daemon import documents, templating
from daemon.deal_terms import DealTerms
from daemon.terms_readback import read_back
from tests.helpers import ROOT
from tests.test_deal_terms import CONFIGURED, build, terms_of

ENV = templating.environment(ROOT / "templates")
DRAFTED = build(("BS-NK-101", "BS-RG-620"), terms_of([(5000, "BS-NK-101"), (1200, "BS-RG-620")]),
                company=CONFIGURED)


def letter(terms: DealTerms = DRAFTED) -> str:
    context = documents.document_context(terms, kind="confirmation", number="TC-2026-0001",
                                         issued=date(2026, 11, 24), lang="en",
                                         sender={"name": "Lily", "email": "lily@b.example"})
    text = templating.render(ENV, "confirmation/en/letter.txt.j2", context).text
    return text + "\n\n> On Mon, Omar wrote:\n> Products:\n> 1. BS-XX-999 quoted text\n"


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def line(sku: str, terms: DealTerms) -> tuple[int, Decimal, Decimal]:
    (found,) = [(l.quantity, l.unit_price, l.amount) for l in terms.lines if l.sku == sku]
    return found


def test_a_letter_sent_as_drafted_gives_the_drafted_terms() -> None:
    back = read_back(letter(), DRAFTED)
    assert back == read_back(letter().replace("\n", "\r\n"), DRAFTED)
    assert (back.terms, back.changes, back.problems) == (DRAFTED, (), ())


def test_a_new_price_and_quantity_are_read_with_their_amounts_and_total() -> None:
    qty, price, amount = line("BS-NK-101", DRAFTED)
    assert (qty, price, amount) == (5000, Decimal("0.82"), Decimal("4100.00"))
    text = edit(letter(), ("5,000 pcs", "6,000 pcs"), ("USD 0.82", "USD 0.80"),
                ("USD 4,100.00", "USD 4,800.00"),
                (f"USD {DRAFTED.total:,.2f} (FOB", f"USD {DRAFTED.total + 700:,.2f} (FOB"))
    back = read_back(text, DRAFTED)
    assert back.problems == ()
    assert line("BS-NK-101", back.terms) == (6000, Decimal("0.80"), Decimal("4800.00"))
    assert back.terms.total == DRAFTED.total + 700
    assert back.changes == ("BS-NK-101 quantity 5,000 -> 6,000 pcs",
                            "BS-NK-101 unit price USD 0.82 -> 0.80",
                            f"total amount USD {DRAFTED.total:,.2f} -> {DRAFTED.total + 700:,.2f}")


def test_other_terms_are_read_back() -> None:
    text = edit(letter(), ("Payment:         50% T/T deposit, 50% against B/L copy",
                           "Payment:         100% T/T in advance"),
                ("Lead time:       30 days", "Lead time:       45 days"),
                (f"on or before {DRAFTED.shipment_date}", "on or before 2027-03-01"),
                ("Specification: ", "Specification: 18K gold plated; "))
    back = read_back(text, DRAFTED)
    assert back.problems == ()
    assert back.terms.payment == "100% T/T in advance" and back.terms.lead_time_days == 45
    assert back.terms.shipment_date == date(2027, 3, 1)
    assert back.terms.lines[0].spec.startswith("18K gold plated; ")
    assert back.terms.total == DRAFTED.total and len(back.changes) == 4


def test_a_removed_line_is_read_as_removed() -> None:
    qty, price, amount = line("BS-RG-620", DRAFTED)
    rows = letter().split("\n")
    start = next(i for i, r in enumerate(rows) if r.strip().startswith("2. BS-RG-620"))
    del rows[start:start + 5]
    text = edit("\n".join(rows), (f"USD {DRAFTED.total:,.2f} (FOB",
                                  f"USD {DRAFTED.total - amount:,.2f} (FOB"))
    back = read_back(text, DRAFTED)
    assert back.problems == () and [l.sku for l in back.terms.lines] == ["BS-NK-101"]
    assert "BS-RG-620 removed" in back.changes


@pytest.mark.parametrize(("pairs", "problem"), [
    ((("USD 0.82", "USD 0.80"),), "line 1 (BS-NK-101): the amount USD 4,100.00 is not 5,000 x USD 0.80"),
    ((("1. BS-NK-101", "1. BS-XX-999"),), "line 1: BS-XX-999 was not in the confirmation"),
    ((("Currency:        USD", "Currency:        EUR"),), "the currency EUR is not the drafted USD"),
    ((("Price terms:     FOB", "Price terms:     CIF"),), "price terms: the prices are on FOB; CIF"),
    ((("5,000 pcs", "about five thousand"),), "quantity: \u201cabout five thousand\u201d is not a whole number"),
    ((("USD 4,100.00", "EUR 4,100.00"),), "amount: \u201cEUR 4,100.00\u201d is not an amount in USD"),
    ((("Products:", "Items:"),), "the block of terms (\u201cProducts:\u201d) is not in the letter"),
    ((("Total amount:    USD", "Total amount:    USD 1"),), "is not the sum of the lines"),
    (((f"on or before {DRAFTED.shipment_date}", "mid-December"),),
     "shipment: \u201cmid-December\u201d is not a date"),
])
def test_what_cannot_be_read_back_is_a_problem_and_the_drafted_terms_stay(
        pairs: tuple[tuple[str, str], ...], problem: str) -> None:
    back = read_back(edit(letter(), *pairs), DRAFTED)
    assert back.terms == DRAFTED and back.changes == ()
    assert any(problem in p for p in back.problems), back.problems
