"""The extract stage and geo: text in, values out, in the languages of the desk; and the
sample inbox's A-grade inquiries end to end (parse -> extract).
"""

from __future__ import annotations

import ast
import re
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from daemon.catalog import Catalog
from daemon.errors import ConfigError
from daemon.extract import extract
from daemon.geo import Geo
from daemon.parse import parse
from daemon.types import Address, Extracted, Mail

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
INBOX = ROOT / "examples" / "inbox"
TODAY = date(2026, 11, 20)


def _toml(name: str) -> dict[str, Any]:
    return tomllib.loads((RULES / name).read_text(encoding="utf-8"))


CATALOG = Catalog.from_csv_text((RULES / "catalog.csv").read_text(encoding="utf-8-sig"),
                                "catalog.csv")
FREE_MAIL = _toml("matching.toml")["free_mail_domains"] if (RULES / "matching.toml").exists() \
    else ["gmail.com", "mail.ru"]
GEO = Geo.from_toml(_toml("regions.toml"), _toml("countries.toml"),
                    ("regions.toml", "countries.toml"), free_mail_domains=FREE_MAIL)


def run(text: str, *, subject: str = "", signature: str = "", sender: str = "",
        name: str = "", today: date = TODAY) -> Extracted:
    mail = Mail(from_=Address(name, sender or "buyer@shop.example"), subject=subject,
                text=text, signature=signature)
    return extract(mail, CATALOG, GEO, today)


def cases(table: list[tuple[Any, ...]]) -> Any:
    """pytest parameters from a table whose rows start with a short id."""
    return [pytest.param(*row[1:], id=row[0]) for row in table]


# --- products -------------------------------------------------------------------------

PRODUCTS = [
    ("en-sku", "Please quote BS-NK-101 and bs rg 620.", ["BS-NK-101", "BS-RG-620"]),
    ("en-keywords", "We need necklaces, earrings and claw clips.",
     ["BS-NK-101", "BS-ER-310", "BS-HC-402"]),
    ("en-no-ring-in-earring", "Stud earrings only, no spring sale.", ["BS-ER-310"]),
    ("en-key-ring-is-a-keychain", "Key rings with our logo.", ["BS-KC-518"]),
    ("en-inner-box-is-not-a-gift-box", "200 pcs per inner box.", []),
    ("es", "Cotización de pinzas para cabello y llaveros de acrílico.", ["BS-HC-402", "BS-KC-518"]),
    ("pt", "Gostei das pulseiras de miçangas e dos chaveiros.", ["BS-BR-205", "BS-KC-518"]),
    ("fr", "Je cherche des colliers en acier et des bagues ajustables.",
     ["BS-NK-101", "BS-RG-620"]),
    ("de", "Wir suchen Ohrringe und Schlüsselanhänger.", ["BS-ER-310", "BS-KC-518"]),
    ("ru", "Интересуют брелоки и браслеты, а также серьги.",
     ["BS-KC-518", "BS-BR-205", "BS-ER-310"]),
    ("ar", "نرغب في شراء قلادة وخاتم ومشابك الشعر", ["BS-NK-101", "BS-RG-620", "BS-HC-402"]),
    ("zh", "我们需要抓夹和钥匙扣的报价", ["BS-HC-402", "BS-KC-518"]),
    ("zh-traditional", "請報價耳環和首飾盒", ["BS-ER-310", "BS-GB-730"]),
    ("ja", "イヤリングとネックレスのカタログ", ["BS-ER-310", "BS-NK-101"]),
    ("tr", "Saç tokası ve boncuklu bileklik siparişi", ["BS-HC-402", "BS-BR-205"]),
    ("accents-and-case", "COLLIERS et Porte-Clés", ["BS-NK-101", "BS-KC-518"]),
]


@pytest.mark.parametrize(("text", "skus"), cases(PRODUCTS))
def test_products(text: str, skus: list[str]) -> None:
    assert [h.sku for h in run(text).products] == skus


