"""Matching a sender to the buyer database: address, company domain, company name, new."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.match_buyer import (
    BuyerRef,
    Candidates,
    MatchingRules,
    company_key,
    decide,
    lookup_for,
)
from daemon.models import Buyer, BuyerAddress
from daemon.queries import DbLookups
from daemon.types import Address, Classification, Extracted, Kind, Mail, PlatformLead

ROOT = Path(__file__).resolve().parents[1]
RULES = MatchingRules.from_toml(tomllib.loads((ROOT / "rules" / "matching.toml").read_text()),
                                "rules/matching.toml")
OWN = frozenset({"brightstar-crafts.example"})


def mail(sender: str, name: str = "") -> Mail:
    return Mail(from_=Address(name, sender))


@pytest.mark.parametrize(("name", "key"), [
    ("Al Noor Trading LLC", "al noor"),
    ("AL-NOOR TRADING L.L.C.", "al noor"),
    ("Société Générale de Bijoux SARL", "societe generale de bijoux"),
    ("Shenzhen Bright Gifts Co., Ltd.", "shenzhen bright gifts"),
    ("义乌市明星工艺品有限公司", "义乌市明星工艺品"),
])
def test_company_key_folds_legal_forms_case_and_accents(name: str, key: str) -> None:
    assert company_key(name) == key


def test_free_mail_domains_never_group_buyers() -> None:
    inquiry = Classification(Kind.INQUIRY)
    look = lookup_for(mail("ahmed.buyer@gmail.com"), inquiry, Extracted(), RULES, OWN)
    assert (look.address, look.domain) == ("ahmed.buyer@gmail.com", "")
    look = lookup_for(mail("ali@alnoor.example"), inquiry, Extracted(), RULES, OWN)
    assert look.domain == "alnoor.example"


def test_bounce_concerns_the_failed_address_and_platform_hides_the_buyer() -> None:
    bounce = Classification(Kind.BOUNCE, bounced=("lost@importer.example",))
    look = lookup_for(mail("MAILER-DAEMON@mx.example"), bounce, Extracted(), RULES, OWN)
    assert look.address == "lost@importer.example"
    lead = PlatformLead("alibaba", buyer_name="Ahmed", buyer_company="Gulf Gifts LLC")
    look = lookup_for(mail("notify@service.alibaba.example"),
                      Classification(Kind.PLATFORM, platform=lead), Extracted(), RULES, OWN)
    assert (look.address, look.company_key, look.contact_name) == ("", "gulf gifts", "Ahmed")


def test_our_own_address_is_never_a_buyer() -> None:
    look = lookup_for(mail("lily@brightstar-crafts.example"), Classification(Kind.INQUIRY),
                      Extracted(), RULES, OWN)
    assert look.address == ""


@pytest.mark.parametrize(("candidates", "how", "buyer"), [
    (Candidates(by_address=BuyerRef(7)), "address", 7),
    (Candidates(by_domain=(BuyerRef(3, "Al Noor"),)), "domain", 3),
    (Candidates(by_company=(BuyerRef(4, "Al Noor"),)), "company", 4),
    (Candidates(by_company=(BuyerRef(4), BuyerRef(5))), "new", None),  # ambiguous: not merged
    (Candidates(), "new", None),
])
def test_decide_in_order(candidates: Candidates, how: str, buyer: int | None) -> None:
    look = lookup_for(mail("ali@alnoor.example"), Classification(Kind.INQUIRY),
                      Extracted(company="Al Noor Trading"), RULES, OWN)
    match = decide(look, candidates, may_create=True)
    assert (match.how, match.buyer_id) == (how, buyer)
    assert match.reasons and match.reasons[0].text


def test_an_auto_reply_from_a_stranger_creates_no_buyer() -> None:
    look = lookup_for(mail("x@y.example"), Classification(Kind.AUTO_REPLY), Extracted(), RULES, OWN)
    assert decide(look, Candidates(), may_create=False).how == "none"


def test_database_lookups_use_address_then_domain_then_company(db) -> None:
    with db.unit_of_work() as s:
        noor = Buyer(company="Al Noor Trading LLC", company_key="al noor")
        solo = Buyer(company="Solo Buyer", company_key="solo buyer")
        s.add_all([noor, solo])
        s.flush()
        s.add_all([BuyerAddress(buyer_id=noor.id, address="ali@alnoor.example",
                                domain="alnoor.example"),
                   BuyerAddress(buyer_id=solo.id, address="solo@gmail.com", domain="gmail.com")])
    with db.unit_of_work() as s:
        lookups = DbLookups(s)
        inquiry = Classification(Kind.INQUIRY)
        for sender, company, expected in [
            ("ali@alnoor.example", "", "address"),
            ("omar@alnoor.example", "", "domain"),
            ("omar@other.example", "AL NOOR TRADING L.L.C.", "company"),
            ("friend@gmail.com", "", "new"),  # same free-mail domain as solo: not grouped
        ]:
            look = lookup_for(mail(sender), inquiry, Extracted(company=company), RULES, OWN)
            match = decide(look, lookups.candidates(look), may_create=True)
            assert match.how == expected, (sender, match)
        ids = s.scalars(select(Buyer.id).order_by(Buyer.id)).all()
        assert lookups.history(ids[0]).known and not lookups.history(None).known
