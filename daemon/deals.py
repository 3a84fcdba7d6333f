"""Deal stages (pure): where an inquiry goes next, and why, in words a salesperson reads.

An inquiry travels one road: new -> quoted -> negotiating -> sample -> confirmed ->
contract, and ends won or lost by a person's hand; a buyer who stops answering makes it
dormant (the follow-up job), and writing again wakes it. The mail decides the automatic
moves, as data in `BUYER_RULES` (a buyer's mail) and `SENT_RULES` (a mail of ours):
- our quotation sent -> quoted; our sales contract sent -> contract;
- the buyer answers our quotation -> negotiating; asks for samples -> sample;
- the buyer confirms our confirmation letter -> confirmed (`confirmation_phrase`), in
  answer to the letter or to a mail of ours after it went out.
An automatic move only goes forward along the road: a reply in a `sample` thread stays
`sample`, and nothing automatic ever sets won or lost. A person may set any stage.

A first inquiry stays `new` until we answer it, even when it asks for samples: the
e-sample goes with the first reply (domain.md, "Electronic samples").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# The values of models.Stage, in order; kept here as text so this module stays pure.
STAGES = ("new", "quoted", "negotiating", "sample", "confirmed", "contract", "won", "lost",
          "dormant")
ROAD = STAGES[:6]                      # the automatic moves go forward along these
CLOSED = frozenset({"won", "lost", "dormant"})


@dataclass(frozen=True, slots=True)
class Move:
    """Where the inquiry goes, why (for the salesperson), and the rule that said so."""

    to: str
    reason: str
    rule: str


@dataclass(frozen=True, slots=True)
class BuyerMail:
    """What a buyer's mail in an inquiry's thread tells about the deal."""

    stage: str                          # the inquiry's stage before this mail
    answers: str                        # kind of our draft it answers: reply, followup ...
    requests: frozenset[str] = frozenset()   # Extracted.requests: sample, pi ...
    text: str = ""                      # what the buyer wrote now, never the quoted part
    letter_sent: bool = False           # our confirmation letter for the inquiry went out


@dataclass(frozen=True, slots=True)
class Rule:
    """One automatic move: from `stages`, when the mail fits, to `to`."""

    name: str
    to: str
    reason: str
    stages: frozenset[str]
    request: str = ""                   # the buyer asks for this (Extracted.requests)
    confirms: bool = False              # the new text confirms (confirmation_phrase)
    after_letter: bool = False          # answers our letter, or a mail after it was sent


def _from(*stages: str) -> frozenset[str]:
    return frozenset(stages)


BUYER_RULES: tuple[Rule, ...] = (
    Rule("buyer-answered-quotation", "negotiating", "the buyer answered our quotation",
         _from("quoted")),
    Rule("sample-requested", "sample", "the buyer asked for samples",
         _from("quoted", "negotiating"), request="sample"),
    Rule("letter-confirmed", "confirmed", "the buyer confirmed our confirmation letter",
         _from("quoted", "negotiating", "sample"), confirms=True, after_letter=True),
)

# (draft kind, rule): what our mail, once sent, says about the deal.
SENT_RULES: tuple[tuple[str, Rule], ...] = (
    ("reply", Rule("quotation-sent", "quoted", "our quotation was sent", _from("new"))),
    ("contract", Rule("contract-sent", "contract", "our sales contract was sent",
                      _from("new", "quoted", "negotiating", "sample", "confirmed"))),
)


def forward(frm: str, to: str) -> bool:
    """An automatic move may only go forward along the road (never to won or lost)."""
    return frm in ROAD and to in ROAD and ROAD.index(to) > ROAD.index(frm)


def after_buyer_mail(mail: BuyerMail, rules: Iterable[Rule] = BUYER_RULES) -> Move | None:
    """The move a buyer's mail makes: the furthest forward of the rules that fire, with
    every fired rule's reason (one move recorded, not a chain of them)."""
    fired: list[tuple[Rule, str]] = []
    phrase = None
    for rule in rules:
        if mail.stage not in rule.stages or not forward(mail.stage, rule.to):
            continue
        if rule.request and rule.request not in mail.requests:
            continue
        if rule.after_letter and not (mail.answers == "confirmation" or mail.letter_sent):
            continue
        reason = rule.reason
        if rule.confirms:
            phrase = confirmation_phrase(mail.text) if phrase is None else phrase
            if not phrase:
                continue
            reason += f" (\u201c{phrase}\u201d)"
        fired.append((rule, reason))
    if not fired:
        return None
    best = max(fired, key=lambda f: ROAD.index(f[0].to))[0]
    return Move(best.to, "; ".join(r for _, r in fired), best.name)


def after_our_mail(draft_kind: str, stage: str,
                   rules: Iterable[tuple[str, Rule]] = SENT_RULES) -> Move | None:
    """The move one of our mails makes once it is sent (None: the stage stays)."""
    for kind, rule in rules:
        if kind == draft_kind and stage in rule.stages and forward(stage, rule.to):
            return Move(rule.to, rule.reason, rule.name)
    return None