def test_product_evidence_prefers_the_code_and_reads_the_subject() -> None:
    x = run("Your price for the necklace is high.", subject="Re: Quotation for BS-NK-101")
    assert [(h.sku, h.matched) for h in x.products] == [("BS-NK-101", "BS-NK-101")]
    assert x.products[0].name == "Stainless steel pendant necklace"


def test_quoted_history_is_not_read() -> None:
    mail = Mail(text="Thanks, noted.", quoted="> BS-NK-101 5,000 pcs FOB Ningbo")
    x = extract(mail, CATALOG, GEO, TODAY)
    assert (x.products, x.quantities, x.incoterms) == ((), (), ())


# --- quantities -------------------------------------------------------------------------

QUANTITIES = [
    ("en-pcs", "Qty: 5,000 pcs", [(5000, "pcs")]),
    ("en-glued", "5000pcs", [(5000, "pcs")]),
    ("en-k", "about 10k pieces", [(10000, "pcs")]),
    ("en-pairs", "2,000 pairs", [(2000, "pairs")]),
    ("en-dozen", "100 dozen", [(100, "dozen")]),
    ("en-cartons", "20 ctns", [(20, "cartons")]),
    ("en-range-keeps-the-lower-end", "maybe 1,000–2,000 pcs per design", [(1000, "pcs")]),
    ("en-label-without-unit", "Quantity: 3,000\nTarget price: USD 0.55/pc", [(3000, "pcs")]),
    ("en-packing-ratio-is-not-an-order", "5,000 pcs, 200 pcs per inner box", [(5000, "pcs")]),
    ("en-breakdown-in-brackets", "2,000 pairs (1,000 pairs silver, 1,000 pairs gold)",
     [(2000, "pairs")]),
    ("en-product-word", "We need 8,000 keychains and 6,000 rings.", [(8000, "pcs"), (6000, "pcs")]),
    ("es", "Cantidad: 2.000 unidades", [(2000, "pcs")]),
    ("es-mil", "10 mil piezas", [(10000, "pcs")]),
    ("pt", "uns 500 a 1.000 peças de cada", [(500, "pcs")]),
    ("fr", "Quantité : 3 000 pièces", [(3000, "pcs")]),
    ("de", "1.500 Stück und 300 Paar", [(1500, "pcs"), (300, "pairs")]),
    ("ru", "3000 пар и 5 000 шт.", [(3000, "pairs"), (5000, "pcs")]),
    ("ru-per-design-is-not-a-total", "8 дизайнов по 1 000 шт. - всего 8 000 шт.", [(8000, "pcs")]),
    ("ar", "الكمية 6,000 قطعة", [(6000, "pcs")]),
    ("zh", "约 20,000 个（分 4 个颜色）", [(20000, "pcs")]),
    ("zh-wan", "2万个", [(20000, "pcs")]),
    ("zh-traditional-pairs", "數量：3,000 對", [(3000, "pairs")]),
    ("tr", "5.000 adet", [(5000, "pcs")]),
]


@pytest.mark.parametrize(("text", "expected"), cases(QUANTITIES))
def test_quantities(text: str, expected: list[tuple[int, str]]) -> None:
    assert [(q.amount, q.unit) for q in run(text).quantities] == expected


def test_quantity_belongs_to_the_product_on_its_line_or_item() -> None:
    text = ("1) BS-NK-101 pendant necklace\n   Qty: 5,000 pcs\n\n"
            "2) BS-RG-620 adjustable ring\n   Qty: 3,000 pcs\n\n"
            "Also 2,000 pcs BS-KC-518 keychains.")
    assert [(q.amount, q.sku) for q in run(text).quantities] == [
        (5000, "BS-NK-101"), (3000, "BS-RG-620"), (2000, "BS-KC-518")]


def test_quantity_goes_to_the_only_product_named() -> None:
    x = run("If you can come to USD 0.82 for 10,000 pcs we confirm.",
            subject="Re: Quotation for BS-NK-101")
    assert [(q.amount, q.sku, q.text) for q in x.quantities] == [(10000, "BS-NK-101", "10,000 pcs")]


