"""The classify stage: messages in, kind and deciding rule out, as plain tables.

Four parts: each rule kind on tiny rules written here; the shipped rules/classify.toml
on messages chosen to test its order and its false positives; bounce recipients and
permanence; rules files with planted mistakes. Then two corpora: the sample inbox
(every kind as examples/inbox/README.md lists it) and the sisimai bounces (print the
figures with `pytest -s`).
"""

from __future__ import annotations

import ast
import os
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from daemon.classify import ClassifyContext, ClassifyRules, classify
from daemon.errors import ConfigError
from daemon.parse import parse
from daemon.types import (Address, Attachment, Classification, DeliveryStatus, Kind, Mail,
                          PlatformLead)

ROOT = Path(__file__).resolve().parents[1]
RULES_FILE = ROOT / "rules" / "classify.toml"
INBOX = ROOT / "examples" / "inbox" / "new"
SISIMAI = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "sisimai-bounces"
OWN = frozenset({"brightstar-crafts.example"})
US = ClassifyContext(own_domains=OWN)
THREAD = ClassifyContext(own_domains=OWN, refers_to_us=True)


@pytest.fixture(scope="module")
def rules() -> ClassifyRules:
    return ClassifyRules.from_toml(tomllib.loads(RULES_FILE.read_text(encoding="utf-8")),
                                   str(RULES_FILE))


def message(*headers: str, body: str = "Hello, please quote 500 pcs BS-NK-101.\n") -> bytes:
    """A plain UTF-8 message from a buyer to us, with extra headers as given."""
    names = {h.split(":", 1)[0].lower() for h in headers}
    base = [h for h in ("From: Buyer <buyer@shop.example>",
                        "To: sales@brightstar-crafts.example", "Subject: Inquiry")
            if h.split(":", 1)[0].lower() not in names]
    head = "\n".join([*base, *headers, "Content-Type: text/plain; charset=utf-8"])
    return f"{head}\n\n{body}".encode()


def dsn(recipient: str, status: str, action: str = "failed", text: str = "") -> bytes:
    """A multipart/report delivery-status bounce, as Postfix sends it."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.relay.example>
To: sales@brightstar-crafts.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Precedence: bulk
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

{text or "I'm sorry to have to inform you that your message could not be delivered."}
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.relay.example

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
--B--
""".encode()


def sender(address: str, name: str = "") -> Address:
    return Address(name, address)


def one_rule(rule: str) -> ClassifyRules:
    """The rule written here, then a default rule deciding everything else."""
    text = rule + """
[[rule]]
name = "rest"
description = "the rest"
kind = "default"
result = "inquiry"
"""
    return ClassifyRules.from_toml(tomllib.loads(text), "test.toml")


def decide(rules: ClassifyRules, item: bytes | Mail,
           context: ClassifyContext = US) -> Classification:
    return classify(parse(item) if isinstance(item, bytes) else item, rules, context)


# ------------------------------------------------------------------ each rule kind