def gone_quiet(stage: str, unanswered: int) -> Move | None:
    """The follow-up job's move: an open inquiry of a buyer who stopped answering."""
    if stage not in ROAD:
        return None
    return Move("dormant", f"{unanswered} follow-ups went unanswered: the buyer went quiet",
                "buyer-dormant")


def woken(before_dormant: str | None) -> Move:
    """A dormant inquiry whose buyer writes again goes back to where it was; a quoted
    one to negotiating, since the buyer is now talking about our quotation."""
    back = before_dormant if before_dormant in ROAD else "negotiating"
    if back == "quoted":
        back = "negotiating"
    was = f" (it was {before_dormant})" if before_dormant else ""
    return Move(back, f"the buyer wrote again after going quiet{was}", "buyer-wrote-again")


def continues(stage: str) -> bool:
    """A buyer's mail in this inquiry's thread continues it; won and lost deals are
    closed, so a mail in their thread starts a new inquiry instead."""
    return stage not in ("won", "lost")


def by_hand(stage: str, to: str, why: str, by: str) -> Move | None:
    """A person's move: any stage to any other; ValueError names an unknown stage."""
    if to not in STAGES:
        raise ValueError(f"no stage {to!r}; one of {', '.join(STAGES)}")
    if to == stage:
        return None
    return Move(to, why.strip() or f"set by hand by {by or 'someone'}", "by-hand")


# ------------------------------------------------------------------ the buyer confirms

# Said anywhere in the new text, any of these means "not (yet) a confirmation": a
# refusal, a delay, a condition, or the buyer asking us to confirm something.
_NOT_YET = [
    # en
    r"\b(can ?not|can't|cant|could not|couldn't|unable to|not able to|won't|will not|do not"
    r"|don't|did not|didn't|not)\b[\w ,']{0,25}\b(confirm|agree|accept|proceed|go ahead)",
    r"\bnot (yet|now)\b",
    r"\b(before|once|after|until|when) (we|i) (can )?(confirm|agree|accept|proceed|place)",
    r"\b(will|shall|'ll|need to|have to|must|would like to)\b[\w ]{0,15}\b(confirm|check"
    r"|revert|come back|discuss|consider|think)", r"\b(please|pls|plz|kindly) (re)?confirm",
    r"\b(can|could|would) you\b[\w ]{0,15}\bconfirm", r"\bto be confirmed\b", r"\btbc\b",
    r"\bconfirm(ing)? (the )?receipt\b", r"\b(be|been|get|gets|getting) approved\b",
    r"\b(haven't|have not|not) (yet )?(decided|made a decision)\b", r"\bdecision yet\b",
    r"\b(disagree|on hold|hold on|think about"
    r"|thinking about|still comparing|not agreed)\b",
    # es, pt
    r"\bno (podemos|puedo|pudimos|estamos)\b",
    r"\b(todav[ií]a|a[uú]n|ainda) no\b", r"\b(ainda )?n[aã]o (podemos|concord|confirm|aceit)",
    r"\bno (confirm|acept|lo confirm)", r"\b(antes de|para) confirmar\b",
    r"\b(confirmaremos|vamos a confirmar|vamos confirmar|iremos confirmar)\b",
    r"\b(por favor|favor),? confirm", r"\b(podr[ií]an|pueden|podem|poderiam) confirmar\b",
    r"\ben desacuerdo\b",
    # fr
    r"\bne (pouvons|peux|pourrons|sommes) pas\b", r"\bpas (encore|d'accord)\b",
    r"\bne confirm", r"\bavant de confirmer\b", r"\bconfirmerons\b",
    r"\b(merci de|veuillez|pouvez-vous|pourriez-vous) (nous )?confirmer\b",
    # de
    r"\bnicht (best[äa]tig|einverstanden|akzeptier|zustimm)", r"\bnoch nicht\b",
    r"\bbevor wir\b", r"\bwerden\b[\w ]{0,20}\bbest[äa]tigen\b",
    r"\bbitte best[äa]tigen\b", r"\bk[öo]nnen sie\b[\w ]{0,20}\bbest[äa]tigen\b",
    # ru
    r"не (можем|могу|сможем|готовы|подтвержда|согласн)", r"(пока|ещё|еще) не",
    r"подтвердим", r"подтвердите", r"прежде чем",
    # ar
    r"لا (يمكن|نستطيع)\S*\s+(ال)?(تأكيد|موافقة|قبول)", "لم نؤكد", "ليس بعد", "لا نوافق", "غير موافق", "يرجى تأكيد",
    "يرجى التأكيد", "هل يمكنكم تأكيد", "قبل التأكيد", "سنؤكد",
    # zh
    r"(不能|无法|还不能|暂时不能?|还没有?|尚未)(确认|同意|接受|下单)", "暂时不", "不同意",
    "不确认", "请确认", "待确认", "确认一下", "再确认", "考虑", "先不",
]

