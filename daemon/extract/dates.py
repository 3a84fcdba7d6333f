"""The delivery date: "by 2027-08-15", "28 February 2027", "January 20, 2027",
"15 de febrero de 2027", "25 декабря 2026 г.", "20 يناير 2027", "2027年1月10日前",
"15 Ocak 2027", "before end of March", "within 45 days" (pure).

A date counts only near delivery words (delivery, ship, arrive, entrega, livraison,
отгрузка, تسليم, 交期, teslim ...), in the 100 characters before it or just after it
in the same paragraph: "artwork sent on 9 Nov" and "visit in March 2027" are not
delivery dates. The first such date wins. A date without a year is the next one on or
after `today`; "end of March" is its last day; "within 45 days" counts from `today`.
Numeric dates are read day first (31/12/2027, 31.12.2027) unless only the other order
makes a date (12/31/2027). A month and year without a day ("March 2027") is not
taken: it is too vague to plan by.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from daemon.extract.text import Folded, Layout, compile_words, fold, words_pattern

MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "enero", "ene", "janeiro", "janvier", "janv", "januar", "jänner",
        "gennaio", "января", "январь", "يناير", "كانون الثاني", "ocak", "januari"),
    2: ("february", "feb", "febrero", "fevereiro", "février", "févr", "februar", "febbraio",
        "февраля", "февраль", "فبراير", "شباط", "şubat", "februari"),
    3: ("march", "mar", "marzo", "março", "mars", "märz", "марта", "март", "مارس", "آذار",
        "mart", "maret", "maart"),
    4: ("april", "apr", "abril", "avril", "avr", "aprile", "апреля", "апрель", "أبريل",
        "ابريل", "إبريل", "نيسان", "nisan"),
    5: ("may", "mayo", "maio", "mai", "maggio", "мая", "май", "مايو", "أيار", "mayıs", "mei"),
    6: ("june", "jun", "junio", "junho", "juin", "juni", "giugno", "июня", "июнь", "يونيو",
        "يونية", "حزيران", "haziran"),
    7: ("july", "jul", "julio", "julho", "juillet", "juil", "juli", "luglio", "июля", "июль",
        "يوليو", "يولية", "تموز", "temmuz"),
    8: ("august", "aug", "agosto", "août", "augustus", "agustus", "августа", "август",
        "أغسطس", "اغسطس", "آب", "ağustos"),
    9: ("september", "sep", "sept", "septiembre", "setiembre", "setembro", "septembre",
        "settembre", "сентября", "сентябрь", "سبتمبر", "أيلول", "eylül"),
    10: ("october", "oct", "octubre", "outubro", "octobre", "oktober", "ottobre", "октября",
         "октябрь", "أكتوبر", "اكتوبر", "تشرين الأول", "ekim"),
    11: ("november", "nov", "noviembre", "novembro", "novembre", "ноября", "ноябрь", "نوفمبر",
         "تشرين الثاني", "kasım"),
    12: ("december", "dec", "diciembre", "dezembro", "décembre", "déc", "dezember", "dicembre",
         "декабря", "декабрь", "ديسمبر", "كانون الأول", "aralık", "desember"),
}
_MONTH_OF = {fold(w): n for n, words in MONTHS.items() for w in words}
_M = rf"(?P<month>{words_pattern([w for ws in MONTHS.values() for w in ws])})\.?"
_Y = r"(?P<year>20\d\d)"

# Patterns that begin with a word are tried only where a word begins: without this
# guard the month alternation is tried at every character, and costs most of the stage.
_WORD_START = r"(?<!\w)(?=\w)"
_FORMS = [
    rf"{_Y}\s*[-/.]\s*(?P<m>\d{{1,2}})\s*[-/.]\s*(?P<day>\d{{1,2}})(?!\d)",
    rf"(?<![\d.])(?P<day>\d{{1,2}})\s*[./-]\s*(?P<m>\d{{1,2}})\s*[./-]\s*{_Y}(?!\d)",
    rf"{_Y}\s*年\s*(?P<m>\d{{1,2}})\s*月\s*(?P<day>\d{{1,2}})\s*日",
    r"(?<!\d)(?P<m>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*日",
    rf"(?<![\d.])(?P<day>\d{{1,2}})(?:st|nd|rd|th|er|º|°)?\.?\s*(?:de\s+)?(?=[^\W\d_]){_M}"
    rf"(?:\s*,?\s*(?:de\s+)?{_Y})?",
    rf"{_WORD_START}{_M}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:\s*,?\s*{_Y})?",
]
_END_OF = compile_words((
    "end of", "the end of", "fin de", "finales de", "a finales de", "fines de", "fin",
    "fim de", "final de", "ende", "конец", "конца", "концу", "نهاية"))
_END_FORMS = [
    rf"{_WORD_START}(?:{_END_OF.pattern})\s*(?:of\s+)?{_M}(?:\s*,?\s*(?:de\s+)?{_Y})?",
    rf"{_WORD_START}{_M}\s*(?:{_Y}\s*)?sonu",
    rf"(?:{_Y}\s*年\s*)?(?P<m>\d{{1,2}})\s*月\s*(?:底|末)",
]
_WITHIN = re.compile(
    r"(?<!\w)(?=\w)(?:within|in|en|dans|sous|em|dentro de|innerhalb(?: von)?|binnen"
    r"|в течение|за|خلال"
    r"|في غضون|icinde)\s*(?P<n>\d{1,3})\s*(?P<unit>days?|weeks?|months?|dias|días|jours"
    r"|semaines|semanas|tage[n]?|wochen|дн\w*|недел\w*|يوم|ايام|اسابيع|gun|hafta)(?!\w)"
    r"|(?P<n2>\d{1,3})\s*(?P<unit2>天|日|周|週|个月|gun)\s*(?:内|以内|içinde|icinde)")
_QUALIFIER = re.compile(
    r"(?<!\w)(?:no later than|not later than|at the latest|latest|before|by|until|till|prior to"
    r"|antes de(?:l)?|a mas tardar(?:\s+el)?|hasta(?:\s+el)?|avant(?:\s+le)?"
    r"|au plus tard(?:\s+le)?|bis(?:\s+zum)?|spatestens|vor dem|до|не позднее|قبل|حتى|en gec"
    r"|ate|sebelum)\s*$".replace(" ", r"\s+"))
_DELIVERY = compile_words((
    "deliver", "delivery", "delivered", "ship", "shipped", "shipping", "shipment", "arrive",
    "arrival", "ready", "eta", "etd", "lead time", "loading", "entrega", "entregar", "embarque",
    "llegada", "llegar", "envio", "plazo", "mercancia en", "livraison", "livrer", "livre",
    "expedition", "arriver", "arrivee", "delai", "lieferung", "liefertermin", "liefern",
    "versand", "ankunft", "verschiffung", "отгрузка", "отгрузки", "поставка", "доставка",
    "срок", "прибытие", "تسليم", "التسليم", "شحن", "الشحن", "وصول", "teslim", "yukleme",
    "yuklenmesi", "sevkiyat", "prazo", "chegada", "pengiriman"),
    latin_suffix="(?:s|es|ed|ing)?")
_DELIVERY_CJK = re.compile(r"交期|交货|交貨|到港|到货|到貨|出货|出貨|发货|發貨|装运|船期|納期|納品|出荷|入港")
_DAY_UNITS = {"day": 1, "dia": 1, "jour": 1, "tag": 1, "дн": 1, "يوم": 1, "ايام": 1, "gun": 1,
              "天": 1, "日": 1, "week": 7, "semaine": 7, "semana": 7, "woche": 7, "недел": 7,
              "اسابيع": 7, "hafta": 7, "周": 7, "週": 7, "month": 30, "个月": 30}

_PATTERNS = [re.compile(f) for f in _FORMS] + [re.compile(f) for f in _END_FORMS]
_END_START = len(_FORMS)


@dataclass(frozen=True, slots=True)
class Delivery:
    when: date
    text: str


def delivery(text: Folded, today: date) -> Delivery | None:
    """The first delivery date near delivery words, or None."""
    s = text.folded
    candidates: list[tuple[int, int, date]] = []
    for i, pattern in enumerate(_PATTERNS):
        for m in pattern.finditer(s):
            when = _absolute(m, today, end_of_month=i >= _END_START)
            if when is not None:
                candidates.append((m.start(), m.end(), when))
    for m in _WITHIN.finditer(s):
        candidates.append((m.start(), m.end(), _relative(m, today)))
    layout = Layout(s)
    for start, end, when in sorted(candidates, key=lambda c: (c[0], -c[1])):
        if _about_delivery(s, layout.paragraph(start), start, end):
            return Delivery(when, _as_written(text, start, end))
    return None


def _absolute(m: re.Match[str], today: date, end_of_month: bool) -> date | None:
    groups = m.groupdict()
    month = _MONTH_OF.get(" ".join(groups["month"].split())) if groups.get("month") else None
    if month is None and groups.get("m"):
        month = int(groups["m"])
        day_written = groups.get("day")
        if day_written and month > 12 and int(day_written) <= 12:
            month, groups["day"] = int(day_written), str(month)   # 12/31/2027, US order
    if month is None or not 1 <= month <= 12:
        return None
    year = int(groups["year"]) if groups.get("year") else None
    if end_of_month or not groups.get("day"):
        day = None
    else:
        day = int(groups["day"])
    return _make(year, month, day, today)


def _make(year: int | None, month: int, day: int | None, today: date) -> date | None:
    for y in ([year] if year else [today.year, today.year + 1]):
        last = calendar.monthrange(y, month)[1]
        d = day or last
        if not 1 <= d <= last:
            return None
        when = date(y, month, d)
        if year or when >= today:
            return when
    return None


def _relative(m: re.Match[str], today: date) -> date:
    n = int(m["n"] or m["n2"])
    unit = fold(m["unit"] or m["unit2"])
    days = next((v for k, v in _DAY_UNITS.items() if unit.startswith(k)), 1)
    return today + timedelta(days=n * days)


def _about_delivery(s: str, para: tuple[int, int], start: int, end: int) -> bool:
    window = s[max(para[0], start - 100):min(para[1], end + 15)]
    return bool(_DELIVERY.search(window) or _DELIVERY_CJK.search(window))


def _as_written(text: Folded, start: int, end: int) -> str:
    """The date as written, with "before"/"no later than" in front and 前 after it."""
    before = text.folded[max(0, start - 30):start]
    q = _QUALIFIER.search(before)
    if q:
        start = max(0, start - 30) + q.start()
    tail = re.match(r"(?:\s*г\.|\s*года|之前|以前|前)", text.folded[end:end + 4])
    if tail:
        end += tail.end()
    written = " ".join(text.original(start, end).split())
    # The sentence's full stop is not part of the date ("before 20 December.").
    return written[:-1] if written.endswith(".") and not written.endswith("г.") else written