RULE_KIND_CASES: list[tuple[str, str, bytes | Mail, ClassifyContext, str]] = [
    ("header present",
     'kind = "header"\nheader = "List-Id"\npresent = true',
     Mail(list_id="<news.example>", text="x"), US, "probe"),
    ("header present, but absent",
     'kind = "header"\nheader = "List-Id"\npresent = true', Mail(text="hi"), US, "rest"),
    ("header equals the first word, any case",
     'kind = "header"\nheader = "Auto-Submitted"\nequals = ["auto-generated"]',
     Mail(auto_submitted="Auto-Generated (failure)"), US, "probe"),
    ("header matches a regex",
     'kind = "header"\nheader = "precedence"\nmatches = [\'^(bulk|junk)$\']',
     Mail(precedence="junk"), US, "probe"),
    ("header unless: Auto-Submitted: no is a person",
     'kind = "header"\nheader = "Auto-Submitted"\npresent = true\nunless = ["no"]',
     message("Auto-Submitted: no"), US, "rest"),
    ("sender local part, whole",
     'kind = "sender"\nlocal_parts = [\'mailer-daemon\']',
     Mail(from_=sender("MAILER-DAEMON@x.example")), US, "probe"),
    ("sender local part must match whole",
     'kind = "sender"\nlocal_parts = [\'mailer-daemon\']',
     Mail(from_=sender("not-mailer-daemon-fan@x.example"), text="hi"), US, "rest"),
    ("sender address, whole",
     'kind = "sender"\naddresses = [\'alerts@bank\\.example\']',
     Mail(from_=sender("Alerts@Bank.example")), US, "probe"),
    ("sender domain includes subdomains",
     'kind = "sender"\ndomains = ["example.com"]',
     Mail(from_=sender("a@mx.example.com")), US, "probe"),
    ("subject in any language",
     'kind = "subject"\npatterns = [\'自动回复|автоответ\']',
     Mail(subject="Автоответ: Re: цена"), US, "probe"),
    ("body needs min_hits different patterns",
     'kind = "body"\npatterns = [\'seo\', \'google\']\nmin_hits = 2',
     Mail(from_=sender("a@b.example"), text="We do SEO. SEO!"), US, "rest"),
    ("body with min_hits met",
     'kind = "body"\npatterns = [\'seo\', \'google\']\nmin_hits = 2',
     Mail(text="We do SEO for Google."), US, "probe"),
    ("body require: all must also occur",
     'kind = "body"\npatterns = [\'password\']\nrequire = [\'https?://\']',
     Mail(from_=sender("a@b.example"), text="verify your password"), US, "rest"),
    ("body looks at the new text, not the quoted history",
     'kind = "body"\npatterns = [\'unsubscribe\']',
     Mail(from_=sender("a@b.example"), text="Price is too high.",
          quoted="> To unsubscribe click here"), US, "rest"),
    ("body search_in quoted when asked",
     'kind = "body"\npatterns = [\'unsubscribe\']\nsearch_in = ["quoted"]',
     Mail(text="Price is too high.", quoted="> To unsubscribe click here"), US, "probe"),
    ("delivery-report: a delivery-status part",
     'kind = "delivery-report"', dsn("x@y.example", "5.1.1"), US, "probe"),
    ("delivery-report: one signature phrase is enough",
     'kind = "delivery-report"\nsignatures = [\'This is the qmail-send program\']',
     Mail(text="Hi. This is the qmail-send program at a.example."), US, "probe"),
    ("delivery-report: subject and body agree",
     'kind = "delivery-report"\nsubjects = [\'failure notice\']\nbodies = [\'user unknown\']',
     Mail(subject="failure notice", text="<x@y.example>: user unknown"), US, "probe"),
    ("delivery-report: one clue is not enough",
     'kind = "delivery-report"\nsubjects = [\'failure notice\']\nbodies = [\'not delivered\']',
     Mail(from_=sender("buyer@shop.example"), text="Our parcel was not delivered."),
     US, "rest"),
    ("delivery-report: a success receipt is not a bounce",
     'kind = "delivery-report"', dsn("x@y.example", "2.0.0", action="delivered"), US, "rest"),
    ("reply-to-us follows the context flag",
     'kind = "reply-to-us"', message(), THREAD, "probe"),
    ("reply-to-us without the flag",
     'kind = "reply-to-us"', message(), US, "rest"),
    ("platform: domain and subject",
     'kind = "platform"\nplatform = "P"\ndomains = ["p.example"]\nsubjects = [\'inquiry\']',
     Mail(from_=sender("n@mail.p.example"), subject="New inquiry"), US, "probe"),
    ("platform: another domain",
     'kind = "platform"\nplatform = "P"\ndomains = ["p.example"]',
     Mail(from_=sender("n@p.example.evil.example"), text="hi"), US, "rest"),
    ("own-domain, subdomain too",
     'kind = "own-domain"', Mail(from_=sender("it@mx.brightstar-crafts.example")), US,
     "probe"),
]


@pytest.mark.parametrize(("kind_params", "item", "context", "rule"),
                         [c[1:] for c in RULE_KIND_CASES], ids=[c[0] for c in RULE_KIND_CASES])
def test_rule_kind(kind_params: str, item: bytes | Mail, context: ClassifyContext,
                   rule: str) -> None:
    rules = one_rule(f'[[rule]]\nname = "probe"\ndescription = "probe"\nresult = "other"\n'
                     f'{kind_params}\n')
    assert decide(rules, item, context).reasons[0].rule == rule