# --- prices ---------------------------------------------------------------------------

PRICES = [
    ("en-code-first", "target price USD 0.85", [("0.85", "USD")]),
    ("en-symbol", "$1.35/pc", [("1.35", "USD")]),
    ("en-us-dollar", "US$ 2 each", [("2", "USD")]),
    ("en-budget-is-not-a-price", "around £8–10k per shipment, $199/month", []),
    ("es", "Precio objetivo: USD 0.38 por pieza", [("0.38", "USD")]),
    ("pt", "preço alvo R$ 3,50", [("3.50", "BRL")]),
    ("fr-euro-after", "prix cible 0,82 €", [("0.82", "EUR")]),
    ("de", "Zielpreis 1.234,50 EUR", [("1234.50", "EUR")]),
    ("ru", "Целевая цена: 0,32 USD/шт., или 1.2 долл", [("0.32", "USD"), ("1.2", "USD")]),
    ("ar", "السعر المستهدف 0.50 دولار أمريكي للقطعة", [("0.50", "USD")]),
    ("zh", "目标价 1.15美元，出厂价 5.5元", [("1.15", "USD"), ("5.5", "CNY")]),
    ("thousands", "order value USD 12,500", [("12500", "USD")]),
]


@pytest.mark.parametrize(("text", "expected"), cases(PRICES))
def test_prices(text: str, expected: list[tuple[str, str]]) -> None:
    found = run(text).target_prices
    assert [(m.amount, m.currency) for m in found] == [(Decimal(a), c) for a, c in expected]


def test_price_keeps_the_text_as_written() -> None:
    assert run("0,82 € la pièce").target_prices[0].text == "0,82 €"


# --- Incoterms --------------------------------------------------------------------------

INCOTERMS = [
    ("en", "Terms: FOB Ningbo, our forwarder is Expeditors.", [("FOB", "Ningbo")]),
    ("en-two-words", "delivery CIF Jebel Ali.", [("CIF", "Jebel Ali")]),
    ("en-port-of", "CIF port of Rotterdam please", [("CIF", "Rotterdam")]),
    ("en-stops-at-lowercase", "USD 0.92/pc FOB Ningbo is on the higher side", [("FOB", "Ningbo")]),
    ("en-no-place", "EXW or FOB?", [("EXW", ""), ("FOB", "")]),
    ("en-cnf-is-cfr", "C&F Mombasa", [("CFR", "Mombasa")]),
    ("en-key-fob-is-not-a-term", "a key fob with logo", []),
    ("es", "en condiciones DDP Sevilla, plazo de entrega", [("DDP", "Sevilla")]),
    ("fr", "prix FOB et, si possible, DDP France", [("FOB", ""), ("DDP", "France")]),
    ("ru", "Условия поставки: CIF Санкт-Петербург.", [("CIF", "Санкт-Петербург")]),
    ("ar", "شروط التسليم: CIF ميناء جبل علي.", [("CIF", "جبل علي")]),
    ("zh", "交货条件：CIF 基隆港；FOB 宁波价", [("CIF", "基隆港"), ("FOB", "宁波")]),
    ("zh-words", "请报出厂价", [("EXW", "")]),
    ("tr", "Teslim şekli: FOB Ningbo (forwarder'ımız Ningbo'da)", [("FOB", "Ningbo")]),
]


@pytest.mark.parametrize(("text", "expected"), cases(INCOTERMS))
def test_incoterms(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(i.term, i.place) for i in run(text).incoterms] == expected


# --- delivery dates ---------------------------------------------------------------------

