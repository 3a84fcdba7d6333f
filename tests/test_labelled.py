"""The default rules against a labelled set of messages (tests/data/labelled/).

The kinds must agree with the labels for at least 90% of messages and the grades for at
least 80% of graded ones; the confusion tables are printed (pytest -s shows them).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from daemon import rulebook
from daemon.explain import NoBuyers
from daemon.parse import parse
from daemon.understand import understand

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "data" / "labelled"
OWN = frozenset({"brightstar-crafts.example"})
TODAY = date(2026, 11, 24)


class ThreadAware(NoBuyers):
    """No buyers known; replies to us are recognised as the label says."""

    def __init__(self, refers: bool):
        self.refers = refers

    def refers_to_us(self, message_ids: Sequence[str]) -> bool:
        return self.refers


@pytest.fixture(scope="module")
def results() -> list[tuple[str, dict, object]]:
    book = rulebook.load(ROOT / "rules")
    labels = tomllib.loads((LABELLED / "labels.toml").read_text(encoding="utf-8"))
    out = []
    for name, label in sorted(labels.items()):
        mail = parse((LABELLED / name).read_bytes())
        decision = understand(mail, book, ThreadAware(label.get("refers_to_us", False)),
                              today=TODAY, own_domains=OWN)
        out.append((name, label, decision))
    return out


def confusion(pairs: list[tuple[str, str]], title: str) -> str:
    names = sorted({x for pair in pairs for x in pair})
    counts = Counter(pairs)
    rows = [f"{title}: rows = label, columns = decided",
            " " * 12 + "".join(f"{n[:10]:>11}" for n in names)]
    for want in names:
        rows.append(f"{want[:11]:<12}" + "".join(f"{counts[(want, got)] or '.':>11}"
                                                  for got in names))
    return "\n".join(rows)


def test_kinds_agree_with_labels(results) -> None:
    pairs = [(label["kind"], d.kind.value) for _, label, d in results]
    print("\n" + confusion(pairs, "kind"))
    misses = [(n, label["kind"], d.kind.value) for n, label, d in results
              if label["kind"] != d.kind.value]
    print("kind misses:", misses)
    assert len(results) >= 40
    assert 1 - len(misses) / len(results) >= 0.90, misses


def test_grades_agree_with_labels(results) -> None:
    graded = [(n, label, d) for n, label, d in results if "grade" in label]
    pairs = [(label["grade"], d.grade.grade if d.grade else "-") for _, label, d in graded]
    print("\n" + confusion(pairs, "grade"))
    misses = [(n, label["grade"], d.grade.grade if d.grade else None,
               [r.text for r in d.grade.reasons] if d.grade else None)
              for n, label, d in graded if not d.grade or d.grade.grade != label["grade"]]
    for miss in misses:
        print("grade miss:", miss)
    assert 1 - len(misses) / len(graded) >= 0.80, misses


def test_countries_and_products_found(results) -> None:
    with_country = [(n, label, d) for n, label, d in results if label.get("country")]
    right = sum(d.country == label["country"] for _, label, d in with_country)
    print(f"\ncountry right {right}/{len(with_country)}")
    with_skus = [(n, label, d) for n, label, d in results if label.get("skus")]
    found = sum(set(label["skus"]) <= {p.sku for p in d.extracted.products}
                for _, label, d in with_skus)
    print(f"skus all found {found}/{len(with_skus)}")
    assert right / len(with_country) >= 0.75
    assert found / len(with_skus) >= 0.75
