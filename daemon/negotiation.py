"""Answering a buyer inside a quoted thread (pure): what the reply asks, what the rules answer.

A buyer's mail that answers one of our drafts for a deal (daemon.deals_record finds the
inquiry through In-Reply-To/References) is graded again like any mail, and its deal
continued; then it is answered with `reply/<lang>/negotiation`:
- a counter-offer on price (a figure, or "too high", "best price", "discount") gets our
  regional price, held or conceded by the catalogue's floor price: at or above the floor
  the draft meets the buyer halfway (never below the floor: buyers haggle for several
  rounds, and a first concession that gives everything leaves nothing for the next),
  below it the draft holds our price and offers
  the quantity tiers. The floor itself reaches the reviewer's .txt only, never a
  template (`Plan.template_names` carries no floor, and `reviewer_lines` does);
- questions on MOQ, lead time and certificates are answered from catalog.csv;
- a sample request gets the e-samples of the products (those of the reply, else those
  of the inquiry) and the samples policy; a reply asking for samples only gets the
  `sample` template.
The buyer's mail is quoted below the answer ("On DATE, NAME wrote:" in each language's
_base.txt.j2), so the thread reads on in any mail client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_CEILING, Decimal
from typing import Any

from daemon.catalog import Catalog, Product
from daemon.extract.text import compile_words, fold
from daemon.quotation import DEFAULT_PORT, DEFAULT_TERM, count, money, tier_prices
from daemon.types import Address, Extracted, Mail, Money, Reason

TOPICS = ("price", "moq", "lead_time", "certification", "sample")
MAX_QUOTED_LINES = 120           # a long thread: the newest lines are what the buyer needs

_PRICE = compile_words((
    "too high", "too expensive", "expensive", "best price", "better price", "lower price",
    "lowest price", "last price", "final price", "discount", "cheaper", "reduce the price",
    "price reduction", "target price", "competitive price", "better offer", "come down",
    "muy caro", "demasiado caro", "demasiado alto", "descuento", "mejor precio",
    "precio objetivo", "rebaja", "más barato", "bajar el precio", "muito caro", "desconto",
    "melhor preço", "trop cher", "trop élevé", "remise", "réduction", "meilleur prix",
    "prix cible", "moins cher", "rabais", "zu teuer", "rabatt", "besten preis", "zielpreis",
    "günstiger", "дорого", "скидк", "лучшую цену", "лучшая цена", "целевая цена",
    "снизить цену", "дешевле", "خصم", "تخفيض", "غالي", "مرتفع", "أفضل سعر", "افضل سعر",
    "السعر المستهدف", "太贵", "贵了", "折扣", "优惠", "便宜", "最低价", "最好的价格", "目标价",
    "降价", "打折", "太高", "indirim", "pahalı"), latin_suffix="(?:e?s)?")
_MOQ = compile_words((
    "moq", "minimum order", "minimum quantity", "min order", "min. order", "smallest order",
    "trial order", "cantidad mínima", "pedido mínimo", "quantité minimum",
    "quantité minimale", "commande minimum", "commande minimale", "mindestbestellmenge",
    "mindestmenge", "минимальный заказ", "минимальная партия", "минимальное количество",
    "الحد الأدنى", "أقل كمية", "起订量", "起订", "最小起订量", "最少订", "minimum sipariş"))
_LEAD = compile_words((
    "lead time", "leadtime", "delivery time", "production time", "how long", "how soon",
    "when can you ship", "when can you deliver", "ready to ship", "shipping date",
    "tiempo de entrega", "plazo de entrega", "tiempo de producción", "prazo de entrega",
    "délai", "délais", "délai de livraison", "lieferzeit", "срок", "как быстро",
    "مدة التسليم", "وقت التسليم", "موعد التسليم", "مدة الإنتاج", "交货期", "交期", "货期",
    "生产周期", "多久", "多长时间", "納期", "teslim süresi"))
_CERT_WORDS = compile_words((
    "certificate", "certification", "certified", "test report", "compliance", "comply",
    "certificado", "certificación", "certificat", "certification", "zertifikat",
    "сертификат", "شهادة", "شهادات", "证书", "认证", "检测报告", "sertifika"),
    latin_suffix="(?:e?s)?")
# Certificates buyers name; short acronyms match in capitals only ("ce" is French).
KNOWN_CERTS = ("CE", "UKCA", "RoHS", "REACH", "CPSIA", "CPSC", "FDA", "LFGB", "EN 71",
               "ASTM", "Prop 65", "SGS", "ISO 9001", "BSCI", "Sedex", "FCC", "UL", "EN 1811",
               "nickel free", "lead free")
# A figure after these words is the buyer's own offer, with or without a currency
# ("can you do 0.80?", "we can pay USD 0.79"), even when it equals one of our tiers.
_OFFER_LEAD = re.compile(
    r"(?<!\w)(?:(?:can|could|would) you (?:do|make it|offer|accept|give us|quote)"
    r"(?: it)?(?: at| for)?|how about|what about|we can (?:pay|accept|do)|we pay|"
    r"best we can (?:pay|do)(?: is)?|target(?: price)?(?: is| of)?|our price(?: is)?)"
    r"\s*:?\s*(?:usd|us\$|\$)?\s*(\d{1,4}[.,]\d{1,2})(?!\d)(?![.,]\d)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Thread:
    """What the database knows of the thread: the inquiry and our draft the buyer answers."""

    inquiry_id: int
    stage: str
    skus: tuple[str, ...]
    draft_id: str
    quantities: tuple[tuple[str, int], ...] = ()   # (SKU, amount) asked in the inquiry

    @classmethod
    def of(cls, inquiry_id: int, stage: str, products: Any, terms: Any,
           draft_id: str) -> Thread:
        """From the inquiry's stored products and terms (JSON as daemon.record keeps it)."""
        skus = tuple(str(p["sku"]) for p in products or [] if isinstance(p, dict) and p.get("sku"))
        asked = (terms or {}).get("quantities") or []
        amounts = tuple((str(q["sku"]), int(q.get("amount") or 0)) for q in asked
                        if isinstance(q, dict) and q.get("sku"))
        return cls(inquiry_id, stage, skus, draft_id, amounts)


