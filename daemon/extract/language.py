"""Which language a message is written in, roughly: script first, then stopwords (pure).

No dependency: the script settles Chinese, Japanese, Korean, Arabic (Persian and Urdu by
their extra letters), Russian (Ukrainian by і/ї/є), Thai, Hebrew, Greek and Hindi; text
in Latin letters is scored against short lists of the commonest words of each language.
Only the sender's new text is read, not the signature (a Vietnamese name under an
English letter) and not the quoted history.
"""

from __future__ import annotations

import re

from daemon.extract.text import fold

STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split()) for lang, words in {
        "en": "the and for you your with we are is of to in please our this that have will "
              "can would from price thank thanks dear regards",
        "es": "el la los las de del que y en para por con un una su nos le les es somos "
              "precio gracias estimado saludos muy",
        "pt": "o os as da do das dos que e em para por com um uma seu nao voces voce gostaria "
              "obrigado obrigada preco tambem",
        "fr": "le la les des du de et en pour par avec un une vous nous votre est sont merci "
              "prix bonjour cordialement",
        "de": "der die das und ist mit fur wir sie ihr ihre ein eine nicht bitte vielen dank "
              "grusse sehr auf",
        "it": "il lo gli della delle che per con una sono siamo grazie prezzo cordiali saluti",
        "nl": "de het een en van voor met wij zijn niet graag bedankt prijs groeten",
        "tr": "ve bir bu icin ile olarak siparis fiyat tesekkurler merhaba lutfen saygilarimla "
              "bize",
        "id": "dan yang untuk dengan kami anda ini itu dari terima kasih harga mohon",
        "vi": "va cua cho toi chung ban cac mot duoc khong cam on gia",
    }.items()
}
_SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7a3]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
_VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)


def language(text: str) -> str:
    """ISO 639-1 guess ('' when there are no words to go on)."""
    letters = sum(1 for c in text if c.isalpha())
    if not letters:
        return ""
    counts = {lang: len(p.findall(text)) for lang, p in _SCRIPTS}
    # Kana mark Japanese even in Kanji-heavy text; 10% of CJK is plenty.
    if counts["ja"] >= 3 and counts["ja"] * 10 >= counts["ja"] + counts["zh"]:
        return "ja"
    lang, n = max(((k, v) for k, v in counts.items() if k != "ja"), key=lambda kv: kv[1])
    if n * 5 >= letters:        # SKUs and "CIF", "PI" in Latin letters do not outvote
        return _refine(lang, text)
    return _latin(text)


def _refine(lang: str, text: str) -> str:
    if lang == "ar" and re.search(r"[پچژگ]", text):
        return "ur" if re.search(r"[ٹڈڑںے]", text) else "fa"
    if lang == "ru" and re.search(r"[іїєґ]", text, re.I):
        return "uk"
    return lang


def _latin(text: str) -> str:
    if len(_VIETNAMESE.findall(text)) >= 5:
        return "vi"
    words = re.findall(r"[a-z]+", fold(text))
    scores = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] else ""