DELIVERY = [
    ("en-d-month-y", "goods must arrive in Hamburg by 28 February 2027", date(2027, 2, 28),
     "by 28 February 2027"),
    ("en-month-d-y", "ready to ship no later than January 20, 2027.", date(2027, 1, 20),
     "no later than January 20, 2027"),
    ("en-iso", "Delivery by 2027-08-15 please", date(2027, 8, 15), "by 2027-08-15"),
    ("en-no-year-is-next", "We need shipment before 20 December.", date(2026, 12, 20),
     "before 20 December"),
    ("en-no-year-already-past", "Shipment by 10 March.", date(2027, 3, 10), "by 10 March"),
    ("en-end-of-month", "Delivery before end of March", date(2027, 3, 31), "before end of March"),
    ("en-within", "Can you deliver within 45 days?", date(2027, 1, 4), "within 45 days"),
    ("en-weeks", "shipment within 6 weeks", date(2027, 1, 1), "within 6 weeks"),
    ("en-us-numeric", "ETA 12/31/2026", date(2026, 12, 31), "12/31/2026"),
    ("es", "Fecha de entrega: a más tardar el 15 de febrero de 2027", date(2027, 2, 15),
     "a más tardar el 15 de febrero de 2027"),
    ("pt", "prazo de entrega até 30 de janeiro de 2027", date(2027, 1, 30),
     "até 30 de janeiro de 2027"),
    ("fr", "Délai : arriver au plus tard\nle 20 janvier 2027", date(2027, 1, 20),
     "au plus tard le 20 janvier 2027"),
    ("fr-fin", "livraison fin mars 2027", date(2027, 3, 31), "fin mars 2027"),
    ("de", "Liefertermin: spätestens 15.03.2027", date(2027, 3, 15), "spätestens 15.03.2027"),
    ("ru", "Срок: отгрузка не позднее 25 декабря 2026 г.", date(2026, 12, 25),
     "не позднее 25 декабря 2026 г."),
    ("ar", "موعد التسليم: قبل 20 يناير 2027.", date(2027, 1, 20), "قبل 20 يناير 2027"),
    ("zh", "交期：2027年1月10日前到港", date(2027, 1, 10), "2027年1月10日前"),
    ("zh-end-of-month", "3月底前交货", date(2027, 3, 31), "3月底前"),
    ("tr", "Teslim tarihi: en geç 15 Ocak 2027'de", date(2027, 1, 15), "en geç 15 Ocak 2027"),
]


@pytest.mark.parametrize(("text", "when", "written"), cases(DELIVERY))
def test_delivery(text: str, when: date, written: str) -> None:
    x = run(text)
    assert (x.delivery, x.delivery_text) == (when, written)


NOT_DELIVERY = [
    ("artwork date", "Packing: backing card (artwork sent on 9 Nov)."),
    ("visit", "Our team plans to visit suppliers in Yiwu in March 2027."),
    ("out of office", "Ich bin bis 30.11.2026 nicht im Büro."),
    ("payment within", "payment within 30 days of invoice"),
]


@pytest.mark.parametrize("text", cases(NOT_DELIVERY))
def test_dates_that_are_not_delivery(text: str) -> None:
    assert run(text).delivery is None


# --- payment terms and requests -------------------------------------------------------

PAYMENT = [
    ("en", "Payment: T/T 30% deposit, 70% against copy of B/L.",
     ["T/T", "30% deposit", "balance against B/L copy"]),
    ("en-lc", "irrevocable L/C at sight", ["L/C at sight"]),
    ("en-others", "PayPal or Western Union, or D/P", ["D/P", "PayPal", "Western Union"]),
    ("en-split", "T/T 30/70", ["T/T", "30% deposit"]),
    ("es", "Forma de pago: T/T, 30% de anticipo y 70% contra copia del B/L",
     ["T/T", "30% deposit", "balance against B/L copy"]),
    ("pt", "pagamento 30% de entrada, saldo antes do embarque", ["30% deposit"]),
    ("fr", "Paiement : T/T, 30 % à la commande, 70 % contre copie du connaissement",
     ["T/T", "30% deposit", "balance against B/L copy"]),
    ("de", "Zahlung per Akkreditiv", ["L/C"]),
    ("ru", "Оплата: T/T, 30% предоплата, 70% перед отгрузкой",
     ["T/T", "30% deposit", "balance before shipment"]),
    ("ar", "طريقة الدفع: اعتماد مستندي (L/C) عند الاطلاع", ["L/C at sight"]),
    ("zh", "付款方式：T/T，訂金30%，餘款憑提單副本付清", ["T/T", "30% deposit",
                                                   "balance against B/L copy"]),
    ("tr", "Ödeme: T/T, %30 peşin, %70 yükleme öncesi",
     ["T/T", "30% deposit", "balance before shipment"]),
    ("date-is-not-a-split", "Delivery 20/12", []),
]


