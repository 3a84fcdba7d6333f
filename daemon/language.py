"""Which language a reply is written in (pure, stdlib only).

The extract stage guesses the buyer's language (`Extracted.language`, ISO 639-1). A reply
goes out in that language when templates/reply/<code>/ has the template it needs, and in
English otherwise: English is the trade's common language, and a reply in a language
the desk cannot read back is worse than a reply in English.

Choices:
- Traditional and Simplified Chinese (zh-TW, zh-Hant, zh-HK ...) all map to `zh`; the
  shipped zh templates are Simplified, which Taiwanese and Hong Kong buyers read.
- Portuguese buyers get English unless a `pt` folder exists: Spanish to a Brazilian
  reads as careless, English does not. Adding templates/reply/pt/ is all it takes.
- Any other language (de, tr, ja ...) falls back the same way, per template: a folder
  may hold only some of the templates, the rest come from en/.
"""

from __future__ import annotations

import re

# Languages the shipped templates are written in.
SHIPPED = ("en", "es", "fr", "ru", "ar", "zh")
FALLBACK = "en"

# Tags that name the same template folder as another code.
_ALIASES = {"zh-tw": "zh", "zh-hk": "zh", "zh-cn": "zh", "zh-hans": "zh", "zh-hant": "zh",
            "zh-sg": "zh", "cmn": "zh", "yue": "zh", "iw": "he", "in": "id"}
_CODE = re.compile(r"^[a-z]{2,3}$")


def normalise(tag: str) -> str:
    """A language tag as the folder name it maps to ('' when it is not a tag).

    >>> normalise("zh_TW"), normalise("ES"), normalise("pt-BR"), normalise("x")
    ('zh', 'es', 'pt', '')
    """
    tag = tag.strip().lower().replace("_", "-")
    if tag in _ALIASES:
        return _ALIASES[tag]
    base = tag.split("-", 1)[0]
    base = _ALIASES.get(base, base)
    return base if _CODE.match(base) else ""


def candidates(tag: str) -> tuple[str, ...]:
    """The template languages to try, best first, always ending with English."""
    code = normalise(tag)
    if not code or code == FALLBACK:
        return (FALLBACK,)
    return (code, FALLBACK)


def template_candidates(tag: str, variant: str) -> list[str]:
    """Loader names to try for one reply variant ("A", "sample", ...), best first."""
    return [f"reply/{code}/{variant}.txt.j2" for code in candidates(tag)]


def language_of(template_name: str) -> str:
    """The language folder of a reply template name ('reply/es/A.txt.j2' -> 'es')."""
    parts = template_name.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "reply" else FALLBACK


# ------------------------------------------------------------------ quotation sheet words
# The labels of the plain-text quotation sheet (daemon.quotation), per language. Values
# with {braces} are filled in by the sheet. A language without an entry uses English.

