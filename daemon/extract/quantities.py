"""Quantities with their units: "5,000 pcs", "10k pieces", "2.000 unidades", "3000 пар",
"5000个", "100 dozen", "Qty: 3,000", "8,000 keychains" (pure).

Each quantity is attached to the product written nearest to it on the same line; else
to the last product named earlier in the same paragraph (an order line "1) BS-NK-101 ..."
followed by "Qty: 5,000 pcs"); else, when the message names one product only, to it.
Not counted: packing ratios ("200 pcs per inner box", "12 piezas por tarjeta"),
per-design splits ("8 дизайнов по 1 000 шт."), and breakdowns in brackets after a total
("2,000 pairs (1,000 pairs silver, ...)"). A range keeps its lower end as the amount
("1,000-2,000 pcs" -> 1000) and is kept whole in `text`.
"""

from __future__ import annotations

import bisect
import re

from daemon.extract.numbers import COUNT, MULTIPLIER, to_count
from daemon.extract.products import Mention
from daemon.extract.text import Folded, Layout, fold, stem, words_pattern
from daemon.types import Quantity

# Normalised unit -> how buyers write it (folding makes "pièces" "pieces", "Stück" "stuck").
UNITS: dict[str, tuple[str, ...]] = {
    "pcs": ("pcs", "pc", "pce", "pces", "piece", "pieces", "pieza", "piezas", "pza", "pzas",
            "pz", "pzs", "unidad", "unidades", "ud", "uds", "unid", "unit", "units", "peca",
            "pecas", "pçs", "unidade", "stuck", "stk", "stck", "шт", "штук", "штуки", "штука",
            "قطعة", "قطع", "حبة", "个", "個", "件", "只", "隻", "枚", "adet", "pcs.", "buah"),
    "pairs": ("pair", "pairs", "prs", "pares", "paire", "paires", "paar", "пар", "пары",
              "пара", "زوج", "ازواج", "对", "對", "双", "雙", "ペア", "çift"),
    "sets": ("set", "sets", "juego", "juegos", "jogo", "jogos", "ensemble", "ensembles",
             "satz", "sätze", "комплект", "набор", "طقم", "اطقم", "套", "セット", "takım"),
    "dozen": ("dozen", "dozens", "dz", "doz", "docena", "docenas", "dúzia", "dúzias",
              "douzaine", "douzaines", "dutzend", "дюжина", "дюжин", "دزينة", "打", "ダース",
              "düzine"),
    "cartons": ("carton", "cartons", "ctn", "ctns", "karton", "kartons", "коробка", "коробок",
                "короба", "كرتون", "كراتين", "箱", "koli"),
}
_UNIT_OF = {re.sub(r"\s+", "", fold(w)): unit for unit, ws in UNITS.items() for w in ws}

_RANGE = r"(?:-|–|—|~|to|a|y|e|und|bis|до|ile|al|hasta|ou|or|или|至|到)"
_QUANTITY = re.compile(
    rf"(?<![\w.,])(?P<low>{COUNT})(?:\s*{_RANGE}\s*(?P<high>{COUNT}))?"
    rf"\s*(?P<mult>{MULTIPLIER})?\s*"
    rf"(?P<unit>{words_pattern([w for ws in UNITS.values() for w in ws], word_start=False)})")
_PER_DESIGN = re.compile(r"(?<!\w)по\s*$")
# After a count: "per inner box", "por tarjeta", "/ctn", "每箱": a packing ratio, not an order.
_PACKING = re.compile(
    r"\s*(?:per|por|par|pro|each|every|/|в|на|每|في)\s*(?:(?:inner|master|export|opp|display"
    r"|individual)\s+)?(?:box|carton|ctn|bag|polybag|card|display|pack|tarjeta|caja|bolsa"
    r"|carte|sachet|karton|beutel|karte|коробк|карточк|пакет|箱|袋|卡|盒|كرتون|الكرتون)")
_LABEL = re.compile(
    r"(?:qty|quantity|quantities|cantidad|quantite|quantidade|menge|anzahl|stuckzahl"
    r"|количество|كميه|الكميه|数量|數量|miktar|jumlah)\s*[:：]?\s*(?:of\s+|approx\.?\s*|ca\.?\s*"
    rf"|约\s*|約\s*|около\s*)?(?P<num>{COUNT})(?!\s*(?:%|\$|usd|[.,]\d))")