def test_default_rule_needs_a_sender_and_words() -> None:
    rules = one_rule("")
    assert decide(rules, Mail(from_=sender("a@b.example"), text="send price")).kind == "inquiry"
    assert decide(rules, Mail(from_=sender("a@b.example"), text=" \n")).kind == "other"
    assert decide(rules, Mail(text="hello there")).kind == "other"
    pdf = Attachment("PO-117.pdf", "application/pdf", 1000)
    assert decide(rules, Mail(from_=sender("a@b.example"), subject="Our PO",
                              attachments=(pdf,))).kind == "inquiry"
    returned = Attachment("", "message/rfc822", 1000)
    assert decide(rules, Mail(from_=sender("a@b.example"), subject="Report",
                              attachments=(returned,))).kind == "other"


def test_description_placeholders_are_filled() -> None:
    rules = one_rule('[[rule]]\nname = "p"\ndescription = "says “{matched}” in {subject}"\n'
                     'kind = "subject"\nresult = "auto_reply"\npatterns = [\'out of office\']\n')
    found = decide(rules, Mail(subject="Out of Office: back Monday"))
    assert found.reasons[0].text == "says “Out of Office” in Out of Office: back Monday"


# ------------------------------------------------------------- the shipped rules

BOUNCE_TEXT = """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  purchasing@old-bazaar.example
    host mx.old-bazaar.example [192.0.2.1]
    SMTP error from remote mail server after RCPT TO:<purchasing@old-bazaar.example>:
    550 5.1.1 User unknown
"""
PHISHING = """Your mailbox is full (99%). Verify your password now to avoid suspension:
http://mail-verify.example/owa/login.php
"""
SEO = """I checked your website: it is not on the first page of Google. Our SEO team
will redesign it, mobile-friendly, from $199/month. Can I send a free audit?"""
ALIBABA = """Dear Lily Chen,

You have received a new inquiry on Alibaba.com.

  Buyer:          Ana Souza
  Company:        (not provided)
  Country/Region: Brazil
  Product:        Hair Claw Clip (BS-HC-402)
  Quantity:       500 Pieces

Message from the buyer:
----------------------------------------------------------------------
Please send price.
----------------------------------------------------------------------

To protect the buyer's privacy, the buyer's email address is not shown.
https://message.alibaba.com/message/default.htm#feedback/IQ1
"""
QUOTED_FOOTER = """Dear Lily,
your price is too high, can you do 0.80 for 10,000 pcs?

Rajesh

On Wed, 18 Nov 2026 at 10:42, Lily <sales@brightstar-crafts.example> wrote:
> Our quotation ...
> To unsubscribe from our newsletter, reply "unsubscribe".
"""

