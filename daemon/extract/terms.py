"""Trade terms: Incoterms with their place, payment terms, and what the buyer asks for
(sample, PI, catalogue, price list, certificates, contract, quotation) (pure).
"""

from __future__ import annotations

import re
import unicodedata

from daemon.extract.text import Folded, compile_words, is_cjk, sentences
from daemon.types import Incoterm

# --- Incoterms ------------------------------------------------------------------------

# Written in capitals by everyone: lower-case "fob" is a key fob, not Free On Board.
_INCOTERM = re.compile(
    r"(?<![A-Za-z])(EXW|FCA|FAS|FOB|CFR|CNF|C&F|C\+F|CIF|CPT|CIP|DAP|DPU|DDP|DAT|DDU)"
    r"(?![A-Za-z])")
_SAME_TERM = {"CNF": "CFR", "C&F": "CFR", "C+F": "CFR"}
# Between the term and the place: "CIF port of Jebel Ali", "CIF ميناء جبل علي", "FOB: Ningbo".
_PORT_WORDS = re.compile(
    r"^[\s:]*(?:(?:the\s+)?(?:port|porto|puerto|hafen|порт)(?:\s+(?:of|de|do|da|von))?\s+|ميناء\s+"
    r"|مطار\s+)?", re.IGNORECASE)
_CONNECTORS = {"de", "del", "da", "do", "dos", "das", "of", "al", "el", "la", "le", "am", "an",
               "upon", "on", "sur", "bin", "es"}
_NOT_PLACES = {"Incoterms", "Incoterm", "Terms", "Term", "Price", "Prices", "Port", "Basis",
               "And", "Or", "Or", "Incl", "Including", "Only", "Not", "Is"}
_ARABIC_WORD = re.compile(r"[\u0600-\u06ff]+")


# Chinese buyers name the terms in words: 出厂价 is the ex-works price.
_CHINESE_TERMS = re.compile(r"(出厂价|出廠價|工厂交货|离岸价|離岸價|到岸价|到岸價)")
_CHINESE_TERM = {"出厂价": "EXW", "出廠價": "EXW", "工厂交货": "EXW", "离岸价": "FOB",
                 "離岸價": "FOB", "到岸价": "CIF", "到岸價": "CIF"}


def incoterms(text: str) -> tuple[Incoterm, ...]:
    """Every Incoterm written in capitals, with the port or city after it when given."""
    s = unicodedata.normalize("NFKC", text)
    found = []
    for m in _INCOTERM.finditer(s):
        term = _SAME_TERM.get(m.group(1), m.group(1))
        found.append((m.start(), Incoterm(term, _place(s[m.end():m.end() + 60]))))
    for m in _CHINESE_TERMS.finditer(s):
        found.append((m.start(), Incoterm(_CHINESE_TERM[m.group(1)])))
    return tuple(dict.fromkeys(i for _, i in sorted(found, key=lambda f: f[0])))


def _place(after: str) -> str:
    rest = after[_PORT_WORDS.match(after).end():]  # type: ignore[union-attr]  # always matches
    rest = rest.split("\n", 1)[0]
    if rest[:1] and is_cjk(rest[0]):
        run = re.match(r"[\u4e00-\u9fff]{1,8}", rest)
        return re.sub(r"(?:价|價|价格|價格|交货|交貨)$", "", run.group()) if run else ""
    if _ARABIC_WORD.match(rest):
        words = re.match(r"[\u0600-\u06ff]+(?:\s+[\u0600-\u06ff]+){0,2}", rest)
        return words.group() if words else ""
    return _capitalised_words(rest)


def _capitalised_words(rest: str) -> str:
    """'Ningbo, our forwarder' -> 'Ningbo'; 'Rio de Janeiro port' -> 'Rio de Janeiro'."""
    words = re.findall(r"[^\s,;:()/]+|[,;:()/]", rest)
    taken: list[str] = []
    for i, word in enumerate(words[:8]):
        word = re.split(r"['’]", word)[0].rstrip(".")      # "Ningbo'da", "Melbourne."
        if word[:1].isupper() and word not in _NOT_PLACES and any(c.isalpha() for c in word):
            taken.append(word)
        elif (taken and word.lower() in _CONNECTORS and i + 1 < len(words)
              and words[i + 1][:1].isupper()):
            taken.append(word)
        else:
            break
        if words[i] != word and words[i].rstrip(".") != word:
            break           # the word ended with an apostrophe suffix: the place ends here
    return " ".join(taken[:4])


# --- payment terms ----------------------------------------------------------------------