_SHEET: dict[str, dict[str, str]] = {
    "en": {
        "title": "QUOTATION", "date": "Date", "valid_until": "Valid until",
        "col_no": "No.", "col_item": "Item", "col_product": "Product", "col_moq": "MOQ",
        "col_qty": "Quantity", "col_price": "Unit USD", "col_amount": "Amount USD",
        "total": "Total", "spec": "Specification", "moq": "MOQ",
        "price_tiers": "Price tiers (USD)", "your_quantity": "Your quantity",
        "below_moq": "{asked} is below our MOQ; quoted at the MOQ of {moq}",
        "lead_time": "Lead time", "lead_time_value": "{days} days after deposit",
        "certifications": "Certificates", "terms": "TERMS", "price_basis": "Prices",
        "your_terms": "Your terms",
        "freight_note": "{term} {place}: freight and insurance are added in the proforma "
                        "invoice once quantity and carton volume are confirmed",
        "your_port": "your port", "payment": "Payment",
        "payment_default": "30% T/T deposit, 70% before shipment",
        "packaging": "Packaging",
        "packaging_default": "each piece in an OPP bag, 100 pcs per inner bag, export "
                             "cartons; custom cards, bags and boxes on request",
        "unit_pcs": "pcs", "unit_pairs": "pairs", "unit_sets": "sets",
    },
    "es": {
        "title": "COTIZACIÓN", "date": "Fecha", "valid_until": "Válida hasta",
        "col_no": "N.º", "col_item": "Ref.", "col_product": "Producto",
        "col_moq": "Pedido mín.", "col_qty": "Cantidad", "col_price": "Precio USD",
        "col_amount": "Importe USD", "total": "Total", "spec": "Especificación",
        "moq": "Pedido mínimo", "price_tiers": "Precios por volumen (USD)",
        "your_quantity": "Su cantidad",
        "below_moq": "{asked} está por debajo de nuestro pedido mínimo; cotizamos el "
                     "mínimo de {moq}",
        "lead_time": "Plazo de producción",
        "lead_time_value": "{days} días tras recibir el anticipo",
        "certifications": "Certificaciones", "terms": "CONDICIONES", "price_basis": "Precios",
        "your_terms": "Sus condiciones",
        "freight_note": "{term} {place}: el flete y el seguro se añaden en la factura "
                        "proforma una vez confirmados la cantidad y el volumen de las cajas",
        "your_port": "su puerto", "payment": "Pago",
        "payment_default": "30 % de anticipo por T/T, 70 % antes del embarque",
        "packaging": "Embalaje",
        "packaging_default": "cada pieza en bolsa OPP, 100 piezas por bolsa interior, cajas "
                             "de exportación; tarjetas, bolsas y cajas personalizadas bajo "
                             "pedido",
        "unit_pcs": "pzas", "unit_pairs": "pares", "unit_sets": "juegos",
    },
    "fr": {
        "title": "DEVIS", "date": "Date", "valid_until": "Valable jusqu'au",
        "col_no": "N°", "col_item": "Réf.", "col_product": "Produit",
        "col_moq": "Qté min.", "col_qty": "Quantité", "col_price": "Prix unit. USD",
        "col_amount": "Montant USD", "total": "Total", "spec": "Caractéristiques",
        "moq": "Qté minimum", "price_tiers": "Prix dégressifs (USD)",
        "your_quantity": "Votre quantité",
        "below_moq": "{asked} est en dessous de notre minimum de commande ; prix établi "
                     "pour le minimum de {moq}",
        "lead_time": "Délai de production",
        "lead_time_value": "{days} jours après réception de l'acompte",
        "certifications": "Certifications", "terms": "CONDITIONS", "price_basis": "Prix",
        "your_terms": "Vos conditions",
        "freight_note": "{term} {place} : le fret et l'assurance seront ajoutés sur la "
                        "facture pro forma dès que la quantité et le volume des cartons "
                        "seront confirmés",
        "your_port": "votre port", "payment": "Paiement",
        "payment_default": "acompte de 30 % par T/T, solde de 70 % avant expédition",
        "packaging": "Emballage",
        "packaging_default": "chaque pièce en sachet OPP, 100 pièces par sachet intérieur, "
                             "cartons d'export ; cartes, sachets et boîtes personnalisés "
                             "sur demande",
        "unit_pcs": "pcs", "unit_pairs": "paires", "unit_sets": "lots",
    },
    "ru": {
        "title": "КОММЕРЧЕСКОЕ ПРЕДЛОЖЕНИЕ", "date": "Дата", "valid_until": "Действительно до",
        "col_no": "№", "col_item": "Артикул", "col_product": "Товар",
        "col_moq": "Мин. партия", "col_qty": "Количество", "col_price": "Цена USD",
        "col_amount": "Сумма USD", "total": "Итого", "spec": "Характеристики",
        "moq": "Минимальная партия", "price_tiers": "Цены от объёма (USD)",
        "your_quantity": "Ваше количество",
        "below_moq": "{asked} меньше минимальной партии; цена указана за минимальную "
                     "партию {moq}",
        "lead_time": "Срок производства",
        # "дн." reads right after any number (Russian plurals change with the number).
        "lead_time_value": "{days} дн. после получения предоплаты",
        "certifications": "Сертификаты", "terms": "УСЛОВИЯ", "price_basis": "Цены",
        "your_terms": "Ваши условия",
        "freight_note": "{term} {place}: фрахт и страховка будут добавлены в проформу-"
                        "инвойс после подтверждения количества и объёма коробок",
        "your_port": "ваш порт", "payment": "Оплата",
        "payment_default": "30% предоплата T/T, 70% до отгрузки",
        "packaging": "Упаковка",
        "packaging_default": "каждое изделие в пакете OPP, по 100 шт. во внутреннем пакете, "
                             "экспортные коробки; фирменные карточки, пакеты и коробки под "
                             "заказ",
        "unit_pcs": "шт.", "unit_pairs": "пар", "unit_sets": "компл.",
    },
    "ar": {
        "title": "عرض أسعار", "date": "التاريخ", "valid_until": "صالح حتى",
        "col_no": "رقم", "col_item": "الرمز", "col_product": "المنتج",
        "col_moq": "أقل كمية", "col_qty": "الكمية", "col_price": "السعر USD",
        "col_amount": "المبلغ USD", "total": "الإجمالي", "spec": "المواصفات",
        "moq": "الحد الأدنى للطلب", "price_tiers": "الأسعار حسب الكمية (USD)",
        "your_quantity": "الكمية المطلوبة",
        "below_moq": "{asked} أقل من الحد الأدنى للطلب؛ السعر محسوب على الحد الأدنى {moq}",
        "lead_time": "مدة التصنيع",
        "lead_time_value": "{days} يومًا بعد استلام الدفعة المقدمة",
        "certifications": "الشهادات", "terms": "الشروط", "price_basis": "الأسعار",
        "your_terms": "شروطكم",
        "freight_note": "{term} {place}: تُضاف تكاليف الشحن والتأمين في الفاتورة المبدئية "
                        "بعد تأكيد الكمية وحجم الكراتين",
        "your_port": "مينائكم", "payment": "الدفع",
        "payment_default": "30% دفعة مقدمة بالتحويل البنكي (T/T)، و70% قبل الشحن",
        "packaging": "التغليف",
        "packaging_default": "كل قطعة في كيس OPP، و100 قطعة في كيس داخلي، ثم كراتين تصدير؛ "
                             "بطاقات وأكياس وعلب مخصصة عند الطلب",
        "unit_pcs": "قطعة", "unit_pairs": "زوج", "unit_sets": "طقم",
    },
    "zh": {
        "title": "报价单", "date": "日期", "valid_until": "有效期至",
        "col_no": "序号", "col_item": "货号", "col_product": "品名", "col_moq": "起订量",
        "col_qty": "数量", "col_price": "单价(USD)", "col_amount": "金额(USD)",
        "total": "合计", "spec": "规格", "moq": "起订量", "price_tiers": "阶梯价格(USD)",
        "your_quantity": "您的数量",
        "below_moq": "{asked} 低于起订量，按起订量 {moq} 报价",
        "lead_time": "交货期", "lead_time_value": "收到定金后 {days} 天",
        "certifications": "认证", "terms": "贸易条款", "price_basis": "价格条款",
        "your_terms": "贵方条款",
        "freight_note": "{term} {place}：运费和保险费将在确认数量和箱规体积后计入形式发票",
        "your_port": "贵方港口", "payment": "付款方式",
        "payment_default": "30% T/T定金，70%发货前付清",
        "packaging": "包装",
        "packaging_default": "每件独立OPP袋，100件一中袋，出口纸箱；可按要求定制卡片、袋子和盒子",
        "unit_pcs": "件", "unit_pairs": "对", "unit_sets": "套",
    },
}


def sheet_labels(lang: str) -> dict[str, str]:
    """The quotation sheet's words in `lang`, English where a word is missing."""
    words = _SHEET.get(normalise(lang), {})
    return {**_SHEET[FALLBACK], **words}


# The subject a reply gets when the buyer's message had none ("Re: Your inquiry").
_SUBJECT_FALLBACK = {"en": "Your inquiry", "es": "Su consulta", "fr": "Votre demande",
                     "ru": "Ваш запрос", "ar": "استفساركم", "zh": "您的询盘"}


def subject_fallback(lang: str) -> str:
    return _SUBJECT_FALLBACK.get(normalise(lang), _SUBJECT_FALLBACK[FALLBACK])
