"""RFQ digests: the parser (tables of text in, RFQs out), leads recorded once through the
pipeline, and `inquiryd rfqs list|set`."""

from __future__ import annotations

import json
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon import runner
from daemon.catalog import Catalog
from daemon.cli import main
from daemon.db import Database
from daemon.models import Draft, Inquiry, Message, RfqLead
from daemon.rfq_digest import Rfq, parse_digest, rfq_key
from daemon.rfq_record import matching_skus
from tests.helpers import ROOT, settings_for

ALIBABA = ROOT / "examples" / "inbox" / "new" / "1795384800.sample33.brightstar"
CATALOG = Catalog.from_csv_text((ROOT / "rules" / "catalog.csv").read_text("utf-8"), "catalog.csv")

ALIBABA_TEXT = """Dear Supplier,

New RFQs matching your products (Jewelry, Hair Accessories, Keychains)
were posted in the last 24 hours:

1. Custom acrylic keychains with logo, double-sided print
   Quantity: 10,000 Pieces | Destination: United States | Posted: 22 Nov 2026
   Quotes left: 7 of 10
   Quote now: https://sourcing.alibaba.example/rfq/RFQ-8820461733

2. 316L stainless steel name necklace, 18K gold plated
   Quantity: 5,000 Pieces | Destination: Saudi Arabia | Posted: 22 Nov 2026
   Quote now: https://sourcing.alibaba.example/rfq/RFQ-8820517209

RFQs close when 10 quotes are received or after 7 days.
Manage RFQ subscriptions: https://sourcing.alibaba.example/rfq/subscription
"""

MADE_IN_CHINA_TEXT = """Hello Brightstar,

Here are today's Sourcing Requests for your products:

Sourcing Request: Velvet jewellery gift boxes with logo
Purchase Quantity: 3,000 Pieces
Buyer: Maria Lopez
Company: Regalos del Sol SA de CV
Country/Region: Mexico
Posted on: 2026-11-20
View details: https://sourcing.made-in-china.example/request/detail?requestId=55012347
Sourcing Request: Satin scrunchies, 12 colours
Purchase Quantity: 20,000 Pieces
Country/Region: Chile
Posted on: Nov 19, 2026

Unsubscribe: https://www.made-in-china.example/unsubscribe
"""

BULLETED_TEXT = """Buying Requests you may like

• Adjustable brass rings, gold tone · Qty: 2,400 pcs · Location: Nigeria · Date: 18/11/2026
• Enamel lapel pins, custom design · Qty: 1,000 pcs · Location: Germany
• Enamel lapel pins, custom design · Qty: 1,000 pcs · Location: Germany
"""


@pytest.mark.parametrize(("text", "expected"), [
    (ALIBABA_TEXT, [
        Rfq("Custom acrylic keychains with logo, double-sided print", "10,000 Pieces",
            "United States", rfq_id="RFQ-8820461733",
            url="https://sourcing.alibaba.example/rfq/RFQ-8820461733", posted=date(2026, 11, 22)),
        Rfq("316L stainless steel name necklace, 18K gold plated", "5,000 Pieces",
            "Saudi Arabia", rfq_id="RFQ-8820517209",
            url="https://sourcing.alibaba.example/rfq/RFQ-8820517209", posted=date(2026, 11, 22)),
    ]),
    (MADE_IN_CHINA_TEXT, [
        Rfq("Velvet jewellery gift boxes with logo", "3,000 Pieces", "Mexico",
            buyer_name="Maria Lopez", company="Regalos del Sol SA de CV", rfq_id="55012347",
            url="https://sourcing.made-in-china.example/request/detail?requestId=55012347",
            posted=date(2026, 11, 20)),
        Rfq("Satin scrunchies, 12 colours", "20,000 Pieces", "Chile",
            posted=date(2026, 11, 19)),
    ]),
    # Fields on one line split by "·"; the same RFQ twice in one digest is one RFQ.
    (BULLETED_TEXT, [
        Rfq("Adjustable brass rings, gold tone", "2,400 pcs", "Nigeria",
            posted=date(2026, 11, 18)),
        Rfq("Enamel lapel pins, custom design", "1,000 pcs", "Germany"),
    ]),
    ("采购需求: 不锈钢项链\n数量: 500 个\n国家: 阿联酋\n", [
        Rfq("不锈钢项链", "500 个", "阿联酋")]),
    # Greetings, footers and links without a quantity or an RFQ id are no RFQs.
    ("Dear Supplier,\n\nNo new RFQs today.\n\nManage: https://x.example/rfq/settings\n", []),
    ("", []),
])
def test_parse_digest(text: str, expected: list[Rfq]) -> None:
    assert list(parse_digest(text)) == expected