@dataclass(frozen=True, slots=True)
class Asks:
    """What the reply asks, in TOPICS order, with the reasons and the figures offered."""

    topics: tuple[str, ...]
    offers: tuple[Money, ...] = ()
    certs: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True, slots=True)
class PriceAnswer:
    """One product's price answer. `floor` is for the reviewer's eyes only."""

    product: Product
    price: Decimal                 # our price for the buyer's region
    column: str                    # the catalogue column it came from
    offer: Money | None
    floor: Decimal | None
    verdict: str                   # confirm | meet | decline | check | restate
    quantity: int
    counter: Decimal | None = None  # "meet": the price we offer, halfway to theirs


@dataclass(frozen=True, slots=True)
class Plan:
    """How to answer one reply in a thread: the template, products and answers."""

    thread: Thread
    variant: str                   # "negotiation", or "sample" for a sample request alone
    products: tuple[Product, ...]
    asks: Asks
    prices: tuple[PriceAnswer, ...] = ()
    region: str = ""

    def keeps(self, kind: str, requests: frozenset[str]) -> bool:
        """Whether an attachment of `kind` goes with the answer: e-samples when samples
        are asked for; the price sheet or profile only when asked again (the buyer has
        them from our first reply)."""
        if kind == "e_sample":
            return "sample" in self.asks.topics
        if kind == "price_sheet":
            return bool(requests & {"catalogue", "price_list"})
        return kind == "profile" and "catalogue" in requests

    def template_names(self, mail: Mail) -> dict[str, Any]:
        return template_names(self, mail)

    def reviewer_lines(self) -> str:
        return reviewer_lines(self)


# ------------------------------------------------------------------ what is asked