def quantities(text: Folded, mentioned: list[Mention], only_sku: str) -> tuple[Quantity, ...]:
    """Every quantity in the text, each with the SKU it belongs to when clear."""
    found: list[tuple[int, int, Quantity]] = []
    s = text.folded
    for m in _QUANTITY.finditer(s):
        if _PER_DESIGN.search(s[max(0, m.start() - 5):m.start()]) or _PACKING.match(
                s, m.end()):
            continue
        amount = to_count(m["low"], m["mult"] or "")
        if amount is None:
            continue
        unit = _unit_name(m["unit"])
        found.append((m.start(), m.end(), Quantity(amount, unit, text=text.original(*m.span()))))
    found += _labelled(text, found) + _product_words(text, mentioned, found)
    layout = Layout(s)
    found = _without_breakdowns(s, layout, sorted(found, key=lambda q: q[0]))
    attach = _Attacher(layout, mentioned, only_sku)
    result: dict[tuple[int, str, str], Quantity] = {}
    for start, _, q in found:
        q = attach(q, start)
        result.setdefault((q.amount, q.unit, q.sku), q)   # "2,000 Pieces" ... "2000 pcs"
    return tuple(result.values())


def _unit_name(written: str) -> str:
    key = re.sub(r"\s+", "", written)
    # Inflected forms ("комплектов", "والقطع") are found by their stem.
    return _UNIT_OF.get(key) or _UNIT_OF.get(stem(key, latin_plural=True)) or "pcs"


def _labelled(text: Folded, found: list[tuple[int, int, Quantity]]) -> list[
        tuple[int, int, Quantity]]:
    """'Qty: 5,000' with no unit written: pieces."""
    out = []
    for m in _LABEL.finditer(text.folded):
        start, end = m.span("num")
        if any(s <= start < e for s, e, _ in found):
            continue
        amount = to_count(m["num"])
        if amount is not None and amount > 1:
            out.append((start, end, Quantity(amount, "pcs", text=text.original(start, end))))
    return out


def _product_words(text: Folded, mentioned: list[Mention],
                   found: list[tuple[int, int, Quantity]]) -> list[tuple[int, int, Quantity]]:
    """'8,000 keychains', '6,000 rings': a count written right before a product word."""
    out = []
    for mention in mentioned:
        # Not the digits of a SKU ("BS-GB-730 jewellery gift box").
        m = re.search(rf"(?<![\w.,\-/])({COUNT})\s*(?:{MULTIPLIER})?\s*$",
                      text.folded[max(0, mention.start - 20):mention.start])
        if m is None or mention.by_code:
            continue
        start = max(0, mention.start - 20) + m.start(1)
        amount = to_count(m.group(1))
        if amount is not None and not any(s <= start < e for s, e, _ in found):
            out.append((start, mention.end, Quantity(amount, "pcs", mention.sku,
                                                     text.original(start, mention.end))))
    return out


def _without_breakdowns(s: str, layout: Layout, found: list[tuple[int, int, Quantity]]) -> list[
        tuple[int, int, Quantity]]:
    """Drop quantities in brackets when the same line has one outside brackets."""
    def bracketed(pos: int) -> bool:
        before = s[max(layout.line(pos)[0], pos - 200):pos]
        return before.count("(") + before.count("（") > before.count(")") + before.count("）")

    inside = {start: bracketed(start) for start, _, _ in found}
    outside_lines = {layout.line(start)[0] for start, _, _ in found if not inside[start]}
    return [q for q in found if not (inside[q[0]] and layout.line(q[0])[0] in outside_lines)]


class _Attacher:
    """Finds the product a quantity belongs to (see the module docstring)."""

    def __init__(self, layout: Layout, mentioned: list[Mention], only_sku: str) -> None:
        self.layout, self.mentioned, self.only_sku = layout, mentioned, only_sku
        self.starts = [m.start for m in mentioned]

    def __call__(self, q: Quantity, pos: int) -> Quantity:
        if q.sku:
            return q
        sku = self._same_line(pos) or self._earlier_in_paragraph(pos) or self.only_sku
        return Quantity(q.amount, q.unit, sku, q.text)

    def _between(self, start: int, end: int) -> list[Mention]:
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_left(self.starts, end)
        return self.mentioned[lo:hi]

    def _same_line(self, pos: int) -> str:
        same_line = self._between(*self.layout.line(pos))
        return min(same_line, key=lambda m: abs(m.start - pos)).sku if same_line else ""

    def _earlier_in_paragraph(self, pos: int) -> str:
        earlier = self._between(self.layout.paragraph(pos)[0], pos)
        return earlier[-1].sku if earlier else ""
