"""Deal stages (pure): tables of mail facts in, moves and reasons out; the recogniser of a
buyer's confirmation in many languages, with the sentences that must not count."""

from __future__ import annotations

import pytest

from daemon import deals
from daemon.deals import BuyerMail, after_buyer_mail, after_our_mail, confirmation_phrase
from daemon.models import Stage


def test_the_stages_are_the_models_stages() -> None:
    assert deals.STAGES == tuple(s.value for s in Stage)
    assert deals.CLOSED == {"won", "lost", "dormant"}


@pytest.mark.parametrize(("mail", "to", "rule"), [
    # A buyer's answer to our quotation, whatever draft of ours it answers.
    (BuyerMail("quoted", "reply"), "negotiating", "buyer-answered-quotation"),
    (BuyerMail("quoted", "followup"), "negotiating", "buyer-answered-quotation"),
    # Samples asked for after the quotation.
    (BuyerMail("quoted", "reply", frozenset({"sample"})), "sample", "sample-requested"),
    (BuyerMail("negotiating", "reply", frozenset({"sample", "pi"})), "sample",
     "sample-requested"),
    # The confirmation letter confirmed, from any open stage before it.
    (BuyerMail("negotiating", "confirmation", text="We confirm the order."), "confirmed",
     "letter-confirmed"),
    (BuyerMail("sample", "confirmation", text="OK, please send the PI"), "confirmed",
     "letter-confirmed"),
    (BuyerMail("quoted", "confirmation", text="Confirmed, thanks"), "confirmed",
     "letter-confirmed"),
    # ... or in answer to our follow-up, once the letter went out.
    (BuyerMail("negotiating", "followup", text="Sorry for the delay. We confirm.",
               letter_sent=True), "confirmed", "letter-confirmed"),
])
def test_a_buyers_mail_moves_the_deal_forward(mail: BuyerMail, to: str, rule: str) -> None:
    move = after_buyer_mail(mail)
    assert move is not None and (move.to, move.rule) == (to, rule)
    assert move.reason.startswith("the buyer ")


@pytest.mark.parametrize("mail", [
    BuyerMail("new", "reply"),                                   # nothing was quoted yet
    BuyerMail("negotiating", "reply"),                           # haggling goes on
    BuyerMail("sample", "reply"),                                # a reply in sample stays
    BuyerMail("sample", "reply", frozenset({"sample"})),
    BuyerMail("confirmed", "reply", frozenset({"sample"})),      # never backwards
    BuyerMail("contract", "confirmation", text="We confirm."),
    BuyerMail("negotiating", "reply", text="We confirm the order."),   # no letter sent
    BuyerMail("negotiating", "followup", text="We confirm the order."),
    BuyerMail("negotiating", "confirmation", text="We cannot confirm yet."),
    BuyerMail("negotiating", "confirmation", text="Can we go ahead with 500 pcs?"),
    BuyerMail("won", "reply", frozenset({"sample"})),            # won/lost only by hand
    BuyerMail("lost", "confirmation", text="We confirm."),
    BuyerMail("dormant", "reply", frozenset({"sample"})),        # woken first (deals_record)
])
def test_no_move_where_the_rules_say_none(mail: BuyerMail) -> None:
    assert after_buyer_mail(mail) is None


def test_one_move_to_the_furthest_stage_with_every_reason() -> None:
    move = after_buyer_mail(BuyerMail("quoted", "reply", frozenset({"sample"})))
    assert move is not None and move.to == "sample"
    assert move.reason == "the buyer answered our quotation; the buyer asked for samples"


def test_the_confirmation_reason_quotes_the_buyers_words() -> None:
    move = after_buyer_mail(BuyerMail("sample", "confirmation",
                                      text="Dear Lily,\nWir bestätigen die Bestellung.\n"))
    assert move is not None
    assert move.reason == "the buyer confirmed our confirmation letter (\u201cWir bestätigen\u201d)"


@pytest.mark.parametrize(("kind", "stage", "to"), [
    ("reply", "new", "quoted"),
    ("reply", "quoted", None),              # a second answer does not re-quote
    ("reply", "negotiating", None),
    ("followup", "new", None),              # a follow-up is no quotation
    ("contract", "confirmed", "contract"),
    ("contract", "negotiating", "contract"),
    ("contract", "contract", None),
    ("contract", "won", None),
    ("contract", "dormant", None),
    ("confirmation", "negotiating", None),
    ("pi", "confirmed", None),
])
def test_our_mail_once_sent(kind: str, stage: str, to: str | None) -> None:
    move = after_our_mail(kind, stage)
    assert (move.to if move else None) == to


@pytest.mark.parametrize(("frm", "to", "ok"), [
    ("new", "quoted", True), ("quoted", "sample", True), ("sample", "negotiating", False),
    ("confirmed", "sample", False), ("contract", "confirmed", False), ("negotiating", "won", False),
    ("quoted", "lost", False), ("quoted", "dormant", False), ("won", "contract", False),
])
def test_automatic_moves_only_go_forward(frm: str, to: str, ok: bool) -> None:
    assert deals.forward(frm, to) is ok


@pytest.mark.parametrize(("before", "back"), [
    ("quoted", "negotiating"), ("negotiating", "negotiating"), ("sample", "sample"),
    ("confirmed", "confirmed"), ("new", "new"), (None, "negotiating"),
])
def test_a_dormant_deal_wakes_to_where_it_was(before: str | None, back: str) -> None:
    move = deals.woken(before)
    assert move.to == back and "wrote again" in move.reason