def what_is_asked(text: str, extracted: Extracted, ours: Sequence[Decimal] = ()) -> Asks:
    """The topics of a buyer's reply (their own text, not the quoted history)."""
    folded = fold(text)
    offers = counter_offers(text, extracted.target_prices, ours)
    certs = named_certificates(text)
    found: dict[str, Reason] = {}
    said = _PRICE.search(folded)
    if offers:
        found["price"] = Reason("price", "counter-offer " + ", ".join(
            o.text or f"{o.currency} {o.amount}" for o in offers))
    elif said:
        found["price"] = Reason("price", f"asks for a better price ({said.group()!r})")
    for topic, pattern, words in (("moq", _MOQ, "the MOQ"), ("lead_time", _LEAD, "lead time")):
        hit = pattern.search(folded)
        if hit:
            found[topic] = Reason(topic, f"asks about {words} ({hit.group()!r})")
    cert_hit = _CERT_WORDS.search(folded)
    if certs or cert_hit or "certificates" in extracted.requests:
        found["certification"] = Reason("certification", "asks about certificates ("
                                        + (", ".join(certs) or "in general") + ")")
    if "sample" in extracted.requests:
        found["sample"] = Reason("sample", "asks for samples")
    topics = tuple(t for t in TOPICS if t in found)
    return Asks(topics, offers, certs, tuple(found[t] for t in topics))


def counter_offers(text: str, target_prices: Sequence[Money],
                   ours: Sequence[Decimal] = ()) -> tuple[Money, ...]:
    """The buyer's own figures: amounts with a currency, less our prices quoted back at
    us, and any figure after "can you do", "we can pay", "target" ... (read as USD)."""
    cent = Decimal("0.01")
    mine = {Decimal(p).quantize(cent) for p in ours}
    led: dict[Decimal, Money] = {}
    for m in _OFFER_LEAD.finditer(text):
        amount = Decimal(m.group(1).replace(",", ".")).quantize(cent)
        led.setdefault(amount, Money(amount, "USD", m.group(0).strip()))
    found = [t for t in target_prices
             if t.amount.quantize(cent) in led or t.amount.quantize(cent) not in mine]
    found += [m for a, m in led.items() if not any(f.amount.quantize(cent) == a for f in found)]
    return tuple(found)


def named_certificates(text: str) -> tuple[str, ...]:
    """The certificates named in the text, as KNOWN_CERTS spells them."""
    names = []
    for cert in KNOWN_CERTS:
        flags = 0 if len(cert) <= 3 else re.IGNORECASE
        written = re.escape(cert).replace(r"\ ", r"\s?")
        if re.search(r"(?<![\w-])" + written + r"(?![\w-])", text, flags):
            names.append(cert)
    return tuple(names)


# ------------------------------------------------------------------ the answers


def plan(thread: Thread, extracted: Extracted, mail: Mail, catalog: Catalog,
         region: str) -> Plan:
    """The answer to a reply in `thread`: products named in it, else the inquiry's."""
    named = [p for p in (catalog.get(h.sku) for h in extracted.products) if p is not None]
    products = tuple(dict.fromkeys(named or [p for p in map(catalog.get, thread.skus) if p]))
    ours = [price for p in products
            for _, price in tier_prices(p.price_for(region), p.moq, p.floor_price)]
    asks = what_is_asked(mail.text, extracted, ours)
    variant = "sample" if asks.topics == ("sample",) else "negotiation"
    amounts = dict(thread.quantities) | {q.sku: q.amount for q in extracted.quantities if q.sku}
    prices = tuple(price_answer(p, region, offer_for(p, asks.offers, mail.text, products),
                                amounts.get(p.sku, 0))
                   for p in products) if "price" in asks.topics else ()
    return Plan(thread, variant, products, asks, prices, region)


def offer_for(product: Product, offers: Sequence[Money], text: str,
              products: Sequence[Product]) -> Money | None:
    """The figure meant for `product`: with several products, the first one written
    after its name or SKU; else the lowest in USD (the buyer's own offer, not a price
    they compare it with)."""
    if len(products) > 1:
        folded = fold(text)
        place = _first_of(folded, [product.sku, product.name, *product.keywords])
        near = [(folded.find(fold(o.text), place), o) for o in offers if o.text and place >= 0]
        near = sorted(((at, o) for at, o in near if at >= 0), key=lambda pair: pair[0])
        if near:
            return near[0][1]
    usd = sorted((o for o in offers if o.currency == "USD"), key=lambda o: o.amount)
    return (usd or list(offers) or [None])[0]


