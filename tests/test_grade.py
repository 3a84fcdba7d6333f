"""Grading A/B/C/D from rules/grading.toml: table-driven, with the reasons it gives."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.errors import ConfigError
from daemon.grade import GradingRules, History, grade
from daemon.types import Extracted, Incoterm, Mail, Money, ProductHit, Quantity

ROOT = Path(__file__).resolve().parents[1]
RULES = GradingRules.from_toml(tomllib.loads((ROOT / "rules" / "grading.toml").read_text()),
                               "rules/grading.toml")
TODAY = date(2026, 11, 24)
NK = ProductHit("BS-NK-101", "Pendant necklace", "BS-NK-101", by_code=True)
NECKLACES = ProductHit("BS-NK-101", "Pendant necklace", "necklaces")

A_TERMS = Extracted(products=(NK,), quantities=(Quantity(20000, "pcs", "BS-NK-101"),),
                    target_prices=(Money(Decimal("1.35"), "USD"),),
                    incoterms=(Incoterm("FOB", "Ningbo"),), delivery=date(2027, 3, 15),
                    payment_terms=("T/T",), requests=frozenset({"pi"}))

CASES = [
    # (label, text, extracted, history, grade, a reason that must be there)
    ("full order terms", "Please send PI for 20,000 pcs.", A_TERMS, History(), "A",
     "quantity 20,000 pcs"),
    ("target price shown", "target", A_TERMS, History(), "A", "target price USD 1.35"),
    ("delivery shown", "x", A_TERMS, History(), "A", "delivery 2027-03-15"),
    ("product and catalogue, hesitant",
     "We are comparing several suppliers, please send your catalogue for necklaces.",
     Extracted(products=(NECKLACES,), requests=frozenset({"catalogue"})), History(), "B",
     "hesitant: “comparing”"),
    ("a product word is interest, not a model", "Do you make necklaces? Send catalogue.",
     Extracted(products=(NECKLACES,), requests=frozenset({"catalogue"})), History(), "B",
     "interested in BS-NK-101"),
    ("long-term tender", "This is for a tender next year, budget not approved yet.",
     Extracted(products=(NK,), quantities=(Quantity(5000, "pcs"),)), History(), "C",
     "long-term purchase: “next year”"),
    ("far delivery", "Delivery in autumn.", Extracted(delivery=date(2027, 9, 1)), History(), "C",
     "delivery far ahead (2027-09-01)"),
    ("chinese long-term", "我们明年有一个项目，需要项链。", Extracted(products=(NK,)), History(), "C",
     "long-term purchase: “明年”"),
    ("one-liner", "send price", Extracted(requests=frozenset({"price_list"})), History(), "D",
     "very short message"),
    ("hello only", "Hi, interested in your products.", Extracted(), History(), "D",
     "very short message"),
    ("strong A beats long-term talk", "Our project next year: PI please.",
     Extracted(products=(NK,), quantities=(Quantity(20000, "pcs"),),
               target_prices=(Money(Decimal("1"), "USD"),), payment_terms=("L/C",),
               requests=frozenset({"pi"})), History(), "A", "asks for pi"),
    ("returning customer pushes to A", "Repeat order: 3,000 pcs BS-NK-101 as last time.",
     Extracted(products=(NK,), quantities=(Quantity(3000, "pcs"),)),
     History(known=True, customer=True, inquiries=3), "A", "returning buyer: has ordered"),
]


@pytest.mark.parametrize(("label", "text", "extracted", "history", "expected", "reason"), CASES,
                         ids=[c[0] for c in CASES])
def test_grade(label, text, extracted, history, expected, reason) -> None:
    result = grade(Mail(text=text), extracted, history, RULES, TODAY)
    assert result.grade == expected, result.reasons
    assert any(r.text.startswith(reason) for r in result.reasons), result.reasons


def test_b_below_a_says_how_far() -> None:
    result = grade(Mail(text="Price for BS-NK-101 please, we are a boutique in Lyon."),
                   Extracted(products=(NK,)), History(), RULES, TODAY)
    assert result.grade == "B"
    assert [r.rule for r in result.reasons][-1] == "below-a"


@pytest.mark.parametrize(("text", "problem"), [
    ('[[signal]]\nname = "Bad Name"\nkind = "quantity"\ngrade = "A"\n', "kebab-case"),
    ('[[signal]]\nname = "x"\nkind = "telepathy"\ngrade = "A"\n', "unknown kind 'telepathy'"),
    ('[[signal]]\nname = "x"\nkind = "quantity"\ngrade = "E"\n', "'grade' must be one of"),
    ('[[signal]]\nname = "x"\nkind = "words"\ngrade = "B"\n', "kind 'words' needs 'words'"),
    ('[[signal]]\nname = "x"\nkind = "words"\ngrade = "B"\nwords = ["(unclosed"]\n',
     "bad pattern '(unclosed'"),
    ('[thresholds]\nb_points = 3\n', "thresholds: unknown key 'b_points'"),
])
def test_planted_mistakes_name_the_entry(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        GradingRules.from_toml(tomllib.loads(text), "rules/grading.toml")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("rules/grading.toml")
    assert problem in info.value.problems[0]
