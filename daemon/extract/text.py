"""Text helpers shared by the extractors and by geo: folding, phrase lookup, splitting.

Pure and stdlib-only. Buyers write "Collier", "COLLIERS", "colliers" and "collíer";
"Москве" and "Москва"; "الرياض" and "بالرياض". Every matcher therefore works on a
*folded* copy of the text (case folded, accents and Arabic hamza/diacritics removed,
full-width forms and Arabic-Indic digits made ASCII) and maps what it found back to
the text as written, so evidence shown to a salesperson is never our own rewrite.

`PhraseIndex` finds many phrases at once: words are looked up as token n-grams (fast,
whole-word by construction, with light inflection stemming), CJK phrases as substrings
(Chinese and Japanese do not separate words).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")

# Characters NFKD does not take apart but that buyers type interchangeably.
_SPECIAL = {
    "ı": "i", "ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe", "ħ": "h",
    "ى": "ي", "ة": "ه", "ـ": "",          # Arabic: alif maqsura, ta marbuta, tatweel
    "ی": "ي", "ک": "ك",                   # Persian and Urdu yeh and kaf
    "٫": ".", "٬": ",", "،": ",", "؛": ";", "؟": "?",
    "\u200f": "", "\u200e": "", "\u200b": "", "\ufeff": "",
}
_SPECIAL.update({chr(0x0660 + i): str(i) for i in range(10)})   # Arabic-Indic digits
_SPECIAL.update({chr(0x06F0 + i): str(i) for i in range(10)})   # Persian digits


def is_cjk(ch: str) -> bool:
    """Han, kana or Hangul: scripts written without spaces between words."""
    o = ord(ch)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF
            or 0xAC00 <= o <= 0xD7A3 or 0xF900 <= o <= 0xFAFF or 0x31F0 <= o <= 0x31FF)


# A run of CJK characters, where phrases are looked up as substrings (see is_cjk).
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"
                      r"\uf900-\ufaff]+")


@functools.lru_cache(maxsize=65536)
def fold_char(ch: str) -> str:
    """One character, folded: what two spellings of the same word have in common."""
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if is_cjk(ch):
        # NFKD would split ド into ト + dakuten and Hangul into jamo; keep them whole.
        return unicodedata.normalize("NFKC", ch)
    parts = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in parts if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True, slots=True)
class Folded:
    """A text and its folded copy; `origin[i]` is where folded char i came from."""

    text: str
    folded: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> Folded:
        out: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(text):
            f = fold_char(ch)
            out.append(f)
            origin.extend([i] * len(f))
        origin.append(len(text))
        return cls(text, "".join(out), tuple(origin))

    def original(self, start: int, end: int) -> str:
        """The text as written for the folded span [start, end)."""
        if end <= start:
            return ""
        return self.text[self.origin[start]:self.origin[end - 1] + 1]


def fold(text: str) -> str:
    return "".join(fold_char(ch) for ch in text)


# --- light stemming, so that plural and case endings still match ------------------

_CYRILLIC_ENDINGS = ("ями", "ами", "ов", "ев", "ей", "ам", "ям", "ах", "ях", "ом", "ем",
                     "ой", "ый", "ий", "ая", "яя", "ое", "ее", "ые", "ие", "у", "ю",
                     "а", "я", "о", "е", "ы", "и", "и", "ь")
# Articles and the one-letter conjunctions and prepositions written onto the word:
# "والإمارات", "بالرياض", "وخاتم".
_ARABIC_ARTICLES = ("وال", "بال", "فال", "كال", "ال", "لل", "و", "ف", "ب", "ل")
_MIN_STEM = 4


def stem(token: str, latin_plural: bool) -> str:
    """Drop one inflection ending; applied the same way to keywords and text."""
    if not token:
        return token
    first = token[0]
    if "\u0400" <= first <= "\u04ff":
        for end in _CYRILLIC_ENDINGS:
            if token.endswith(end) and len(token) - len(end) >= _MIN_STEM:
                return token[: -len(end)]
        return token
    if "\u0600" <= first <= "\u06ff":
        for art in _ARABIC_ARTICLES:
            if token.startswith(art) and len(token) - len(art) >= 3:
                return token[len(art):]
        return token
    if latin_plural and first.isascii() and len(token) > 3:
        if token.endswith(("xes", "ches", "shes", "sses")):
            return token[:-2]
        if token.endswith("s") and not token.endswith(("ss", "us", "is")):
            return token[:-1]
    return token


def _word_tokens(folded: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, token) for each run of letters/digits; hyphen and apostrophe split."""
    for m in re.finditer(r"[^\W_]+", folded):
        yield m.start(), m.end(), m.group()


# --- finding many phrases at once ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit(Generic[V]):
    start: int          # folded offsets
    end: int
    value: V
    text: str           # as written


