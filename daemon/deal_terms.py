"""The terms of a deal (pure): what a confirmation letter, a proforma invoice and a
contract state, built once from the inquiry and then carried unchanged.

`build_terms` reads what the inquiry recorded (its products and the terms extracted:
quantities, Incoterm, delivery, payment), prices each product as the quotation did
(the buyer's regional catalogue price, with the quantity tiers of daemon.quotation),
and fills what the buyer did not say from the company's configured terms, else
inquiryd's usual ones. A product without a quantity is confirmed at its MOQ.

Amounts are Decimal, each line rounded to cents; the total is the sum of the lines,
checked whenever a DealTerms is made, so a document can never show a total that its
lines do not add up to. `as_dict`/`from_dict` give the JSON form kept with each
numbered document (DealDocument.terms): the PI and the contract restate the
confirmation's terms from it, not terms computed again later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from daemon.catalog import Catalog
from daemon.errors import UsageError
from daemon.language import sheet_labels
from daemon.quotation import CURRENCY, DEFAULT_PORT, DEFAULT_TERM, ORIGIN_TERMS, build_quote
from daemon.types import Extracted, Incoterm, ProductHit, Quantity

CENT = Decimal("0.01")
VALIDITY_DAYS = 30               # as long as a quotation holds
DEFAULT_LEAD_DAYS = 30           # when neither the products nor the company say


class CompanyTerms(Protocol):
    """What the terms read of config.Company."""

    name: str
    address: str
    telephone: str
    fax: str
    website: str
    contact_person: str
    payment_terms: str
    packaging: str
    port: str
    lead_time_days: int | None
    bank: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Party:
    """The seller or the buyer, as a document names them."""

    company: str = ""
    contact: str = ""
    address: str = ""
    country: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    """One product: its quantity at its unit price."""

    sku: str
    name: str
    spec: str
    quantity: int
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class DealTerms:
    """Every term of one deal; the total is checked against the lines when made."""

    lines: tuple[Line, ...]
    total: Decimal
    currency: str
    incoterm: str                 # the term the prices are on: FOB, FCA, EXW ...
    port: str                     # its place: the port of loading
    payment: str
    packaging: str
    lead_time_days: int
    shipment_date: date           # latest date of shipment
    valid_until: date
    buyer: Party
    seller: Party
    bank: tuple[str, ...] = ()
    buyer_term: str = ""          # "CIF Jebel Ali": asked for, priced FOB plus freight
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("a deal has at least one product line")
        for line in self.lines:
            if line.amount != line_amount(line.unit_price, line.quantity):
                raise ValueError(f"{line.sku}: {line.quantity} x {line.unit_price} is not "
                                 f"{line.amount}")
        if self.total != sum((line.amount for line in self.lines), Decimal(0)):
            raise ValueError(f"the total {self.total} is not the sum of the lines")

    @property
    def basis(self) -> str:
        """'FOB Ningbo'."""
        return f"{self.incoterm} {self.port}".strip()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: Decimals and dates as strings, nothing lost."""
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DealTerms:
        """Back from `as_dict` (ValueError when the form is not one)."""
        try:
            return _terms_from(data)
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ValueError(f"not the terms of a deal: {exc!r}") from None


def line_amount(unit_price: Decimal, quantity: int) -> Decimal:
    return (unit_price * quantity).quantize(CENT, ROUND_HALF_UP)


# ------------------------------------------------------------------ building


def build_terms(products: Sequence[Mapping[str, Any]], terms: Mapping[str, Any], *,
                catalog: Catalog, region: str, company: CompanyTerms, buyer: Party,
                seller_email: str, today: date,
                validity_days: int = VALIDITY_DAYS) -> DealTerms:
    """The deal an inquiry describes. UsageError when none of its products is ours."""
    extracted = _extracted(terms)
    hits = tuple(ProductHit(str(p.get("sku", "")), str(p.get("name", "")), "")
                 for p in products if isinstance(p, Mapping) and p.get("sku"))
    quote = build_quote(hits, catalog, extracted, region, today=today,
                        validity_days=validity_days)
    if quote is None:
        raise UsageError("the inquiry names no product of the catalogue: nothing to confirm "
                         "(the terms need products, quantities and prices)")
    lines = tuple(_line(item) for item in quote.items)
    notes = tuple(f"{i.sku}: no quantity agreed, confirmed at the MOQ of {i.moq} {i.unit}"
                  for i in quote.items if i.quantity is None)
    term, port, buyer_term = _basis(extracted.incoterms, company.port or DEFAULT_PORT)
    lead = max((i.lead_time_days or 0 for i in quote.items), default=0) \
        or company.lead_time_days or DEFAULT_LEAD_DAYS
    words = sheet_labels("en")
    return DealTerms(
        lines=lines, total=sum((line.amount for line in lines), Decimal(0)),
        currency=CURRENCY, incoterm=term, port=port,
        payment="; ".join(extracted.payment_terms) or company.payment_terms
        or words["payment_default"],
        packaging=company.packaging or words["packaging_default"], lead_time_days=lead,
        shipment_date=_shipment(terms.get("delivery"), today, lead),
        valid_until=today + timedelta(days=validity_days), buyer=buyer,
        seller=seller(company, seller_email), bank=tuple(company.bank),
        buyer_term=buyer_term, notes=notes)