_YES = [
    # en
    r"\b(we|i) (hereby )?(confirm|agree|accept)\b", r"\bconfirmed\b", r"\bagreed\b",
    r"\bgo ahead\b", r"\b(please )?proceed\b", r"\bapproved\b",
    r"\bplease (send|issue|prepare)( us)? (the |your )?(pi|proforma|proforma invoice"
    r"|contract)\b", r"^(ok|okay|fine|deal)\b[\s,.!]*(thanks?|thank you)?[\s.!]*$",
    r"\b(looks|sounds) good\b", r"\b(that|it) is fine\b", r"\bthat's fine\b",
    # es
    r"\b(confirmamos|confirmo|confirmado|aceptamos|acepto)\b", r"\bde acuerdo\b",
    r"\badelante\b", r"\b(pueden|puede) proceder\b", r"\bprocedan\b",
    r"\b(env[ií]en|env[ií]e|m[aá]ndenos|m[aá]nden)(nos)? (la )?(pi|proforma|factura proforma)",
    r"\btodo correcto\b",
    # pt
    r"\b(confirmamos|confirmo|confirmado|aceitamos|concordamos)\b", r"\bde acordo\b",
    r"\bpode(m)? (seguir|prosseguir|enviar a (pi|proforma|fatura))", r"\btudo certo\b",
    # fr
    r"\b(nous confirmons|je confirme|confirm[ée]e?s?|nous acceptons|j'accepte)\b",
    r"\bd'accord\b", r"\bbon pour accord\b", r"\ballez-y\b", r"\bvous pouvez (proc[ée]der|lancer)",
    r"\b(merci d'envoyer|envoyez-nous|veuillez envoyer) (la )?(pi|facture pro ?forma|proforma)",
    r"\bc'est bon\b",
    # de
    r"\b(wir|ich) best[äa]tigen\b|\bich best[äa]tige\b", r"\bbest[äa]tigt\b",
    r"\beinverstanden\b", r"\bin ordnung\b", r"\b(wir|ich) akzeptieren\b",
    r"\bbitte senden sie (uns )?(die )?proforma", r"\blegen sie los\b",
    # ru
    r"подтвержда(ем|ю)", r"подтверждено", r"подтверждаем заказ", r"согласн(ы|а|ен)",
    r"принимаем", r"договорились", r"(присылайте|пришлите|вышлите|высылайте)\b[\w ]{0,15}"
    r"(инвойс|проформ|счет|счёт|pi)", r"можете (начинать|запускать)",
    # ar
    "نؤكد", "أؤكد", "تم التأكيد", "موافق", "نوافق", "أوافق", "لا مانع",
    "يرجى إرسال الفاتورة المبدئية", "تفضلوا بالمتابعة",
    # zh
    "确认", "同意", "没问题", "就这样定", "按此执行", r"请(发|寄|开)(送)?\s*(pi|形式发票|合同)",
]

# A sentence with a condition in it confirms nothing yet ("if you can do 0.40, we confirm").
_IF = re.compile(r"\b(if|provided|as long as|unless|si|wenn|falls|sofern|если|при условии)\b"
                 r"|^se\b|إذا|اذا|لو |如果|假如|若是|只要", re.IGNORECASE)

_NOT_YET_RE = [re.compile(p, re.IGNORECASE) for p in _NOT_YET]
_YES_RE = [re.compile(p, re.IGNORECASE) for p in _YES]
# A sentence ends at . ! ? (and their Chinese and Arabic forms) or a line break; the
# point of a decimal (USD 0.80) ends nothing.
_SENTENCE_END = re.compile(r"(?<=[!?。！？؟])|(?<=\.)(?!\d)|\n")
_QUESTION = re.compile(r"([?？؟]\s*$)|(^\s*¿)|([吗呢]\s*[。！]?\s*$)")
# Where the history below a reply starts, when the text still holds it.
_QUOTE_START = re.compile(
    r"^(>|-{2,} ?(original message|mensaje original|message d'origine|urspr[üu]ngliche"
    r" nachricht|исходное сообщение)|(from|de|von|от|发件人)\s*[:：]|on .{5,80} wrote:"
    r"|el .{5,80} escribi[oó]:|le .{5,80} a [ée]crit|em .{5,80} escreveu:"
    r"|am .{5,80} schrieb|.{5,80} пишет:|.{0,80}كتب:)", re.IGNORECASE)


def new_text(text: str) -> str:
    """The lines the sender wrote now: everything from the first quoted line on is cut."""
    kept = []
    for line in text.splitlines():
        if _QUOTE_START.match(line.strip()):
            break
        kept.append(line)
    return "\n".join(kept)


def confirmation_phrase(text: str) -> str:
    """The words by which the buyer confirms, or '' when the new text does not confirm:
    a refusal, a delay or a request anywhere wins; a question or a condition never
    confirms."""
    body = new_text(text).replace("\u2019", "'").replace("\u00a0", " ")
    body = re.sub(r"[ \t]+", " ", body)
    if any(p.search(body) for p in _NOT_YET_RE):
        return ""
    for sentence in map(str.strip, _SENTENCE_END.split(body)):
        if not sentence or _QUESTION.search(sentence) or _IF.search(sentence):
            continue
        for pattern in _YES_RE:
            found = pattern.search(sentence)
            if found:
                return found.group(0).strip()
    return ""