@pytest.mark.parametrize(("text", "expected"), cases(PAYMENT))
def test_payment_terms(text: str, expected: list[str]) -> None:
    assert sorted(run(text).payment_terms) == sorted(expected)


REQUESTS = [
    ("en-pi", "Please send us a PI so we can wire the deposit.", {"pi"}),
    ("en-question", "Do you have any test reports? And could you supply samples?",
     {"certificates", "sample"}),
    ("en-list", "Could you send your latest catalogue and price list for:\n- hair claws\n",
     {"catalogue", "price_list"}),
    ("en-contract", "Kindly send the sales contract for signature.", {"contract"}),
    ("en-quotation", "Please quote your best price.", {"quotation"}),
    ("en-told-not-asked", "We went through the samples and would like to order.", set()),
    ("es", "¿Nos puede enviar la factura proforma (PI)?", {"pi"}),
    ("pt", "Vocês poderiam me enviar o catálogo completo e a tabela de preços?",
     {"catalogue", "price_list"}),
    ("fr", "Merci de nous envoyer la facture proforma et des échantillons.", {"pi", "sample"}),
    ("de", "Bitte senden Sie uns Ihren Katalog und ein Zertifikat.", {"catalogue", "certificates"}),
    ("ru", "Пришлите, пожалуйста, прайс и каталог. Просим выставить проформу.",
     {"price_list", "catalogue", "pi"}),
    ("ar", "نرجو إرسال الفاتورة المبدئية والكتالوج", {"pi", "catalogue"}),
    ("ar-list", "نرجو منكم إرسال ما يلي:\n- الكتالوج\n- شهادة المنشأ",
     {"catalogue", "certificates"}),
    ("zh", "请提供形式发票（PI）和样品", {"pi", "sample"}),
    ("ja", "カタログを送ってください。", {"catalogue"}),
    ("tr", "Lütfen proforma fatura (PI) gönderin.", {"pi"}),
]


@pytest.mark.parametrize(("text", "expected"), cases(REQUESTS))
def test_requests(text: str, expected: set[str]) -> None:
    assert run(text).requests == frozenset(expected)


def test_requests_in_the_subject() -> None:
    assert "pi" in run("Bonjour,", subject="Commande BS-GB-730 - demande de PI").requests


# --- country ----------------------------------------------------------------------------