def seller(company: CompanyTerms, email: str) -> Party:
    return Party(company=company.name, contact=company.contact_person,
                 address=company.address, email=email, telephone=company.telephone,
                 fax=company.fax, website=company.website)


def _extracted(terms: Mapping[str, Any]) -> Extracted:
    """The part of Inquiry.terms (record.terms_json) that prices a deal."""
    quantities = tuple(
        Quantity(int(q["amount"]), str(q.get("unit", "")), str(q.get("sku", "")))
        for q in terms.get("quantities", []) if isinstance(q, Mapping) and q.get("amount"))
    incoterms = tuple(Incoterm(str(i.get("term", "")), str(i.get("place", "")))
                      for i in terms.get("incoterms", []) if isinstance(i, Mapping))
    payment = tuple(str(p) for p in terms.get("payment_terms", []) if p)
    return Extracted(quantities=quantities, incoterms=incoterms, payment_terms=payment)


def _line(item: Any) -> Line:
    quantity = item.quantity if item.quantity is not None else item.moq
    return Line(sku=item.sku, name=item.name, spec=item.spec, quantity=quantity,
                unit=item.unit, unit_price=item.unit_price,
                amount=line_amount(item.unit_price, quantity))


def _basis(incoterms: Sequence[Incoterm], port: str) -> tuple[str, str, str]:
    """(term, place, the buyer's own term): catalogue prices are FOB (daemon.quotation),
    so a C or D term is stated FOB with the buyer's term beside it, never priced."""
    if not incoterms or not incoterms[0].term.strip():
        return DEFAULT_TERM, port, ""
    asked = incoterms[0]
    term = asked.term.strip().upper()
    if term in ORIGIN_TERMS:
        return term, asked.place.strip() or port, ""
    return DEFAULT_TERM, port, f"{term} {asked.place.strip()}".strip()


def _shipment(delivery: Any, today: date, lead_days: int) -> date:
    """The buyer's delivery date when one was given and still ahead, else after the
    lead time from today."""
    if isinstance(delivery, str):
        try:
            asked = date.fromisoformat(delivery)
        except ValueError:
            asked = None
        if asked is not None and asked > today:
            return asked
    return today + timedelta(days=lead_days)


# ------------------------------------------------------------------ the JSON form


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def _party(data: Mapping[str, Any]) -> Party:
    return Party(**{f.name: str(data.get(f.name, "")) for f in fields(Party)})


def _terms_from(data: Mapping[str, Any]) -> DealTerms:
    lines = tuple(Line(sku=str(l["sku"]), name=str(l["name"]), spec=str(l.get("spec", "")),
                       quantity=int(l["quantity"]), unit=str(l["unit"]),
                       unit_price=Decimal(str(l["unit_price"])),
                       amount=Decimal(str(l["amount"]))) for l in data["lines"])
    return DealTerms(
        lines=lines, total=Decimal(str(data["total"])), currency=str(data["currency"]),
        incoterm=str(data["incoterm"]), port=str(data["port"]), payment=str(data["payment"]),
        packaging=str(data["packaging"]), lead_time_days=int(data["lead_time_days"]),
        shipment_date=date.fromisoformat(data["shipment_date"]),
        valid_until=date.fromisoformat(data["valid_until"]), buyer=_party(data["buyer"]),
        seller=_party(data["seller"]), bank=tuple(str(b) for b in data.get("bank", [])),
        buyer_term=str(data.get("buyer_term", "")),
        notes=tuple(str(n) for n in data.get("notes", [])))