def test_the_sample_inbox_digest_lists_three_rfqs() -> None:
    from daemon.parse import parse
    from daemon.types import ParseLimits

    rfqs = parse_digest(parse(ALIBABA.read_bytes(), ParseLimits()).text)
    assert [(r.rfq_id, r.quantity, r.country) for r in rfqs] == [
        ("RFQ-8820461733", "10,000 Pieces", "United States"),
        ("RFQ-8820517209", "5,000 Pieces", "Saudi Arabia"),
        ("RFQ-8819934580", "20,000 Pieces", "Brazil")]


def test_the_key_is_the_platforms_id_else_a_hash_of_what_was_asked() -> None:
    assert rfq_key(Rfq("Rings", "100 pcs", rfq_id="RFQ-1234567")) == "RFQ-1234567"
    plain = rfq_key(Rfq("Enamel lapel pins", "1,000 pcs", "Germany"))
    assert plain.startswith("sha256:") and len(plain) == 7 + 64
    assert rfq_key(Rfq("  enamel LAPEL pins ", "1,000  pcs", "germany")) == plain
    assert rfq_key(Rfq("Enamel lapel pins", "2,000 pcs", "Germany")) != plain


@pytest.mark.parametrize(("title", "skus"), [
    ("Custom acrylic keychains with logo, double-sided print", ["BS-KC-518"]),
    ("316L stainless steel name necklace, 18K gold plated", ["BS-NK-101"]),
    ("Matte claw hair clips, 12 pcs per display card", ["BS-HC-402"]),
    ("Necklaces and matching stud earrings", ["BS-NK-101", "BS-ER-310"]),
    ("Industrial ball bearings 6204", []),
])
def test_leads_carry_the_products_of_ours_they_match(title: str, skus: list[str]) -> None:
    assert matching_skus(title, CATALOG) == skus


# ------------------------------------------------------------------ through the pipeline