def test_gone_quiet_and_by_hand() -> None:
    quiet = deals.gone_quiet("quoted", 6)
    assert quiet is not None and quiet.to == "dormant" and "6 follow-ups" in quiet.reason
    assert deals.gone_quiet("won", 6) is None and deals.gone_quiet("dormant", 6) is None
    hand = deals.by_hand("contract", "won", "signed contract and deposit received", "lily")
    assert hand is not None and (hand.to, hand.reason) == (
        "won", "signed contract and deposit received")
    assert deals.by_hand("won", "quoted", "", "lily").reason == "set by hand by lily"  # type: ignore[union-attr]
    assert deals.by_hand("won", "won", "", "lily") is None
    with pytest.raises(ValueError, match="no stage 'closed'"):
        deals.by_hand("won", "closed", "", "lily")
    assert deals.continues("dormant") and not deals.continues("lost")


CONFIRMS = [
    # en
    ("We confirm the order as per your letter.", "We confirm"),
    ("Confirmed. Thanks Lily!", "Confirmed"),
    ("OK, please send the PI", "please send the PI"),
    ("All terms agreed, go ahead.", "agreed"),
    ("Go ahead with production please", "Go ahead"),
    ("I agree with all the terms in your confirmation letter.", "I agree"),
    ("OK", "OK"),
    ("Thank you. We accept your offer.", "We accept"),
    # es
    ("Confirmamos el pedido según su carta.", "Confirmamos"),
    ("De acuerdo, envíennos la proforma.", "De acuerdo"),
    ("Adelante con la producción.", "Adelante"),
    # pt
    ("Bom dia, confirmamos o pedido.", "confirmamos"),
    ("Estamos de acordo com os termos. Podem enviar a PI.", "de acordo"),
    # fr
    ("Bonjour, nous confirmons la commande.", "nous confirmons"),
    ("Bon pour accord. Merci d'envoyer la facture proforma.", "Bon pour accord"),
    ("D'accord pour tout.", "D'accord"),
    # de
    ("Wir bestätigen hiermit die Bestellung zu den angebotenen Konditionen.", "Wir bestätigen"),
    ("Einverstanden. Bitte senden Sie uns die Proforma-Rechnung.", "Einverstanden"),
    # ru
    ("Подтверждаем заказ на условиях вашего письма.", "Подтверждаем"),
    ("Согласны со всеми условиями, присылайте инвойс.", "Согласны"),
    # ar
    ("نؤكد الطلب حسب الشروط المذكورة.", "نؤكد"),
    ("نحن موافقون على جميع الشروط، يرجى إرسال الفاتورة المبدئية.", "موافق"),
    # zh
    ("我们确认订单，请发PI。", "确认"),
    ("同意以上条款。", "同意"),
    ("没问题，请发形式发票。", "没问题"),
]


@pytest.mark.parametrize(("text", "phrase"), CONFIRMS)
def test_a_confirmation_is_recognised(text: str, phrase: str) -> None:
    assert confirmation_phrase(text) == phrase


NOT_CONFIRMS = [
    # en: not yet, a condition, a question, a request to us, a receipt
    "We cannot confirm yet, our boss is travelling.",
    "Sorry, we can't confirm the order before the sample arrives",
    "Not confirmed yet.",
    "We will confirm next week.",
    "Can you confirm the delivery date?",
    "Could we go ahead with 500 pcs?",
    "Please confirm the lead time.",
    "I confirm receipt of your letter, we will check and revert.",
    "We agree with the price but need to check the packing with our client.",
    "The order needs to be approved by our director.",
    "Ok, we will think about it.",
    "Thank you for the letter.",
    "If you can do USD 0.80 we confirm 5000 pcs.",
    "We haven't made a decision yet. Prices look OK.",
    # a condition, in other languages
    "Si nos dejáis el precio en 0,40 USD/ud, confirmamos 8.000 unidades esta misma semana.",
    "Se o preço for 0,40, confirmamos o pedido.",
    "Wenn Sie 0,80 USD akzeptieren, wir bestätigen die Bestellung.",
    "Если сможете сделать 0,80, подтверждаем заказ.",
    "إذا خفضتم السعر نؤكد الطلب.",
    "如果价格能降到0.8，我们就确认订单。",
    # es, pt
    "Todavía no podemos confirmar el pedido.",
    "¿Pueden confirmar la fecha de embarque?",
    "Ainda não podemos confirmar.",
    "Por favor, confirme o prazo de entrega.",
    # fr
    "Nous ne pouvons pas encore confirmer la commande.",
    "Pouvez-vous confirmer le délai ?",
    # de
    "Wir können die Bestellung noch nicht bestätigen.",
    "Können Sie den Liefertermin bestätigen?",
    # ru
    "Пока не можем подтвердить заказ.",
    "Подтвердите, пожалуйста, срок поставки.",
    # ar
    "لا يمكننا تأكيد الطلب بعد.",
    "هل يمكنكم تأكيد موعد الشحن؟",
    # zh
    "暂时不能确认订单。",
    "请确认交货期。",
    "能确认交期吗？",
    "我们再考虑一下。",
]


@pytest.mark.parametrize("text", NOT_CONFIRMS)
def test_what_is_not_a_confirmation(text: str) -> None:
    assert confirmation_phrase(text) == ""


def test_only_the_new_text_counts_never_the_quoted_part() -> None:
    quoted = ("Thanks, we will check with our client.\n\n"
              "On Mon, 9 Nov 2026 at 14:05, Lily Chen <lily@brightstar.example> wrote:\n"
              "> We confirm the prices below.\n> Go ahead and tell us.\n")
    assert confirmation_phrase(quoted) == ""
    assert confirmation_phrase("Noted.\n> We confirm the order.\n") == ""
    german = "Danke.\n\nAm 09.11.2026 schrieb Lily Chen:\nWir bestätigen den Preis.\n"
    assert confirmation_phrase(german) == ""
    assert deals.new_text("Yes.\n-----Original Message-----\nWe confirm") == "Yes."