_PAYMENT: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("L/C at sight", re.compile(
        r"(?:l\s?/\s?c|letter of credit|lettre de credit|carta de credito|akkreditiv|аккредитив"
        r"|اعتماد مستندي|信用证|信用狀|信用状|akreditif)[^.\n]{0,30}?(?:at sight|a la vista"
        r"|a vista|a vue|bei sicht|по предъявлении|عند الاطلاع|即期|見票)|即期信用证|sight l\s?/\s?c")),
    ("L/C", re.compile(
        r"(?<!\w)l\s?/\s?c(?!\w)|letter of credit|lettre de credit|credit documentaire"
        r"|carta de credito|akkreditiv|аккредитив|اعتماد مستندي|信用证|信用狀|信用状|akreditif")),
    ("T/T", re.compile(
        r"(?<!\w)t\s?/\s?t(?!\w)|telegraphic transfer|wire transfer|bank transfer|bank wire"
        r"|transferencia bancaria|virement|transferencia|ueberweisung|uberweisung"
        r"|банковский перевод|تحويل بنكي|حواله بنكيه|电汇|電匯|送金|havale")),
    ("D/P", re.compile(r"(?<!\w)d\s?/\s?p(?!\w)|documents against payment")),
    ("D/A", re.compile(r"(?<!\w)d\s?/\s?a(?!\w)|documents against acceptance")),
    ("PayPal", re.compile(r"paypal")),
    ("Western Union", re.compile(r"western union|вестерн юнион|ويسترن يونيون|西联")),
    ("MoneyGram", re.compile(r"moneygram")),
    ("Trade Assurance", re.compile(r"trade assurance")),
    ("balance against B/L copy", re.compile(
        r"(?:against|contra|contre|gegen|против|مقابل)\s+(?:the\s+)?(?:copy|copia|copie|kopie"
        r"|копии|نسخه)\s+(?:of\s+|del\s+|du\s+|de\s+)?(?:the\s+)?(?:b\s?/\s?l|bl|connaissement"
        r"|коносамента|بوليصه)|(?:against|contra|contre)\s+(?:the\s+)?b\s?/\s?l\s+copy"
        r"|凭提单副本|憑提單副本")),
    ("balance before shipment", re.compile(
        r"before shipment|before loading|antes del embarque|avant (?:l')?expedition"
        r"|vor (?:dem )?versand|перед отгрузк\w*|قبل الشحن|发货前|出货前|出貨前|yukleme oncesi")),
)
_DEPOSIT_WORDS = (r"deposit|advance|down ?payment|prepayment|anticipo|adelanto|acompte"
                  r"|a la commande|adiantamento|entrada|sinal|anzahlung|vorauszahlung"
                  r"|предоплат\w*|аванс\w*|مقدم|دفعه مقدمه|定金|订金|訂金|预付|預付|pesin\w*"
                  r"|pesinat\w*|kapora|uang muka|dp")
# "30% deposit", "deposit 30%", "%30 peşin" (Turkish puts % first), "30/70" near payment.
_DEPOSIT = re.compile(
    rf"(?<![\d%])(\d{{1,2}})\s?%\s*(?:(?:of|de|d'|do|da|as)\s+)?(?:{_DEPOSIT_WORDS})"
    rf"|%\s?(\d{{1,2}})\s*(?:{_DEPOSIT_WORDS})"
    rf"|(?:{_DEPOSIT_WORDS})\s*[:：]?\s*(\d{{1,2}})\s?%"
    r"|(?<![\d/])(\d{1,2})\s?/\s?(\d{1,2})(?![\d/])")


def payment_terms(text: Folded) -> tuple[str, ...]:
    s = text.folded
    found = [label for label, pattern in _PAYMENT if pattern.search(s)]
    if "L/C at sight" in found:
        found.remove("L/C")
    for m in _DEPOSIT.finditer(s):
        percent = m.group(1) or m.group(2) or m.group(3)
        if percent is None:
            first, second = int(m.group(4)), int(m.group(5))
            if first + second != 100 or first % 5 or not _near_payment(s, m.start()):
                continue        # "30/70" is a split only when it adds up, near payment words
            percent = str(first)
        found.append(f"{int(percent)}% deposit")
    return tuple(dict.fromkeys(found))


def _near_payment(s: str, pos: int) -> bool:
    window = s[max(0, pos - 60):pos + 10]
    return bool(re.search(r"t\s?/\s?t|payment|pago|paiement|pagamento|zahlung|оплат|دفع|付款"
                          r"|odeme|deposit", window))


# --- requests -------------------------------------------------------------------------

