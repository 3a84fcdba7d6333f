"""Prices with their currency: "USD 0.85", "$1.35/pc", "0,82 €", "US$ 2", "1.2 долл",
"0.50 دولار أمريكي", "1.15美元" (pure).

Every amount the buyer writes with a currency is kept, in text order: in an inquiry they
are target prices, in a haggling reply both our price and theirs (the reviewer sees them
as written). Budgets are left out: an amount with a multiplier ("£8-10k per shipment"),
per month, or right after the word budget.
"""

from __future__ import annotations

import re

from daemon.extract.numbers import PRICE, to_decimal
from daemon.extract.text import Folded, fold, stem, words_pattern
from daemon.types import Money

# ISO 4217 code -> (written before the amount, written after it). Symbols shared by
# several currencies go to the one this trade meets most: "$" is USD, "¥" is CNY.
CURRENCIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "USD": (("usd", "us$", "u$s", "$", "us $", "us dollar"),
            ("usd", "us$", "$", "dollar", "dollars", "us dollars", "dolar", "dolares",
             "dólares", "dólar", "долл", "долл.", "доллар", "долларов", "доллара",
             "дол", "دولار", "دولار امريكي", "دولار أمريكي", "دولارات", "美元", "美金", "ドル",
             "dolar amerikan")),
    "EUR": (("eur", "€", "euro"), ("eur", "€", "euro", "euros", "евро", "يورو", "欧元", "歐元",
                                   "ユーロ")),
    "GBP": (("gbp", "£"), ("gbp", "£", "pounds", "фунт")),
    "CNY": (("rmb", "cny", "¥", "rmb¥"), ("rmb", "cny", "¥", "元", "人民币", "人民幣", "юаней",
                                          "юань")),
    "JPY": (("jpy",), ("jpy", "円")),
    "HKD": (("hkd", "hk$"), ("hkd",)),
    "TWD": (("twd", "nt$", "ntd"), ("twd", "ntd")),
    "AUD": (("aud", "a$", "au$"), ("aud",)),
    "CAD": (("cad", "c$", "ca$"), ("cad",)),
    "SGD": (("sgd", "s$"), ("sgd",)),
    "BRL": (("brl", "r$"), ("brl", "reais")),
    "MXN": (("mxn", "mx$"), ("mxn", "pesos mexicanos")),
    "AED": (("aed", "dhs"), ("aed", "dhs", "درهم", "dirhams")),
    "SAR": (("sar",), ("sar", "ريال", "riyals")),
    "INR": (("inr", "rs", "rs.", "₹"), ("inr", "rupees")),
    "RUB": (("rub", "₽"), ("rub", "руб", "руб.", "рублей", "рубля", "₽")),
    "TRY": (("₺",), ("tl", "₺", "türk lirası")),
    "NGN": (("ngn", "₦"), ("ngn", "naira")),
    "IDR": (("idr", "rp"), ("idr", "rupiah")),
    "VND": (("vnd", "₫"), ("vnd", "₫", "dong", "đồng")),
    "THB": (("thb", "฿"), ("thb", "baht")),
    "CHF": (("chf",), ("chf",)),
    "ZAR": (("zar",), ("zar",)),
}


def _lookup(index: int) -> dict[str, str]:
    return {fold(w): code for code, forms in CURRENCIES.items() for w in forms[index]}


_BEFORE, _AFTER = _lookup(0), _lookup(1)
# Symbols are not words: "$1.35" has no space and "$" no word boundary.
_SYMBOL = r"|".join(re.escape(s) for s in sorted(
    (w for w in _BEFORE if not w[0].isalpha()), key=len, reverse=True))
_CODES_BEFORE = words_pattern([w for w in _BEFORE if w[0].isalpha()])
_MONEY = re.compile(
    rf"(?:(?<![\w$€£¥₹₽₺₦₫฿])(?=[^\s\d])(?P<cur1>{_CODES_BEFORE}|{_SYMBOL})"
    rf"\s?(?P<num1>{PRICE})"
    rf"|(?<![\w.,])(?P<num2>{PRICE})\s?(?P<cur2>{words_pattern(list(_AFTER))}|{_SYMBOL}))")
_BUDGET_AFTER = re.compile(
    r"\s*(?:-|–)?\s*(?:\d+\s*)?(?:k|mil|m|mn|million|millones|тыс|万)(?![a-z])"
    r"|\s*(?:/|per|a|al|par|pro|в)\s*(?:month|mes|mois|monat|месяц)")
_BUDGET_BEFORE = re.compile(r"(?:budget|presupuesto|orcamento|бюджет|ميزانيه|预算)\W{0,20}$")


def prices(text: Folded) -> tuple[Money, ...]:
    s = text.folded
    found: list[Money] = []
    for m in _MONEY.finditer(s):
        written, cur = (m["num1"], m["cur1"]) if m["num1"] else (m["num2"], m["cur2"])
        if _BUDGET_AFTER.match(s, m.end()) or _BUDGET_BEFORE.search(s[max(0, m.start() - 40):
                                                                     m.start()]):
            continue
        amount = to_decimal(written)
        code = _currency(cur)
        if amount is None or not code or amount <= 0:
            continue
        found.append(Money(amount, code, text.original(*m.span())))
    return tuple(found)


def _currency(written: str) -> str:
    key = " ".join(written.split()).rstrip(".")
    # Inflected words ("доллару", "بالدولار") are found by their stem.
    return (_BEFORE.get(key) or _AFTER.get(key) or _AFTER.get(stem(key, latin_plural=False))
            or "")
