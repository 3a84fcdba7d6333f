"""The extract stage (pure): what a buyer's message says they want.

`extract(mail, catalog, geo, today)` reads the sender's own text and signature (never
the quoted history) and returns an `Extracted`: products, quantities, prices,
Incoterms, delivery date, payment terms, requests, country, language, company and
contact. The subject counts for products and requests only ("Re: Quotation for
BS-NK-101"); quantities and terms come from the body, where they are complete.

One module per kind of evidence, each a function from folded text to values:
  text        folding, phrase lookup, sentence and paragraph splitting
  numbers     "5,000", "0,82", "1.200,50"
  products    SKUs and catalogue keywords          quantities  counts with units
  money       amounts with a currency              terms       Incoterms, payment, requests
  dates       the delivery date                    people      signature, company, contact
  language    the language of the text
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from daemon.extract import dates, language, money, people, products, quantities, terms
from daemon.extract.text import Folded
from daemon.types import Extracted, Mail

if TYPE_CHECKING:
    from daemon.catalog import Catalog
    from daemon.geo import Geo

__all__ = ["extract"]


# A buyer's own text is a few thousand characters; beyond this it is a pasted document,
# and its head says what the sender wants. Bounds the stage's time (~1 s at worst).
MAX_TEXT = 50_000


def extract(mail: Mail, catalog: Catalog, geo: Geo, today: date) -> Extracted:
    """Everything the message tells about what the buyer wants, and where they are."""
    if len(mail.text) > MAX_TEXT:
        mail = replace(mail, text=mail.text[:MAX_TEXT])
    body = Folded.of(mail.text)
    subject = Folded.of(mail.subject)
    index = products.index_for(catalog)
    in_body = products.mentions(body, index)
    named = products.product_hits(in_body + products.mentions(subject, index), index)
    only_sku = named[0].sku if len(named) == 1 else ""
    when = dates.delivery(body, today)
    signature, rest = people.signature_zone(mail)
    country, reason = geo.country_from(rest, signature, mail.from_.domain if mail.from_ else "")
    return Extracted(
        products=named,
        quantities=quantities.quantities(body, in_body, only_sku),
        target_prices=money.prices(body),
        incoterms=terms.incoterms(mail.text),
        delivery=when.when if when else None,
        delivery_text=when.text if when else "",
        payment_terms=terms.payment_terms(body),
        requests=terms.requests(subject, body),
        country=country,
        country_reason=reason,
        language=language.language(mail.text or mail.subject),
        company=people.company(signature),
        contact_name=people.contact_name(signature, mail.from_.name if mail.from_ else ""),
    )