COUNTRY = [
    ("city-in-signature", "Hello", "Ahmed\nDubai", "", "AE", "city Dubai in the signature"),
    ("phone", "Hi", "Tel: +971 4 555 0186", "", "AE", "phone prefix +971 in the signature"),
    ("phone-00", "Hi", "Tel. 0049 211 5550 3721", "", "DE", "phone prefix +49"),
    ("name-es", "Hola", "Emiratos Árabes Unidos", "", "AE",
     "country name 'Emiratos Árabes Unidos' in the signature"),
    ("name-ru", "Привет", "Москва, Россия", "", "RU", "country name 'Россия'"),
    ("name-ar", "مرحبا", "الرياض، المملكة العربية السعودية", "", "SA", "country name"),
    ("name-zh", "你好", "台北市大安區", "", "TW", "city 台北"),
    ("name-fr", "Bonjour", "Casablanca, Maroc", "", "MA", "country name 'Maroc'"),
    ("name-pt", "Olá", "São Paulo, Brasil", "", "BR", "country name 'Brasil'"),
    ("name-de", "Hallo", "Königsallee 58, 40212 Düsseldorf, Deutschland", "", "DE",
     "country name 'Deutschland'"),
    ("signature-beats-body", "Our client in Dubai wants this.", "Guangzhou, China", "", "CN",
     "in the signature"),
    ("body-when-no-signature", "We are importers in Lagos, Nigeria.", "", "", "NG",
     "in the message"),
    ("kazakh-plus-7", "Hi", "+7 701 555 01 77", "", "KZ", "phone prefix +7 7"),
    ("canada-by-area-code", "Hi", "+1 416 555 0100", "", "CA", "phone prefix +1 416"),
    ("domain", "Hi", "", "shop.example.ae", "AE", "domain .ae"),
    ("domain-co-uk", "Hi", "", "harbour.co.uk", "GB", "domain .uk"),
    ("free-mail-domain-says-nothing", "Hi", "", "mail.ru", "", ""),
    ("generic-domain-says-nothing", "Hi", "", "shop.com", "", ""),
    ("generic-cctld-says-nothing", "Hi", "", "startup.io", "", ""),
    ("national-second-level", "Hi", "", "empresa.com.co", "CO", "domain .co"),
    ("our-own-ports-are-not-the-buyer", "FOB Ningbo, like your Yiwu factory.", "", "", "", ""),
    ("jordan-the-name", "Thanks, Jordan", "", "", "", ""),
    ("jordan-the-country", "We are in Jordan.", "Amman, Jordan", "", "JO", ""),
    ("santos-the-surname", "Regards, Carlos Santos", "", "", "", ""),
    ("santos-the-port", "Please quote CIF Santos.", "", "", "BR", "city Santos"),
]


@pytest.mark.parametrize(("text", "signature", "domain", "code", "reason"), cases(COUNTRY))
def test_country(text: str, signature: str, domain: str, code: str, reason: str) -> None:
    found, why = GEO.country_from(text, signature, domain)
    assert found == code
    assert reason in why


def test_country_through_extract_reads_an_unmarked_signature_block() -> None:
    text = ("Kindly send your catalogue.\n\nThanks and God bless.\n\nChinedu Okafor\n"
            "Chiokaf Global Ventures Ltd\nLagos\n+234 803 555 0192\n\nSent from Yahoo Mail")
    x = run(text, sender="chinedu@yahoo.com", name="Chinedu Okafor")
    assert (x.country, x.country_reason) == ("NG", "phone prefix +234 in the signature")
    assert (x.company, x.contact_name) == ("Chiokaf Global Ventures Ltd", "Chinedu Okafor")


def test_regions() -> None:
    assert [GEO.region_of(c) for c in ("AE", "eg", "TR", "VN", "US", "DE", "KZ", "BR", "IN",
                                       "CN", "AU", "NG", "XX", "")] == [
        "middle_east", "middle_east", "middle_east", "southeast_asia", "north_america", "europe",
        "russia_cis", "latin_america", "south_asia", "east_asia", "oceania", "africa", "", ""]
    assert len(GEO.regions) == 249
    assert GEO.name_of("AE", "es") == "Emiratos Árabes Unidos"


def test_countries_file_covers_the_main_markets() -> None:
    countries = _toml("countries.toml")
    assert len(countries) >= 60
    assert all(entry.get("phone") and entry.get("names", {}).get("en")
               for entry in countries.values())


