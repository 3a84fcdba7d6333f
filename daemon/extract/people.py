"""Who wrote: the signature block, the company name and the contact's name (pure).

The parser finds signatures after "-- " or a clear sign-off; many buyers sign without
either ("Thanks and God bless.\\n\\nChinedu Okafor\\nChiokaf Global Ventures Ltd\\n..."),
so when `Mail.signature` is empty the last short block of the text is read as the
signature. The company is the first signature line with a legal form (Ltd, GmbH,
S.A. de C.V., ООО, 有限公司, شركة ...); the contact is the sender's display name when the
signature repeats it, else a name-like line right after a sign-off. Nothing is guessed
when it is not clear.
"""

from __future__ import annotations

import re

from daemon.extract.text import compile_words, fold, paragraphs
from daemon.types import Mail

_SENT_FROM = re.compile(
    r"^[ \t]*(?:sent from|enviado desde|enviado do|envoyé de|envoye de|von meinem|gesendet von"
    r"|отправлено с|get outlook|发自我的|從我的|寄自我的).*$", re.IGNORECASE | re.MULTILINE)
_MAX_LINES, _MAX_WIDTH, _SHORT = 10, 100, 40

_SUFFIX_ANY_CASE = re.compile(
    r"(?i:\b(?:co\.?,?\s*ltd\.?|company\s+limited|pvt\.?\s*ltd\.?|pte\.?\s*ltd\.?|pty\.?\s*ltd\.?"
    r"|sdn\.?\s*bhd\.?|ltd\.?\s*şti\.?|limited|ltd\.?|llc|l\.l\.c\.?|inc\.?|corp\.?|corporation"
    r"|gmbh(?:\s*&\s*co\.?\s*kg)?|ltda\.?|sarl|s\.a\.r\.l\.?|eireli|plc|fze|fzco|fz-llc|llp"
    r"|trading\s+co\.?))(?=$|[\s,;)|])")
_SUFFIX_EXACT_CASE = re.compile(
    r"(?:,\s*|\s)(?:S\.A\.\s*de\s*C\.V\.|S\.A\.S\.?|S\.A\.|SA|S\.L\.U?\.?|SL|S\.R\.L\.|SRL"
    r"|S\.r\.l\."
    r"|S\.p\.A\.|SpA|AG|KG|B\.V\.|BV|N\.V\.|NV|A\.Ş\.|AB|A/S|ApS|Oy|Tbk|s\.r\.o\.|sp\. z o\.o\."
    r"|d\.o\.o\.|OÜ|ذ\.م\.م|ش\.م\.م)(?=$|[\s,;)|])")
_PREFIX = re.compile(
    r"^\W*(?:PT|CV|ООО|ОАО|ЗАО|АО|ПАО|ТОО|ИП|شركة|مؤسسة|株式会社|有限会社|\(株\)|㈱|주식회사|\(주\))"
    r"\s*\S")
_CJK_SUFFIX = re.compile(
    r"[\u4e00-\u9fff\u3040-\u30ffA-Za-z0-9]{2,}?(?:股份有限公司|有限责任公司|有限責任公司|有限公司"
    r"|株式会社|有限会社|公司|商行|商事|贸易行|貿易行)")
_SIGN_OFF = compile_words((
    "regards", "best regards", "kind regards", "warm regards", "sincerely", "thanks", "thank you",
    "cheers", "best", "saludos", "saludos cordiales", "un saludo", "atentamente", "cordialmente",
    "cordialement", "bien à vous", "mit freundlichen grüßen", "viele grüße", "grüße",
    "с уважением", "مع خالص التحية", "مع التحية", "وتفضلوا بقبول فائق الاحترام", "谢谢",
    "謝謝", "此致", "敬礼", "よろしくお願いいたします", "saygılarımla", "atenciosamente",
    "obrigado", "obrigada", "abraços", "terima kasih", "merci"))


def signature_zone(mail: Mail) -> tuple[str, str]:
    """(signature, the text without it): the parser's signature, else the last short block."""
    if mail.signature.strip():
        return mail.signature, mail.text
    text = _SENT_FROM.sub("", mail.text).rstrip()
    blocks = paragraphs(text)
    if len(blocks) < 2 or not _signature_like(text[blocks[-1][0]:blocks[-1][1]]):
        return "", mail.text
    start = blocks[-1][0]
    # A sign-off or a name often stands alone above the address block: take it along.
    for a, b in reversed(blocks[1:-1]):
        lines = text[a:b].strip().splitlines()
        if len(lines) > 2 or any(len(line) > _SHORT for line in lines):
            break
        start = a
    return text[start:], text[:start]


def _signature_like(block: str) -> bool:
    lines = [line for line in block.splitlines() if line.strip()]
    return 0 < len(lines) <= _MAX_LINES and all(len(line) <= _MAX_WIDTH for line in lines)


def company(signature: str) -> str:
    """The first signature line with a legal form, cut after it ('' when none)."""
    for raw in signature.splitlines():
        line = raw.strip().strip("|").strip()
        if not line or "@" in line or "http" in line.lower():
            continue
        if _PREFIX.match(line):
            return re.split(r"\s*[,|]\s*|\s{2,}", line)[0]
        m = _CJK_SUFFIX.search(line)
        if m:
            return m.group()
        m = _SUFFIX_ANY_CASE.search(line) or _SUFFIX_EXACT_CASE.search(line)
        if m and m.start() > 1:
            return re.sub(r"^(?:company|firma|empresa|société)\s*:\s*", "",
                          line[:m.end()].strip(" ,"), flags=re.IGNORECASE)
    return ""


def contact_name(signature: str, display_name: str) -> str:
    """The sender's name when the signature confirms it, else a name after a sign-off."""
    lines = [line.strip() for line in signature.splitlines() if line.strip()]
    name = " ".join(display_name.replace('"', " ").split())
    if _name_like(name):
        key, first = fold(name), fold(name).split()[0]
        for line in lines:
            folded = fold(line)
            if key in folded or folded.rstrip(",.") == first:
                return name
    for previous, line in zip(lines, lines[1:]):
        if _SIGN_OFF.fullmatch(fold(previous).rstrip(",.!،")) and _name_like(line) and \
                not company(line):
            return line
    return ""


# Lines that sign for a function, not a person: "IT Help Desk", "Sales Team".
_ROLE = re.compile(r"\b(?:team|desk|department|dept|support|service|sales|office|admin"
                   r"|administrator|customer|marketing|system)\b", re.IGNORECASE)


def _name_like(text: str) -> bool:
    """'Jürgen Hoffmann', '陳怡君', 'Дмитрий Соколов': no digits, @, or domain-like dots."""
    if not text or len(text) > 60 or re.search(r"[\d@]|\.[a-z]{2,}", text) or _ROLE.search(text):
        return False
    words = text.split()
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        return 2 <= len(text.replace(" ", "")) <= 6
    # Latin and Cyrillic names are capitalised; Arabic has no case, so only lower case fails.
    return 1 <= len(words) <= 5 and not any(w[:1].islower() for w in words)
