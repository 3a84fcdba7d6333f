"""Grading an inquiry A/B/C/D from the rules in rules/grading.toml (pure).

domain.md's grades: A clear intent (quantities, target price, delivery date, specific
models, asks for PI or terms); B interested but hesitant; C long-term; D unclear.
Each `[[signal]]` entry names a kind of evidence (code below), the grade it speaks
for and its points. The decision, in words a sales manager would accept:
  - A when the A points reach `a_points`, or `a_over_doubt` when doubt signals fired
    (long-term or hesitant talk);
  - C when long-term signals fired (next year, a plan for 2027, tender, budget);
  - D when the message names no product, quantity or price (vague) and has no A evidence;
  - B when interest signals fired (comparing, catalogue, sample, a product named);
  - D otherwise.
Every signal that fired becomes a reason, with the evidence filled in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from daemon.errors import ConfigError
from daemon.types import Extracted, GradeResult, Mail, Reason

GRADES = ("A", "B", "C", "D")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True, slots=True)
class History:
    """What the buyer database says of this buyer before this inquiry."""

    known: bool = False
    previous_grade: str | None = None
    inquiries: int = 0
    customer: bool = False          # has ordered before (status won/customer)


@dataclass(frozen=True, slots=True)
class Evidence:
    mail: Mail
    extracted: Extracted
    history: History
    today: date


# A signal kind looks at the evidence and returns the filled-in words, or None.
Check = Callable[[Evidence, Mapping[str, Any]], str | None]


def _quantity(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    big = [q for q in ev.extracted.quantities if q.amount >= int(p.get("min", 1))]
    return ", ".join(f"{q.amount:,} {q.unit}" for q in big[:3]) or None


def _target_price(ev: Evidence, _: Mapping[str, Any]) -> str | None:
    return ", ".join(f"{m.currency} {m.amount}" for m in ev.extracted.target_prices[:3]) or None


def _delivery(ev: Evidence, _: Mapping[str, Any]) -> str | None:
    if ev.extracted.delivery is not None:
        return ev.extracted.delivery.isoformat()
    return ev.extracted.delivery_text or None


def _far_delivery(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    when = ev.extracted.delivery
    if when is not None and (when - ev.today).days >= int(p.get("days", 180)):
        return when.isoformat()
    return None


def _payment(ev: Evidence, _: Mapping[str, Any]) -> str | None:
    return ", ".join(ev.extracted.payment_terms) or None


def _incoterm(ev: Evidence, _: Mapping[str, Any]) -> str | None:
    return ", ".join(f"{i.term} {i.place}".strip() for i in ev.extracted.incoterms) or None


def _products(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    hits = [h for h in ev.extracted.products if h.by_code or not p.get("by_code")]
    skus = sorted({h.sku for h in hits})
    return ", ".join(skus) if len(skus) >= int(p.get("min", 1)) else None


def _requests(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    hit = sorted(ev.extracted.requests & set(p["requests"]))
    return ", ".join(r.replace("_", " ") for r in hit) or None


def _words(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    text = f"{ev.mail.subject}\n{ev.mail.text}"
    for pattern in p["_compiled"]:
        if m := pattern.search(text):
            return f"“{m.group(0).strip()}”"
    return None


def _short(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    if ev.extracted.products and not p.get("even_with_products"):
        return None  # "Price of BS-NK-101?" is short but names what it wants
    words = len(re.findall(r"\w+", ev.mail.text))
    cjk = len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", ev.mail.text))
    size = words + cjk // 2
    return f"{size} words" if size <= int(p.get("max_words", 25)) else None


def _future_year(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    """A year mentioned that lies well ahead (a plan for "2027"), unless a near delivery date
    explains it."""
    near = ev.extracted.delivery
    if near is not None and (near - ev.today).days < int(p.get("days", 180)):
        return None
    for m in re.finditer(r"(?<!\d)(20\d\d)(?!\d)", f"{ev.mail.subject}\n{ev.mail.text}"):
        year = int(m.group(1))
        if year > ev.today.year and (date(year, 7, 1) - ev.today).days >= int(p.get("days", 180)):
            return m.group(1)
    return None


def _vague(ev: Evidence, _: Mapping[str, Any]) -> str | None:
    x = ev.extracted
    if x.products or x.quantities or x.target_prices:
        return None
    return "no product, quantity or price named"


def _history(ev: Evidence, p: Mapping[str, Any]) -> str | None:
    h = ev.history
    if p.get("customer") and h.customer:
        return "has ordered before"
    if h.inquiries >= int(p.get("min_inquiries", 99)):
        return f"{h.inquiries} earlier inquiries"
    return None


KINDS: dict[str, Check] = {
    "quantity": _quantity, "target-price": _target_price, "delivery": _delivery,
    "far-delivery": _far_delivery, "payment-terms": _payment, "incoterm": _incoterm,
    "products": _products, "requests": _requests, "words": _words, "short": _short,
    "history": _history, "future-year": _future_year, "vague": _vague,
}
REQUIRED = {"requests": ("requests",), "words": ("words",)}


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    description: str
    kind: str
    grade: str
    points: int
    doubt: bool = False     # long-term or hesitant talk: A then needs a_over_doubt points
    params: Mapping[str, Any] = field(default_factory=dict)

    def fire(self, ev: Evidence) -> Reason | None:
        value = KINDS[self.kind](ev, self.params)
        if value is None:
            return None
        return Reason(self.name, self.description.replace("{value}", value))


@dataclass(frozen=True, slots=True)
class GradingRules:
    signals: tuple[Signal, ...]
    a_points: int = 4
    a_over_doubt: int = 6   # with doubt (long-term, hesitant) A needs this many points

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str) -> GradingRules:
        problems: list[str] = []
        signals = []
        for n, entry in enumerate(data.get("signal", []), start=1):
            signal = _signal(entry, f"{source}: signal '{entry.get('name', '?')}' (entry {n})",
                             problems)
            if signal:
                signals.append(signal)
        unknown = set(data) - {"signal", "thresholds"}
        problems += [f"{source}: unknown table '{k}'" for k in sorted(unknown)]
        thresholds = dict(data.get("thresholds", {}))
        bad = set(thresholds) - {"a_points", "a_over_doubt"}
        problems += [f"{source}: thresholds: unknown key '{k}'" for k in sorted(bad)]
        if problems:
            raise ConfigError(problems)
        return cls(tuple(signals), int(thresholds.get("a_points", 4)),
                   int(thresholds.get("a_over_doubt", 6)))


def _signal(entry: Mapping[str, Any], where: str, problems: list[str]) -> Signal | None:
    before = len(problems)
    name, kind, grade = entry.get("name"), entry.get("kind"), entry.get("grade")
    if not name or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", str(name)):
        problems.append(f"{where}: 'name' must be kebab-case, e.g. 'asks-for-pi'")
    if kind not in KINDS:
        problems.append(f"{where}: unknown kind {kind!r} (one of {', '.join(sorted(KINDS))})")
    if grade not in GRADES:
        problems.append(f"{where}: 'grade' must be one of A, B, C, D")
    if not isinstance(entry.get("points", 1), int):
        problems.append(f"{where}: 'points' must be a whole number")
    params = {k: v for k, v in entry.items()
              if k not in {"name", "description", "kind", "grade", "points", "doubt"}}
    for key in REQUIRED.get(str(kind), ()):
        if key not in params:
            problems.append(f"{where}: kind '{kind}' needs '{key}'")
    if kind == "words" and "words" in params:
        params["_compiled"] = _compile(params["words"], where, problems)
    if len(problems) > before:
        return None
    return Signal(str(name), str(entry.get("description", name)), str(kind), str(grade),
                  int(entry.get("points", 1)), bool(entry.get("doubt", False)), params)


def _compile(words: Any, where: str, problems: list[str]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for word in words if isinstance(words, list) else []:
        try:
            # Words match whole words; CJK (no spaces between words) and regex pieces
            # match as written.
            whole = re.fullmatch(r"[\w .'-]+", word) and not _CJK.search(word)
            pattern = rf"(?<!\w){word}(?!\w)" if whole else word
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            problems.append(f"{where}: bad pattern {word!r}: {exc}")
    if not isinstance(words, list):
        problems.append(f"{where}: 'words' must be a list of words or patterns")
    return tuple(compiled)


def grade(mail: Mail, extracted: Extracted, history: History, rules: GradingRules,
          today: date) -> GradeResult:
    """A, B, C or D with the reasons that decided it."""
    ev = Evidence(mail, extracted, history, today)
    fired = [(s, r) for s in rules.signals if (r := s.fire(ev)) is not None]
    points = {g: sum(s.points for s, _ in fired if s.grade == g) for g in GRADES}
    doubt = sum(s.points for s, _ in fired if s.doubt)
    if points["A"] >= rules.a_points and (not doubt or points["A"] >= rules.a_over_doubt):
        letter = "A"
    elif points["C"] > 0:
        letter = "C"
    elif points["D"] > 0 and points["A"] == 0:
        letter = "D"  # asks for a price list, names no product, quantity or term
    elif points["A"] > 0 or points["B"] > 0:
        letter = "B"
    else:
        letter = "D"
    # The signals for the grade given come first; the others follow as context.
    reasons = [r for s, r in fired if s.grade == letter] + \
        [r for s, r in fired if s.grade != letter]
    if letter == "B" and points["A"]:
        reasons.append(Reason("below-a", f"A points {points['A']} of {rules.a_points} needed"))
    if not fired:
        reasons.append(Reason("no-signal", "no product, quantity or term mentioned"))
    return GradeResult(letter, tuple(reasons))