def maildir(tmp_path: Path) -> Path:
    root = tmp_path / "Maildir"
    for d in ("new", "cur", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return root


def desk(tmp_path: Path, db: Database, root: Path):  # type: ignore[no-untyped-def]
    box = f'[[mailbox]]\nname = "local"\nkind = "maildir"\npath = "{root}"\n'
    return settings_for(tmp_path, box, extra=f'[database]\nurl = "{db.url}"\n')


def test_a_digest_becomes_leads_once_each(tmp_path: Path, db: Database,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = maildir(tmp_path)
    digest = ALIBABA.read_bytes()
    (root / "new" / "1795384800.M1.host").write_bytes(digest)
    settings = desk(tmp_path, db, root)
    runner.poll(settings, db)
    # The next day's digest lists the same three RFQs again, and one new one.
    again = digest.replace(b"1795384800000.102938.rfqdigest", b"1795471200000.102999.rfqdigest")
    again = again.replace(b"3. Matte claw hair clips", b"4. Beaded anklets, mixed colours\r\n"
                          b"   Quantity: 3,000 Pieces | Destination: Kenya | Posted: 23 Nov 2026\r\n"
                          b"   Quote now: https://sourcing.alibaba.example/rfq/RFQ-8821000001\r\n\r\n"
                          b"3. Matte claw hair clips")
    (root / "new" / "1795471200.M2.host").write_bytes(again)
    runner.poll(settings, db)
    with db.unit_of_work() as s:
        leads = {r.rfq_key: r for r in s.scalars(select(RfqLead))}
        messages = s.scalars(select(Message).order_by(Message.id)).all()
        assert [m.kind for m in messages] == ["platform", "platform"]
        assert not s.scalars(select(Draft)).all() and not s.scalars(select(Inquiry)).all()
    assert sorted(leads) == ["RFQ-8819934580", "RFQ-8820461733", "RFQ-8820517209",
                             "RFQ-8821000001"]
    keychains = leads["RFQ-8820461733"]
    assert (keychains.platform, keychains.country, keychains.quantity, keychains.skus) == \
        ("Alibaba.com", "US", "10,000 Pieces", ["BS-KC-518"])
    assert keychains.posted_at is not None and keychains.posted_at.date() == date(2026, 11, 22)
    assert keychains.message_id == messages[0].id and keychains.state == "open"
    assert leads["RFQ-8821000001"].message_id == messages[1].id
    assert leads["RFQ-8821000001"].skus == ["BS-AK-840"]
    assert {leads[k].country for k in leads} == {"US", "SA", "BR", "KE"}

    config = str(settings.source)

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["-c", config, *argv])
        out, err = capsys.readouterr()
        return int(info.value.code or 0), out, err

    code, out, _ = run("rfqs", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4
    shown = next(r for r in rows if r["rfq"] == "RFQ-8820517209")
    assert shown["skus"] == ["BS-NK-101"] and shown["country"] == "SA"
    assert shown["url"].endswith("RFQ-8820517209") and shown["posted"] == "2026-11-22"
    code, out, _ = run("rfqs", "set", str(shown["id"]), "answered")
    assert code == 0 and f"#{shown['id']} is now answered" in out
    code, out, _ = run("rfqs", "list", "--state", "open")
    assert code == 0 and "4 lead(s)" not in out and "3 lead(s)" in out
    assert "316L" not in out and "matches: BS-KC-518" in out
    code, out, _ = run("rfqs", "list", "--state", "answered", "--json")
    assert [r["id"] for r in json.loads(out)] == [shown["id"]]
    code, _, err = run("rfqs", "set", "9999", "ignored")
    assert code == 1 and err.strip() == "inquiryd: no RFQ lead 9999 (see `inquiryd rfqs list`)"
    code, _, err = run("rfqs", "set", str(shown["id"]), "maybe")
    assert code == 2


def test_a_made_in_china_sourcing_digest_becomes_leads(tmp_path: Path, sqlite_db: Database) -> None:
    msg = EmailMessage()
    msg["From"] = '"Made-in-China.com" <sourcing@notice.made-in-china.example>'
    msg["To"] = "sales@brightstar.example"
    msg["Subject"] = "Today's Sourcing Requests for your products"
    msg["Date"] = "Fri, 20 Nov 2026 07:00:00 +0800"
    msg["Message-ID"] = "<sr-20261120@notice.made-in-china.example>"
    msg["Precedence"] = "bulk"
    msg.set_content(MADE_IN_CHINA_TEXT)
    root = maildir(tmp_path)
    (root / "new" / "1795600000.M3.host").write_bytes(msg.as_bytes())
    runner.poll(desk(tmp_path, sqlite_db, root), sqlite_db)
    with sqlite_db.unit_of_work() as s:
        (message,) = s.scalars(select(Message)).all()
        leads = s.scalars(select(RfqLead).order_by(RfqLead.id)).all()
        assert message.kind == "platform" and not s.scalars(select(Draft)).all()
        assert [(r.platform, r.rfq_key[:7], r.country, r.skus, r.buyer_name) for r in leads] == [
            ("Made-in-China.com", "5501234", "MX", ["BS-GB-730"], "Maria Lopez"),
            ("Made-in-China.com", "sha256:", "CL", ["BS-SC-455"], "")]
        assert leads[0].company == "Regalos del Sol SA de CV"