REQUEST_WORDS: dict[str, tuple[str, ...]] = {
    "sample": ("sample", "samples", "muestra", "muestras", "amostra", "amostras", "échantillon",
               "échantillons", "muster", "образец", "образцы", "образцов", "عينة", "عينات",
               "样品", "樣品", "样板", "打样", "サンプル", "numune", "contoh"),
    "pi": ("pi", "p/i", "proforma", "pro forma", "pro-forma", "proforma invoice",
           "factura proforma", "facture proforma", "fatura proforma", "proformarechnung",
           "проформа", "проформу", "инвойс", "فاتورة مبدئية", "فاتورة أولية", "形式发票",
           "形式發票", "形式インボイス", "プロフォーマ"),
    "catalogue": ("catalog", "catalogue", "catálogo", "katalog", "каталог", "كتالوج", "كاتالوج",
                  "目录", "目錄", "图册", "カタログ"),
    "price_list": ("price list", "pricelist", "price sheet", "lista de precios",
                   "tabla de precios", "tabela de preços", "lista de preços", "liste de prix",
                   "grille tarifaire", "tarifs", "preisliste", "прайс", "прайс-лист",
                   "قائمة الأسعار", "قائمة اسعار", "价格表", "價格表", "价目表", "価格表",
                   "fiyat listesi"),
    "certificates": ("certificate", "certificates", "certification", "test report",
                     "test reports", "sgs", "intertek", "audit", "audits", "certificado",
                     "certificados", "certificat", "certificats", "zertifikat",
                     "prüfbericht", "сертификат", "протокол испытаний", "شهادة", "شهادات",
                     "证书", "證書", "检测报告", "檢驗報告", "检验报告", "証明書", "検査",
                     "sertifika"),
    "contract": ("contract", "sales contract", "contrato", "contrat", "vertrag", "kaufvertrag",
                 "контракт", "договор", "عقد", "合同", "合約", "契約", "sözleşme", "kontrak"),
    "quotation": ("quotation", "quote", "best price", "your price", "your prices", "prices",
                  "price", "offer", "cotización", "cotizacion", "cotizar", "precio", "precios",
                  "orçamento", "cotação", "preço", "preços", "devis", "offre", "prix",
                  "angebot", "preis", "preise", "коммерческое предложение", "цена", "цену",
                  "цены", "عرض سعر", "عرض أسعار", "أسعار", "سعر", "报价", "報價", "报个价",
                  "价格", "價格", "見積", "見積もり", "価格", "fiyat teklifi", "teklif", "fiyat"),
}
# A request word counts in a sentence that asks: after "please", "send", "could you" ...
# ("We went through the samples and would like to order" does not ask for samples), or
# anywhere in a question or next to a verb-final language's asking word (Japanese,
# Turkish, Chinese particles).
_ASKING = compile_words((
    "please", "pls", "plz", "kindly", "send", "provide", "supply", "share", "could you",
    "can you", "would you", "we need", "i need", "need", "would like", "request", "require",
    "let me know", "quote", "issue", "por favor", "envie", "envíe", "enviar", "envíen",
    "mandar", "mande", "podría", "podrían", "puede", "pueden", "necesito", "necesitamos",
    "solicito", "solicitamos", "agradecería", "agradeceríamos", "nos gustaría", "quisiera",
    "poderia", "poderiam", "podem", "preciso", "precisamos", "gostaria", "merci de",
    "pourriez", "pouvez", "envoyer", "envoyez", "transmettre", "besoin", "souhaite",
    "souhaiterais", "aimerais", "veuillez", "demande", "bitte", "senden", "schicken",
    "zusenden", "benötigen", "brauchen", "können sie", "würden sie", "möchten", "пришлите",
    "вышлите", "отправьте", "направьте", "просим", "прошу", "пожалуйста", "нужен", "нужна",
    "нужно", "нужны", "выставить", "предоставьте", "نرجو", "يرجى", "ارسال", "إرسال",
    "الرجاء", "نحتاج", "نريد", "تزويدنا", "mohon", "tolong", "kirim", "lütfen"))
_ASKING_ANYWHERE = compile_words((
    "请", "請", "麻烦", "麻煩", "提供", "发", "發", "寄", "需要", "报", "ください", "下さい",
    "お願い", "送って", "いただけ", "頂け", "教えて", "gönder", "gönderin", "gönderir",
    "gönderebilir", "rica", "ihtiyacımız", "istiyoruz"))
_REQUEST_PATTERNS = {kind: compile_words(words, latin_suffix="(?:e?s)?")
                     for kind, words in REQUEST_WORDS.items()}


_LIST_ITEM = re.compile(r"\s*(?:[-•*–·・]|\d{1,2}[.)-]\s)")


def requests(*texts: Folded) -> frozenset[str]:
    """What the buyer asks for, in sentences that ask ("please send", "?", "пришлите").

    List items ("- catalogue") ask when the sentence leading into the list asked.
    """
    found: set[str] = set()
    for text in texts:
        s, lead_asks = text.folded, False
        for start, end in sentences(s):
            sentence = s[start:end]
            if lead_asks and _LIST_ITEM.match(sentence):
                found.update(_asked_for(sentence, 0))
                continue
            ask_from = _asks_from(sentence)
            lead_asks = ask_from is not None
            if ask_from is not None:
                found.update(_asked_for(sentence, ask_from))
    return frozenset(found)


def _asks_from(sentence: str) -> int | None:
    """Where request words start to count in this sentence; None when it does not ask."""
    if "?" in sentence or _ASKING_ANYWHERE.search(sentence):
        return 0
    m = _ASKING.search(sentence)
    return m.start() if m else None


def _asked_for(sentence: str, ask_from: int) -> set[str]:
    kinds = set()
    for kind, pattern in _REQUEST_PATTERNS.items():
        if any(m.start() >= ask_from for m in pattern.finditer(sentence)):
            kinds.add(kind)
        # A phrase counts once: "price list" is a price list, not also a "price".
        sentence = pattern.sub(lambda m: " " * len(m.group()), sentence)
    return kinds