SHIPPED_CASES: list[tuple[str, bytes | Mail, ClassifyContext, str, str]] = [
    # Bounces first: they say Auto-Submitted and Precedence: bulk too.
    ("DSN with Auto-Submitted and Precedence: bulk", dsn("a@b.example", "5.1.1"), US,
     "bounce", "delivery-failure"),
    ("Exim text bounce", message("From: Mail Delivery System <Mailer-Daemon@mx.example>",
                                 "Subject: Mail delivery failed: returning message to sender",
                                 "Auto-Submitted: auto-replied", body=BOUNCE_TEXT),
     US, "bounce", "delivery-failure"),
    ("our own server's bounce", message("From: MAILER-DAEMON@mx.brightstar-crafts.example",
                                        "Subject: failure notice", body=BOUNCE_TEXT),
     US, "bounce", "delivery-failure"),
    ("a buyer's lost parcel is no bounce",
     message(body="The parcel could not be delivered, user unknown at the depot. "
                  "Please resend 200 pcs."), US, "inquiry", "person-writing"),
    ("delivery receipt", dsn("a@b.example", "2.0.0", action="delivered"), US, "other",
     "delivery-receipt"),
    ("feedback-loop complaint",
     message("Content-Type: multipart/report; report-type=feedback-report; boundary=X",
             body="--X\nContent-Type: text/plain\n\nThis is an abuse report\n--X--\n"),
     US, "other", "complaint-report"),
    # Auto-replies before lists: out-of-office mail often says Precedence: bulk.
    ("Auto-Submitted: auto-replied and Precedence: bulk",
     message("Auto-Submitted: auto-replied", "Precedence: bulk"), US, "auto_reply",
     "auto-replied-header"),
    ("X-Autoreply", message("X-Autoreply: yes"), US, "auto_reply", "autoreply-header"),
    ("German subject", message("Subject: Automatische Antwort: Angebot"), US, "auto_reply",
     "auto-reply-subject"),
    ("French subject", message("Subject: Réponse automatique : devis"), US, "auto_reply",
     "auto-reply-subject"),
    ("Spanish subject", message("Subject: Respuesta automática: cotización"), US,
     "auto_reply", "auto-reply-subject"),
    ("Chinese subject", message("Subject: 自动回复: 报价"), US, "auto_reply",
     "auto-reply-subject"),
    ("Russian subject", message("Subject: Автоответ: Re: цена"), US, "auto_reply",
     "auto-reply-subject"),
    ("Out of Office", message("Subject: Out of Office: back on 2 Dec"), US, "auto_reply",
     "auto-reply-subject"),
    ("List-Id", message("List-Id: <weekly.news.example>"), US, "newsletter", "mailing-list"),
    ("List-Unsubscribe", message("List-Unsubscribe: <mailto:u@news.example>"), US,
     "newsletter", "list-unsubscribe-header"),
    ("Precedence: list", message("Precedence: list"), US, "newsletter", "bulk-precedence"),
    ("Auto-Submitted: auto-generated", message("Auto-Submitted: auto-generated"), US,
     "other", "auto-generated-header"),
    ("Auto-Submitted: no is a person", message("Auto-Submitted: no"), US, "inquiry",
     "person-writing"),
    ("phishing with a link", message("Subject: Action required", body=PHISHING), US,
     "spam", "phishing"),
    ("phishing words without a link are not enough to call it phishing",
     message(body="Our mailbox is full, please verify your password policy with IT."),
     US, "inquiry", "person-writing"),
    ("SEO pitch with a fake Re:", message("Subject: Re: your website", body=SEO), US,
     "spam", "cold-pitch"),
    ("supplier pitch", message(body="Did you receive my last email? We are a professional "
                                    "manufacturer of paper bags. MOQ only 100 pcs."),
     US, "spam", "supplier-pitch"),
    ("a manufacturer who buys, asking for free samples, is a buyer",
     message(body="We are a manufacturer of gift sets and need 5,000 boxes. Can you send "
                  "free samples? Please send your catalogue."), US, "inquiry", "person-writing"),
    ("a buyer asking about the delivery status of goods is no bounce",
     message("Subject: Delivery status of our order PO-117",
             body="The goods were not delivered yet and the shipment is delayed. "
                  "Please check with your forwarder."), US, "inquiry", "person-writing"),
    ("spam footer 'if you wish to unsubscribe' is not a request",
     message(body="Great deals on teeth whitening! If you wish to unsubscribe click here."),
     US, "inquiry", "person-writing"),
    ("noreply sender", message("From: Shop <no-reply@shop.example>"), US, "other",
     "machine-sender"),
    ("colleague", message("From: Kevin <kevin@brightstar-crafts.example>"), US, "other",
     "own-domain"),
    ("Alibaba inquiry", message("From: Alibaba.com <notification@service.alibaba.com>",
                                "Subject: You have a new inquiry from Ana Souza (Brazil)",
                                body=ALIBABA), US, "platform", "platform-alibaba-inquiry"),
    ("Apple Mail's automatic unsubscribe",
     message("Subject: unsubscribe", "Auto-Submitted: auto-replied",
             body="Apple Mail sent this email to unsubscribe from the message."),
     US, "unsubscribe", "unsubscribe-subject"),
    ("remove me, in a reply to our newsletter",
     message("Subject: RE: New arrivals", body="Please remove me from your mailing list."),
     THREAD, "unsubscribe", "unsubscribe-request"),
    ("退订", message("Subject: 退订", body="谢谢"), US, "unsubscribe", "unsubscribe-subject"),
    ("отписаться", message(body="Прошу отписаться от рассылки."), US, "unsubscribe",
     "unsubscribe-request"),
    ("darse de baja", message(body="Quiero darme de baja de su lista."), US, "unsubscribe",
     "unsubscribe-request"),
    ("désabonner", message(body="Merci de me désabonner."), US, "unsubscribe",
     "unsubscribe-request"),
    ("unsubscribe only in the quoted footer of a reply", message(body=QUOTED_FOOTER), THREAD,
     "reply", "reply-to-our-mail"),
    ("a reply when the pipeline says it refers to us", message(), THREAD, "reply",
     "reply-to-our-mail"),
    ("the same message without the flag", message(), US, "inquiry", "person-writing"),
    ("asking for our catalogue stays an inquiry",
     message(body="Please send your catalogue and price list. We may order 1,000 pcs."), US,
     "inquiry", "person-writing"),
    ("'send price' alone", message(body="send price\n\nSent from my iPhone"), US,
     "inquiry", "person-writing"),
    ("nothing written", message(body="\n"), US, "other", "person-writing"),
]