def _first_of(folded: str, words: Sequence[str]) -> int:
    places = [folded.find(fold(w)) for w in words if w and len(w) > 3]
    return min((p for p in places if p >= 0), default=-1)


def price_answer(product: Product, region: str, offer: Money | None,
                 quantity: int) -> PriceAnswer:
    ours = product.price_for(region)
    column = f"price_{region}" if region in product.prices else "price_default"
    floor = product.floor_price
    if offer is None or offer.currency != "USD":
        verdict = "restate"
    elif offer.amount >= ours:
        verdict = "confirm"
    elif floor is None:
        verdict = "check"
    else:
        verdict = "meet" if offer.amount >= floor else "decline"
    return PriceAnswer(product, ours, column, offer, floor, verdict,
                       max(quantity, product.moq),
                       halfway(offer.amount, ours, floor) if verdict == "meet" else None)


def halfway(offer: Decimal, ours: Decimal, floor: Decimal | None) -> Decimal:
    """Our counter-offer: halfway between their figure and our price, rounded up to the
    cent, never below the floor."""
    middle = ((offer + ours) / 2).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    return max(middle, floor or middle, offer)


# ------------------------------------------------------------------ for templates


def template_names(plan: Plan, mail: Mail) -> dict[str, Any]:
    """The names negotiation templates get: answers without the floor, and the thread."""
    basis = f"{DEFAULT_TERM} {DEFAULT_PORT}"
    products = {p.sku: p for p in plan.products}
    return {"thread": quoted_thread(mail), "negotiation": {
        "asks": list(plan.asks.topics), "basis": basis,
        "prices": [_price_view(a) for a in plan.prices],
        "moq": [{"sku": p.sku, "name": p.name, "moq": count(p.moq), "unit": p.unit}
                for p in products.values()] if "moq" in plan.asks.topics else [],
        "lead_time": [{"sku": p.sku, "name": p.name, "days": p.lead_time_days or ""}
                      for p in products.values()] if "lead_time" in plan.asks.topics else [],
        "certification": [_cert_view(p, plan.asks.certs) for p in products.values()]
        if "certification" in plan.asks.topics else [],
        "sample": "sample" in plan.asks.topics}}


def _price_view(a: PriceAnswer) -> dict[str, Any]:
    tiers = tier_prices(a.price, a.product.moq, a.floor)
    return {"sku": a.product.sku, "name": a.product.name, "unit": a.product.unit,
            "spec": a.product.spec, "price": money(a.price), "verdict": a.verdict,
            "offer": money(a.offer.amount) if a.offer else "",
            "counter": money(a.counter) if a.counter is not None else "",
            "offer_text": a.offer.text if a.offer else "",
            "currency": a.offer.currency if a.offer else "", "quantity": count(a.quantity),
            "tiers": [{"from": count(q), "price": money(p)} for q, p in tiers[1:]]}


def _cert_view(product: Product, asked: Sequence[str]) -> dict[str, Any]:
    held = [c for c in asked if any(fold(c) in fold(h) for h in product.certifications)]
    return {"sku": product.sku, "name": product.name, "held": list(product.certifications),
            "asked_held": held, "missing": [c for c in asked if c not in held]}


def quoted_thread(mail: Mail) -> dict[str, str]:
    """The buyer's mail quoted with "> ": their new text, signature and the history they
    quoted (our earlier message, as their mail had it)."""
    parts = [p for p in (mail.text, f"-- \n{mail.signature}" if mail.signature else "",
                         mail.quoted) if p.strip()]
    lines = "\n\n".join(parts).replace("\r\n", "\n").split("\n")
    if len(lines) > MAX_QUOTED_LINES:
        lines = [*lines[:MAX_QUOTED_LINES], "[...]"]
    quoted = "\n".join(">" + ("" if not line or line.startswith(">") else " ") + line
                       for line in lines)
    who = mail.from_.name or mail.from_.email if mail.from_ else ""
    when = mail.date.strftime("%Y-%m-%d %H:%M") if mail.date else ""
    return {"date": when, "name": who, "quoted": quoted}