@dataclass(slots=True)
class PhraseIndex(Generic[V]):
    """Phrases -> values; `find` returns leftmost-longest, non-overlapping hits.

    A phrase with any CJK character is matched as a substring; any other phrase as a
    sequence of whole (stemmed) words, so "ring" never matches inside "earring".
    """

    latin_plural: bool = True
    words: dict[tuple[str, ...], V] = field(default_factory=dict)
    cjk: dict[str, V] = field(default_factory=dict)
    longest_words: int = 0
    longest_cjk: int = 0

    def key(self, phrase: str) -> tuple[str, ...] | str:
        """How `phrase` is stored: a CJK string, or a tuple of stemmed tokens."""
        folded = fold(phrase).strip()
        if any(is_cjk(c) for c in folded):
            return re.sub(r"\s+", "", folded)
        return tuple(stem(t, self.latin_plural) for _, _, t in _word_tokens(folded))

    def add(self, phrase: str, value: V) -> V | None:
        """Store a phrase; return the value it already had (a clash), else None."""
        key = self.key(phrase)
        if not key:
            return None
        if isinstance(key, str):
            old = self.cjk.setdefault(key, value)
            self.longest_cjk = max(self.longest_cjk, len(key))
        else:
            old = self.words.setdefault(key, value)
            self.longest_words = max(self.longest_words, len(key))
        return None if old is value or old == value else old

    def find(self, text: Folded) -> list[Hit[V]]:
        hits = self._find_words(text) + self._find_cjk(text)
        return sorted(hits, key=lambda h: h.start)

    def _find_words(self, text: Folded) -> list[Hit[V]]:
        if not self.words:
            return []
        toks = [(s, e, stem(t, self.latin_plural)) for s, e, t in _word_tokens(text.folded)]
        hits: list[Hit[V]] = []
        i = 0
        while i < len(toks):
            for n in range(min(self.longest_words, len(toks) - i), 0, -1):
                key = tuple(t for _, _, t in toks[i:i + n])
                if key in self.words:
                    start, end = toks[i][0], toks[i + n - 1][1]
                    hits.append(Hit(start, end, self.words[key], text.original(start, end)))
                    i += n
                    break
            else:
                i += 1
        return hits

    def _find_cjk(self, text: Folded) -> list[Hit[V]]:
        hits: list[Hit[V]] = []
        if not self.cjk:
            return hits
        s = text.folded
        for run in _CJK_RUN.finditer(s):
            i = run.start()
            while i < run.end():
                for n in range(min(self.longest_cjk, run.end() - i), 0, -1):
                    value = self.cjk.get(s[i:i + n])
                    if value is not None:
                        hits.append(Hit(i, i + n, value, text.original(i, i + n)))
                        i += n - 1
                        break
                i += 1
        return hits


# --- splitting ----------------------------------------------------------------------

_BLANK = re.compile(r"\n[ \t\u3000]*\n")
# Sentence ends, blank lines, and the start of a list item or a "Label:" line.
_SENTENCE_END = re.compile(
    r"[.!?;]+(?=\s|$|[\u3000-\u9fff\uac00-\ud7a3])|[。；]+|\n[ \t]*\n"
    r"|\n(?=[ \t]*(?:[-•*–·・]|\d{1,2}[.)-]\s|[^\W\d_][^\n:]{0,25}:))")


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each blank-line separated block."""
    spans, start = [], 0
    for m in _BLANK.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of rough sentences: enough to keep a request and its object together."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


class Layout:
    """Lines and paragraphs of one text, found once, looked up by position (bisect)."""

    def __init__(self, text: str) -> None:
        self.size = len(text)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.paragraphs = paragraphs(text) or [(0, len(text))]
        self.paragraph_starts = [a for a, _ in self.paragraphs]

    def line(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.line_starts, pos) - 1
        end = self.line_starts[i + 1] - 1 if i + 1 < len(self.line_starts) else self.size
        return self.line_starts[i], end

    def paragraph(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.paragraph_starts, pos) - 1
        a, b = self.paragraphs[max(i, 0)]
        return (a, b) if a <= pos < b else (pos, pos + 1)


# --- word lists as regular expressions ----------------------------------------------

_AR_PREFIX = r"(?:[وفبلك]?ال|لل|[وفبل])?"


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff"


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def words_pattern(words: tuple[str, ...] | list[str], latin_suffix: str = "",
                  word_start: bool = True) -> str:
    """One alternation (longest first) matching any of `words` in folded text.

    Spaced scripts match whole words (Latin words may take `latin_suffix`, Cyrillic
    words up to three inflection letters, Arabic words a prefixed article or
    conjunction); CJK words match anywhere. Spaces in a word match any whitespace.
    """
    parts = []
    start = r"(?<!\w)" if word_start else ""      # units may follow a number: "5000pcs"
    for word in sorted({fold(w).strip() for w in words if w.strip()}, key=len, reverse=True):
        tokens = word.split()
        if any(is_cjk(c) for c in word):
            parts.append(r"\s*".join(re.escape(t) for t in tokens))
        elif _is_arabic(word[0]):
            parts.append(start + r"\s+".join(_AR_PREFIX + re.escape(t) for t in tokens)
                         + r"(?!\w)")
        elif _is_cyrillic(word[0]):
            parts.append(start + r"\s+".join(re.escape(t) for t in tokens)
                         + r"\w{0,3}(?!\w)")
        else:
            last = latin_suffix if word[-1].isalpha() and len(word) > 3 else ""
            parts.append(start + r"\s+".join(re.escape(t) for t in tokens) + last
                         + r"(?!\w)")
    return "|".join(parts)


def compile_words(words: tuple[str, ...] | list[str], latin_suffix: str = "") -> re.Pattern[str]:
    return re.compile(words_pattern(words, latin_suffix))