@pytest.mark.parametrize(("item", "context", "kind", "rule"), [c[1:] for c in SHIPPED_CASES],
                         ids=[c[0] for c in SHIPPED_CASES])
def test_shipped_rules(rules: ClassifyRules, item: bytes | Mail, context: ClassifyContext,
                       kind: str, rule: str) -> None:
    found = decide(rules, item, context)
    assert (found.kind, found.reasons[0].rule) == (kind, rule), found.reasons


def test_platform_lead_is_read(rules: ClassifyRules) -> None:
    found = decide(rules, message("From: Alibaba.com <notification@service.alibaba.com>",
                                  "Subject: You have a new inquiry from Ana Souza",
                                  body=ALIBABA))
    assert found.platform == PlatformLead(
        platform="Alibaba.com", buyer_name="Ana Souza", country="Brazil",
        product="Hair Claw Clip (BS-HC-402)", quantity="500 Pieces",
        message="Please send price.",
        reply_url="https://message.alibaba.com/message/default.htm#feedback/IQ1")
    assert found.reasons[0].text == ("Alibaba.com forwards an inquiry from Ana Souza (Brazil); "
                                     "answer it on the platform")


def test_rule_order_is_what_the_file_says(rules: ClassifyRules) -> None:
    """The orderings the header comment of the rules file promises."""
    names = [rule.name for rule in rules.rules]
    at = names.index
    assert at("delivery-failure") < at("auto-replied-header") < at("bulk-precedence")
    assert at("platform-alibaba-rfq-digest") < at("bulk-precedence")
    assert at("list-unsubscribe-header") < at("unsubscribe-request")
    assert at("unsubscribe-subject") < at("auto-replied-header")
    assert at("unsubscribe-request") < at("reply-to-our-mail")
    assert at("delivery-failure") < at("own-domain") < at("unsubscribe-request")
    assert names[-1] == "person-writing"


# -------------------------------------------------------- bounce recipients, failure

RECIPIENT_CASES: list[tuple[str, Mail, tuple[str, ...], bool]] = [
    ("report block, source route", Mail(delivery_status=(DeliveryStatus(
        final_recipient="rfc822; <@relay.example:Ana@Shop.example>", action="failed",
        status="5.1.1"),)), ("ana@shop.example",), True),
    ("report block, delayed", Mail(delivery_status=(DeliveryStatus(
        final_recipient="rfc822;a@b.example", action="delayed", status="4.4.7"),)),
     ("a@b.example",), False),
    ("Postfix line", Mail(text="<a@b.example>: host mx said: 550 5.1.1 User unknown"),
     ("a@b.example",), True),
    ("Exim list", Mail(text=BOUNCE_TEXT), ("purchasing@old-bazaar.example",), True),
    ("Gmail wording", Mail(text="Your message wasn't delivered to ana@shop.example because "
                                "the address couldn't be found."), ("ana@shop.example",), False),
    ("Exchange wording", Mail(text="did not reach the following recipient(s):\n\n"
                                   "ana@shop.example on Thu, 29 Apr 2010\n    "
                                   "The recipient name is not recognized"),
     ("ana@shop.example",), False),
    ("never our own address nor the bouncer",
     Mail(from_=sender("postmaster@mx.example"),
          text="<sales@brightstar-crafts.example>: ok\n<postmaster@mx.example>: x\n"
               "<ana@shop.example>: 550 no such user"), ("ana@shop.example",), True),
    ("not a Message-ID, not the To of the bounce, not inside a word",
     Mail(to=(sender("lily@gmail.example"),),
          text="Delivery to the following recipient failed: lily@gmail.example\n"
               "Recipient address rejected: mailboxfull@shop.example\n"
               "Message-ID: <1234.abc@mx.example>"), ("mailboxfull@shop.example",), True),
    ("last resort: To of the returned copy",
     Mail(text="Returned mail\n\n---- copy ----\nFrom: sales@brightstar-crafts.example\n"
               "To: Ana <ana@shop.example>\nSubject: Offer"), ("ana@shop.example",), False),
    ("delay wording without 5.x.x is temporary",
     Mail(subject="Delivery Status Notification (Delay)",
          text="Delivery to the following recipient has been delayed:\n\n"
               "     ana@shop.example\n\nMessage will be retried for 2 more day(s)"),
     ("ana@shop.example",), False),
]