# ------------------------------------------------------------------ for the reviewer


_VERDICT = {
    "confirm": "at or above our price: the draft confirms it",
    "meet": "at or ABOVE the floor (by USD {gap}): the draft meets the buyer halfway "
            "for {qty}; edit the draft to accept their figure, or to hold our price",
    "decline": "BELOW the floor (by USD {gap}): the draft holds our price and offers the "
               "quantity tiers; only the manager may go lower",
    "check": "no floor price in catalog.csv: decide by hand; the draft says we are checking",
    "restate": "no figure in USD: the draft restates our price and tiers",
}


def reviewer_lines(plan: Plan) -> str:
    """The .txt section on the thread and the counter-offer (with the floor price)."""
    t = plan.thread
    lines = ["", f"Thread:       answers our draft {t.draft_id} on inquiry #{t.inquiry_id} "
             f"(stage {t.stage}); template {plan.variant}",
             "Asks:         " + (", ".join(plan.asks.topics) or "nothing the rules can answer:"
                                 " the draft thanks and asks what they need"),
             *(f"  - {r.rule}: {r.text}" for r in plan.asks.reasons)]
    for a in plan.prices:
        offer = f"{a.offer.currency} {money(a.offer.amount)}" if a.offer else "none"
        floor = f"USD {money(a.floor)}" if a.floor is not None else "none"
        gap = money(abs(a.offer.amount - a.floor)) if a.offer and a.floor is not None else ""
        tiers = tier_prices(a.price, a.product.moq, a.floor)
        tier = min((p for q, p in tiers if q <= a.quantity), default=a.price)
        at_qty = (f"; USD {money(tier)} at {count(a.quantity)} {a.product.unit} (tier)"
                  if tier != a.price else "")
        lines += [f"Counter-offer {a.product.sku} {a.product.name}: buyer {offer}, ours USD "
                  f"{money(a.price)} ({a.column}, region {plan.region or 'default'}{at_qty}), "
                  f"floor {floor} (reviewer only)",
                  "  -> " + _VERDICT[a.verdict].format(gap=gap, qty=f"{count(a.quantity)} "
                                                                    f"{a.product.unit}")]
    return "\n".join(lines) + "\n"



# ------------------------------------------------------------------ for `inquiryd check`


def check_contexts(base: Sequence[dict[str, Any]], catalog: Catalog) -> list[dict[str, Any]]:
    """Contexts for the negotiation template (every price verdict, every topic, and none)
    and for a sample request inside a thread, built from `base` (daemon.draft's
    sample contexts of the B reply: one with everything, one with nothing)."""
    full, bare = [c for c in base if c.get("variant") == "B"][:2]
    products = tuple(list(catalog)[:2])
    thread = Thread(1, "quoted", tuple(p.sku for p in products), "d-check")
    mail = Mail(from_=Address("Sam Buyer", "buyer@example.net"),
                date=datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc),
                text="Too high. Can you do USD 0.50? MOQ? Lead time? CE?",
                quoted="> Our quotation")
    offer = Money(Decimal("0.50"), "USD", "USD 0.50")
    prices = tuple(PriceAnswer(p, p.price_for(""), "price_default", offer, p.floor_price,
                               verdict, p.moq, p.price_for(""))
                   for p in products[:1] for verdict in _VERDICT)
    everything = Plan(thread, "negotiation", products,
                      Asks(TOPICS, (offer,), ("CE",)), prices)
    nothing = Plan(thread, "negotiation", (), Asks(()))
    unknown = Plan(thread, "negotiation", (), Asks(TOPICS, (offer,)))
    contexts = []
    for context, answer in ((full, everything), (bare, nothing), (bare, unknown)):
        for variant in ("negotiation", "sample"):
            contexts.append({**context, **answer.template_names(mail), "variant": variant})
    return contexts