GEO_ERRORS = [
    ("unknown region", {"regions": {"AE": "gulf"}}, {},
     "regions.toml: regions.AE: unknown region 'gulf'"),
    ("bad code", {"regions": {"UAE": "middle_east"}}, {},
     "regions.toml: regions.UAE: not an ISO 3166 alpha-2 code"),
    ("unknown key in regions", {"regions": {"AE": "middle_east"}, "home": "CN"}, {},
     "regions.toml: home: unknown key"),
    ("country without region", {"regions": {"AE": "middle_east"}},
     {"QA": {"phone": ["+974"]}}, "countries.toml: [QA]: not in regions.toml"),
    ("bad phone", {"regions": {"AE": "middle_east"}}, {"AE": {"phone": ["971"]}},
     "countries.toml: [AE] phone: must be a list like"),
    ("shared phone prefix", {"regions": {"AE": "middle_east", "QA": "middle_east"}},
     {"AE": {"phone": ["+971"]}, "QA": {"phone": ["+971"]}},
     "countries.toml: [QA] phone: +971 is also AE's prefix"),
    ("name of two countries", {"regions": {"AE": "middle_east", "QA": "middle_east"}},
     {"AE": {"phone": ["+971"], "cities": ["Doha"]}, "QA": {"phone": ["+974"], "cities": ["Doha"]}},
     "countries.toml: [QA]: 'Doha' is also a name of AE"),
    ("unknown key in a country", {"regions": {"AE": "middle_east"}},
     {"AE": {"phone": ["+971"], "capital": "Abu Dhabi"}},
     "countries.toml: [AE] capital: unknown key"),
    ("ambiguous name that is not a name", {"regions": {"JO": "middle_east"}},
     {"JO": {"phone": ["+962"], "ambiguous": ["Jordan"]}},
     "countries.toml: [JO] ambiguous: 'Jordan' is not one of its names"),
]