@pytest.mark.parametrize(("mail", "bounced", "permanent"), [c[1:] for c in RECIPIENT_CASES],
                         ids=[c[0] for c in RECIPIENT_CASES])
def test_bounce_recipients(mail: Mail, bounced: tuple[str, ...], permanent: bool) -> None:
    rules = one_rule('[[rule]]\nname = "b"\ndescription = "to {recipients}: {failure}"\n'
                     'kind = "subject"\nresult = "bounce"\npatterns = [\'\']\n')
    found = decide(rules, mail)
    assert (found.kind, found.bounced, found.permanent_failure) == ("bounce", bounced, permanent)
    assert found.reasons[0].text.startswith(f"to {', '.join(bounced)}: ")


# ------------------------------------------------------------ rules files with mistakes

PLANTED = """
[[rule]]
name = "good-one"
description = "fine"
kind = "subject"
result = "spam"
patterns = ['win money']

[[rule]]
name = "bad-kind"
description = "x"
kind = "headr"
result = "other"

[[rule]]
name = "bad-result"
description = "x"
kind = "subject"
result = "junk"
patterns = ['x']

[[rule]]
description = "no name"
kind = "subject"
result = "spam"
patterns = ['x']

[[rule]]
name = "bad-regex"
description = "x"
kind = "body"
result = "spam"
patterns = ['fine', 'unclosed (group']

[[rule]]
name = "bad-param"
description = "x"
kind = "subject"
result = "spam"
patterns = ['x']
pattern = 'y'

[[rule]]
name = "Bad_Name"
description = "Subject was {subjekt}"
kind = "header"
result = "newsletter"
header = "X-Mailer"
present = true

[[rule]]
name = "good-one"
description = "again"
kind = "body"
result = "spam"
patterns = ['x']
min_hits = "two"

[[rule]]
name = "rest"
description = "x"
kind = "default"
result = "inquiry"
"""


def test_planted_mistakes_are_all_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        ClassifyRules.from_toml(tomllib.loads(PLANTED), "rules/classify.toml")
    try:
        re.compile("unclosed (group")
    except re.error as exc:
        regex_error = str(exc)
    where = "rules/classify.toml: rule"
    assert caught.value.problems == [
        f"{where} 'bad-kind' (entry 2): unknown kind 'headr'; known kinds: header, sender, "
        "subject, body, delivery-report, reply-to-us, platform, own-domain, default",
        f"{where} 'bad-result' (entry 3): unknown result kind 'junk'; use one of inquiry, "
        "reply, auto_reply, bounce, unsubscribe, platform, newsletter, spam, other",
        f"{where} '?' (entry 4): missing name",
        f"{where} 'bad-regex' (entry 5): patterns: bad regex 'unclosed (group': {regex_error}",
        f"{where} 'bad-param' (entry 6): unknown parameter 'pattern'; this kind takes patterns",
        f"{where} 'Bad_Name' (entry 7): name 'Bad_Name' is not kebab-case (lower-case words "
        "joined by '-')",
        f"{where} 'Bad_Name' (entry 7): description: unknown placeholder {{subjekt}}; this rule "
        "fills header, value",
        f"{where} 'Bad_Name' (entry 7): header 'X-Mailer' is not one classify reads; use one "
        "of auto_submitted, precedence, list_id, list_unsubscribe, return_path, x_autoreply, "
        "content_type, report_type",
        f"{where} 'good-one' (entry 8): min_hits: must be a whole number",
        f"{where} 'good-one': the name is used 2 times",
    ]


