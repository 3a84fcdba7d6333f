"""Which catalogue products a message names: SKUs and keywords in any language (pure).

A SKU matches with or without its separators ("BS-NK-101", "BS NK 101", "bsnk101");
keywords match case- and accent-insensitively, as whole words (plural and case endings
allowed) in spaced scripts and as substrings in Chinese and Japanese. What is compiled
from a catalogue is cached per catalogue object (a reload makes a new one).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daemon.extract.text import Folded, Hit, PhraseIndex, fold
from daemon.types import ProductHit

if TYPE_CHECKING:
    from daemon.catalog import Catalog


@dataclass(frozen=True, slots=True)
class ProductIndex:
    sku_pattern: re.Pattern[str] | None
    skus: Mapping[str, str]          # SKU without separators -> SKU
    names: Mapping[str, str]         # SKU -> product name
    keywords: PhraseIndex[str]       # keyword -> SKU


def _sku_key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", fold(text))


@functools.lru_cache(maxsize=8)
def index_for(catalog: Catalog) -> ProductIndex:
    keywords: PhraseIndex[str] = PhraseIndex(latin_plural=True)
    alternatives, skus, names = [], {}, {}
    for product in catalog.products:
        parts = re.findall(r"[0-9a-z]+", fold(product.sku))
        alternatives.append(r"[\s\-_./]?".join(re.escape(p) for p in parts))
        skus[_sku_key(product.sku)] = product.sku
        names[product.sku] = product.name
        for word in product.keywords:
            keywords.add(word, product.sku)
    pattern = None
    if alternatives:
        alternatives.sort(key=len, reverse=True)
        pattern = re.compile(r"(?<![0-9a-z])(?:" + "|".join(alternatives) + r")(?![0-9a-z])")
    return ProductIndex(pattern, skus, names, keywords)


@dataclass(frozen=True, slots=True)
class Mention:
    """One place a product is named: folded offsets, SKU, as written, by code or word."""

    start: int
    end: int
    sku: str
    text: str
    by_code: bool


def mentions(text: Folded, index: ProductIndex) -> list[Mention]:
    """Every SKU and keyword mention, in text order."""
    found: list[Mention] = []
    if index.sku_pattern is not None:
        for m in index.sku_pattern.finditer(text.folded):
            sku = index.skus[_sku_key(m.group())]
            found.append(Mention(m.start(), m.end(), sku, text.original(*m.span()), True))
    taken = [(m.start, m.end) for m in found]
    for hit in index.keywords.find(text):
        if not any(s < hit.end and hit.start < e for s, e in taken):
            found.append(_from_hit(hit))
    return sorted(found, key=lambda m: m.start)


def _from_hit(hit: Hit[str]) -> Mention:
    return Mention(hit.start, hit.end, hit.value, hit.text, False)


def product_hits(mentioned: list[Mention], index: ProductIndex) -> tuple[ProductHit, ...]:
    """One hit per SKU, in order of first mention; the code is preferred as evidence."""
    chosen: dict[str, Mention] = {}
    for m in mentioned:
        if m.sku not in chosen or (m.by_code and not chosen[m.sku].by_code):
            chosen[m.sku] = m       # a dict keeps the first insertion's place
    return tuple(ProductHit(sku, index.names[sku], m.text, m.by_code)
                 for sku, m in chosen.items())