@pytest.mark.parametrize(("regions", "countries", "expected"), cases(GEO_ERRORS))
def test_geo_errors_name_the_file_and_entry(regions: dict[str, Any], countries: dict[str, Any],
                                            expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Geo.from_toml(regions, countries, ("regions.toml", "countries.toml"))
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


# --- language, company, contact ---------------------------------------------------------

LANGUAGE = [
    ("en", "Dear Sir, please send your price list for the necklaces.", "en"),
    ("es", "Estimada Lily: le escribo para pedir una cotización de las pinzas.", "es"),
    ("pt", "Olá, vocês poderiam me enviar o catálogo? Obrigada pela atenção.", "pt"),
    ("fr", "Bonjour, pourriez-vous m'envoyer votre catalogue et vos prix ? Merci.", "fr"),
    ("de", "Sehr geehrte Damen und Herren, bitte senden Sie uns Ihre Preisliste.", "de"),
    ("tr", "Merhaba, lütfen fiyat listesi gönderin. Teşekkürler, saygılarımla.", "tr"),
    ("ru", "Добрый день! Пришлите прайс на BS-KC-518, CIF.", "ru"),
    ("ar", "السلام عليكم، نرجو إرسال الفاتورة المبدئية (PI) لـ BS-RG-620", "ar"),
    ("zh", "您好，请报价 BS-HC-402 抓夹，FOB 宁波。", "zh"),
    ("ja", "カタログおよび参考価格（BS-HC-402）を教えてください。", "ja"),
    ("empty", "", ""),
]


@pytest.mark.parametrize(("text", "lang"), cases(LANGUAGE))
def test_language(text: str, lang: str) -> None:
    assert run(text).language == lang


PEOPLE = [
    ("latin", "Best regards,\n\nJürgen Hoffmann\nGeschäftsführer\nSchmuckwelt Hoffmann GmbH\n"
     "Königsallee 58, 40212 Düsseldorf", "Jürgen Hoffmann", "Schmuckwelt Hoffmann GmbH",
     "Jürgen Hoffmann"),
    ("sa-de-cv", "María Fernanda López\nAccesorios Luna, S.A. de C.V.\nGuadalajara",
     "María Fernanda López", "Accesorios Luna, S.A. de C.V.", "María Fernanda López"),
    ("russian", "С уважением,\nДмитрий Соколов\nООО \"Подарки Опт\"\nМосква",
     "Дмитрий Соколов", "ООО \"Подарки Опт\"", "Дмитрий Соколов"),
    ("arabic", "خالد السويدي\nمدير المشتريات\nشركة النور للتجارة العامة ذ.م.م\nدبي",
     "خالد السويدي", "شركة النور للتجارة العامة ذ.م.م", "خالد السويدي"),
    ("chinese", "星光飾品有限公司 採購部\n陳怡君 Yvonne Chen\n台北市", "陳怡君", "星光飾品有限公司",
     "陳怡君"),
    ("japanese", "株式会社花水木雑貨\n商品部　佐藤 美咲", "佐藤 美咲", "株式会社花水木雑貨", "佐藤 美咲"),
    ("first-name-only", "Peter\nNairobi Kenya", "Peter Mwangi", "", "Peter Mwangi"),
    ("name-after-sign-off", "Kind regards,\nOliver Bennett\nBuying Manager", "", "",
     "Oliver Bennett"),
    ("not-a-person", "Thank you,\nIT Help Desk", "Mail Administrator", "", ""),
    ("platform-sender", "Please do not reply.\nAlibaba.com", "Alibaba.com", "", ""),
]


@pytest.mark.parametrize(("signature", "name", "company", "contact"), cases(PEOPLE))
def test_company_and_contact(signature: str, name: str, company: str, contact: str) -> None:
    x = run("Please quote.", signature=signature, name=name)
    assert (x.company, x.contact_name) == (company, contact)


# --- the sample inbox -------------------------------------------------------------------

# What a salesperson reads in each A-grade inquiry of examples/inbox/README.md.
A_GRADE = {
    "02": ({"BS-ER-310"}, "DE"), "04": ({"BS-NK-101", "BS-RG-620"}, "US"),
    "05": ({"BS-HC-402"}, "MX"), "12": ({"BS-KC-518", "BS-BR-205"}, "RU"),
    "13": ({"BS-GB-730", "BS-NK-101"}, "MA"), "14": ({"BS-RG-620", "BS-NK-101"}, "AE"),
    "19": ({"BS-ER-310"}, "TW"), "24": ({"BS-NK-101"}, "IN"),
    "25": ({"BS-HC-402", "BS-BR-205"}, "TR"), "34": ({"BS-GB-730", "BS-NK-101"}, "ID"),
}


def _a_grade_in_readme() -> set[str]:
    readme = (INBOX / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| (\d\d) \|[^\n]*\| \*\*A\*\* \|", readme, re.MULTILINE))


def _sample(number: str) -> Mail:
    path = next((INBOX / "new").glob(f"*.sample{number}.brightstar"))
    return parse(path.read_bytes())


def test_the_table_below_follows_the_readme() -> None:
    assert _a_grade_in_readme() == set(A_GRADE)


@pytest.mark.parametrize("number", sorted(A_GRADE))
def test_a_grade_samples(number: str) -> None:
    skus, country = A_GRADE[number]
    mail = _sample(number)
    assert mail.date is not None
    x = extract(mail, CATALOG, GEO, mail.date.date())
    assert {h.sku for h in x.products} == skus
    assert x.quantities and all(q.amount >= 1000 for q in x.quantities)
    assert {q.sku for q in x.quantities} <= skus
    assert x.country == country, x.country_reason
    assert x.incoterms and x.payment_terms or number == "24"
    assert x.delivery is not None


def test_whole_inbox_extracts_without_error() -> None:
    for path in sorted((INBOX / "new").iterdir()):
        mail = parse(path.read_bytes())
        extract(mail, CATALOG, GEO, TODAY)


# --- purity -------------------------------------------------------------------------

PURE = ["daemon/catalog.py", "daemon/geo.py", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "daemon" / "extract").glob("*.py"))]
ALLOWED = {"__future__", "bisect", "calendar", "collections", "csv", "dataclasses", "datetime",
           "decimal", "functools", "io", "pathlib", "re", "types", "typing", "unicodedata"}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            top = name.split(".")[0]
            assert top in ALLOWED or top == "daemon", (module, name)
            assert name not in {"daemon.db", "daemon.parse", "daemon.store"}, (module, name)