@pytest.mark.parametrize(("text", "problem"), [
    ("", "rules/x.toml: no [[rule]] entries"),
    ('[[rule]]\nname = "a"\ndescription = "x"\nkind = "subject"\nresult = "spam"\n'
     "patterns = ['x']\n",
     "rules/x.toml: the last rule must be of kind 'default' (it decides what no other "
     "rule did)"),
    ('[[rule]]\nname = "d"\ndescription = "x"\nkind = "default"\nresult = "inquiry"\n'
     '[[rule]]\nname = "e"\ndescription = "x"\nkind = "default"\nresult = "inquiry"\n',
     "rules/x.toml: rule 'd' (entry 1): a 'default' rule decides everything left, so it "
     "must be the last"),
    ('[[rule]]\nname = "h"\ndescription = "x"\nkind = "header"\nresult = "other"\n'
     'header = "Precedence"\npresent = true\nequals = ["bulk"]\n'
     '[[rule]]\nname = "d"\ndescription = "x"\nkind = "default"\nresult = "inquiry"\n',
     "rules/x.toml: rule 'h' (entry 1): give exactly one of present, equals or matches"),
    ('[[rule]]\nname = "p"\ndescription = "{buyer}"\nkind = "platform"\nresult = "platform"\n'
     'platform = "P"\ndomains = ["p.example"]\n[rule.fields]\nemail = \'(x)\'\n'
     '[[rule]]\nname = "d"\ndescription = "x"\nkind = "default"\nresult = "inquiry"\n',
     "rules/x.toml: rule 'p' (entry 1): fields: unknown lead field 'email'; use buyer_name, "
     "buyer_company, country, product, quantity, message, reply_url"),
    ('[[rule]]\nname = "d"\ndescription = "{recipients}"\nkind = "default"\n'
     'result = "inquiry"\n',
     "rules/x.toml: rule 'd' (entry 1): description: unknown placeholder {recipients}; "
     "this rule fills address, words"),
    ('colour = "red"\n[[rule]]\nname = "d"\ndescription = "x"\nkind = "default"\n'
     'result = "inquiry"\n',
     "rules/x.toml: unknown top-level key 'colour': only [[rule]] entries belong here"),
])
def test_one_mistake(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ClassifyRules.from_toml(tomllib.loads(text), "rules/x.toml")
    assert caught.value.problems == [problem]


_STDLIB = {"__future__", "dataclasses", "re", "string", "typing", "collections"}


def test_classify_modules_are_pure() -> None:
    """Only the stdlib and the shared pure pieces: no I/O libraries, no other stages."""
    allowed = {"daemon.types", "daemon.errors", "daemon.classify_rules", "daemon.classify"}
    for name in ("classify.py", "classify_rules.py"):
        tree = ast.parse((ROOT / "daemon" / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            top = module.split(".")[0]
            assert module in allowed or (top != "daemon" and top in _STDLIB), (name, module)



# ------------------------------------------------------------------ the sample inbox

# sampleNN -> (kind, deciding rule), from examples/inbox/README.md.
INBOX_KINDS: dict[str, tuple[str, str]] = {
    **{f"sample{n:02d}": ("inquiry", "person-writing") for n in (
        1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 13, 14, 15, 17, 18, 19, 20, 22, 23, 25, 27, 30, 32,
        34)},
    "sample09": ("unsubscribe", "unsubscribe-request"),
    "sample11": ("newsletter", "mailing-list"),
    "sample16": ("auto_reply", "auto-replied-header"),
    "sample21": ("platform", "platform-alibaba-inquiry"),
    "sample24": ("reply", "reply-to-our-mail"),
    "sample26": ("bounce", "delivery-failure"),
    "sample28": ("spam", "phishing"),
    "sample29": ("platform", "platform-alibaba-inquiry"),
    "sample31": ("spam", "cold-pitch"),
    "sample33": ("platform", "platform-alibaba-rfq-digest"),
}


def inbox_mail(sample: str) -> Mail:
    path = next(INBOX.glob(f"*.{sample}.brightstar"))
    return parse(path.read_bytes())


@pytest.mark.parametrize("sample", sorted(INBOX_KINDS))
def test_sample_inbox(rules: ClassifyRules, sample: str) -> None:
    # Only sample24 is told to refer to us: its In-Reply-To is our quotation.
    context = THREAD if sample == "sample24" else US
    found = classify(inbox_mail(sample), rules, context)
    assert (found.kind, found.reasons[0].rule) == INBOX_KINDS[sample], found.reasons


def test_sample_inbox_threading_does_not_change_kinds(rules: ClassifyRules) -> None:
    """Told what the pipeline would tell (every In-Reply-To here is ours), kinds hold:
    an unsubscribe, an auto-reply and a bounce to our mail are not replies."""
    for sample, (kind, _) in INBOX_KINDS.items():
        mail = inbox_mail(sample)
        context = THREAD if mail.in_reply_to.endswith("@brightstar-crafts.example>") else US
        assert classify(mail, rules, context).kind == kind, sample


def test_sample_inbox_details(rules: ClassifyRules) -> None:
    bounce = classify(inbox_mail("sample26"), rules, US)
    assert bounce.bounced == ("purchasing@old-bazaar-imports.example",)
    assert bounce.permanent_failure
    lead = classify(inbox_mail("sample21"), rules, US).platform
    assert lead is not None
    assert (lead.buyer_name, lead.buyer_company, lead.country, lead.quantity) == (
        "Ahmed Al-Mansoori", "Al Mansoori Gifts Trading", "United Arab Emirates",
        "2,000 Pieces")
    assert lead.message.startswith("Hello,\nI am interested") and "-----" not in lead.message
    lead = classify(inbox_mail("sample29"), rules, US).platform
    assert lead is not None and lead.buyer_company == ""  # "(not provided)" is no name
    # The RFQ digest is a platform notification with no single buyer to answer.
    assert classify(inbox_mail("sample33"), rules, US).platform is None


# ------------------------------------------------------------- the sisimai bounces

# Files that are not bounces, read one by one, and what they are.
NOT_BOUNCES: dict[str, tuple[str, str]] = {
    **{f"arf-{n:02d}.eml": ("other", "spam-complaint or DMARC report (ARF)")
       for n in (1, 2, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25)},
    "arf-26.eml": ("unsubscribe", "Apple Mail's automatic unsubscribe"),
    **{f"rfc3834-{n:02d}.eml": ("auto_reply", "out-of-office reply") for n in range(1, 7)},
    "lhost-amazonses-11.eml": ("other", "Amazon SES complaint notification"),
    "lhost-amazonses-12.eml": ("other", "Amazon SES delivery (success) notification"),
    "lhost-amazonses-13.eml": ("other", "Amazon SES delivery (success) notification"),
    "lhost-fml-03.eml": ("other", "mailing-list loop alert"),
}
# Bounces whose failed address is nowhere in what Mail holds.
KNOWN_MISSES: dict[str, str] = {
    "lhost-exim-07.eml": "only in the X-Failed-Recipients header",
    "lhost-googleworkspace-01.eml": "only in the X-Failed-Recipients header",
    "lhost-x5-01.eml": "the report is inside an attached message",
    "lhost-postfix-64.eml": "'Delivery report unavailable'",
    "lhost-x1-02.eml": "body part parsed as an attachment (parameter on a continuation line)",
}
MIN_BOUNCES_FOUND = 0.95


def sisimai_files() -> list[Path]:
    if not SISIMAI.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the sisimai bounce corpus is missing: {SISIMAI}")
        pytest.skip(f"no sisimai bounce corpus at {SISIMAI}")
    return sorted(SISIMAI.glob("*.eml"))


def test_sisimai_bounces(rules: ClassifyRules) -> None:
    files = sisimai_files()
    kinds: Counter[str] = Counter()
    wrong: dict[str, str] = {}     # a non-bounce taken for something else
    misses: dict[str, str] = {}    # a bounce not recognised, or without its recipient
    for path in files:
        found = classify(parse(path.read_bytes()), rules, ClassifyContext())
        kinds[found.kind.value] += 1
        said = f"{found.kind} ({found.reasons[0].rule})"
        if path.name in NOT_BOUNCES:
            if found.kind != NOT_BOUNCES[path.name][0]:
                wrong[path.name] = f"{said}, not {NOT_BOUNCES[path.name][0]}"
        elif found.kind != Kind.BOUNCE or not found.bounced:
            misses[path.name] = f"{said}, failed recipients {found.bounced}"
    bounces = len(files) - len(NOT_BOUNCES)
    good = bounces - len(misses)
    print(f"\nsisimai: {len(files)} files, kinds {dict(kinds)}")
    print(f"bounce with a failed recipient: {good} of {bounces} bounces ({good / bounces:.1%}),"
          f" {good} of all {len(files)} files ({good / len(files):.1%})")
    print("not bounces, as expected:", dict(Counter(k for k, _ in NOT_BOUNCES.values())))
    print("misses:", *(f"{name}: {what} - {KNOWN_MISSES.get(name, 'NEW')}"
                       for name, what in {**wrong, **misses}.items()), sep="\n  ")
    assert kinds[Kind.INQUIRY] == 0
    assert good / bounces >= MIN_BOUNCES_FOUND
    assert not wrong, wrong
    assert set(misses) <= set(KNOWN_MISSES), misses
