"""Campaigns end to end: files, deliveries, sending to aiosmtpd once each, resuming,
the weekly cap, and unsubscribes and bounces coming back in through a real poll."""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, update

from daemon import campaigns, config, newsletter, runner
from daemon.cli import cli
from daemon.db import Database
from daemon.errors import ConfigError, UsageError
from daemon.models import (
    Buyer,
    BuyerAddress,
    Campaign,
    Delivery,
    Event,
    Inquiry,
    Message,
)
from tests.helpers import COMPANY, ROOT

CORPUS = ROOT.parent / "shared" / "corpus"
SENDER = "lily@brightstar.example"


def write_settings(tmp_path: Path, server: Any, sending: str = "",
                   templates: Path | None = None) -> Path:
    maildir = tmp_path / "Maildir"
    mailbox.Maildir(maildir, create=True)
    path = tmp_path / "inquiryd.toml"
    path.write_text(COMPANY + f"""website = "https://brightstar.example"
contact_person = "Lily Chen"

[[mailbox]]
name = "sales"
kind = "maildir"
path = "{maildir}"

[smtp]
host = "{server.host}"
port = {server.port}
tls = "none"
sender = "Lily Chen <{SENDER}>"
timeout_seconds = 5

[sending]
per_minute = 10000
{sending}

[paths]
rules = "{ROOT / 'rules'}"
templates = "{templates or ROOT / 'templates'}"
state = "{tmp_path / 'state'}"

[database]
url = "sqlite:///{tmp_path / 'state' / 'inquiryd.db'}"
""", encoding="utf-8")
    return path


def seed_buyers(db: Database, count: int, *, start: int = 0, **fields: Any) -> None:
    """`count` buyers with one address each (bulk, as a desk's import would)."""
    with db.unit_of_work() as s:
        first = (s.scalar(select(Buyer.id).order_by(Buyer.id.desc()).limit(1)) or 0) + 1
        base = {"grade": "B", "country": "AE", "region": "middle_east", "source": "alibaba",
                "buyer_type": "importer", "status": "active", **fields}
        s.execute(insert(Buyer), [{"id": first + i, "company": f"Importer {start + i}",
                                   "contact_name": f"Buyer {start + i}", **base}
                                  for i in range(count)])
        s.execute(insert(BuyerAddress), [{"buyer_id": first + i,
                                          "address": f"buyer{start + i}@importer.example",
                                          "domain": "importer.example"}
                                         for i in range(count)])


@pytest.fixture
def desk(tmp_path: Path, smtp_server: Any) -> Any:
    settings = config.load(write_settings(tmp_path, smtp_server), environ={})
    db = Database(settings.database_url)
    db.upgrade()
    yield settings, db
    db.dispose()


def deliveries(db: Database) -> dict[str, str]:
    with db.unit_of_work() as s:
        return {a: st for a, st in s.execute(select(Delivery.address, Delivery.state))}


def parsed(server: Any) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.raw, policy=email.policy.default)
            for m in server.messages]


# -- sending ----------------------------------------------------------------------------------

def test_a_campaign_reaches_its_segment_once_with_the_list_headers(desk: Any,
                                                                   smtp_server: Any) -> None:
    settings, db = desk
    seed_buyers(db, 5, grade="A")
    seed_buyers(db, 2, start=5, grade="C")                     # outside the segment
    seed_buyers(db, 1, start=7, status="won")
    seed_buyers(db, 1, start=8, status="do-not-contact")
    seed_buyers(db, 2, start=9)
    with db.unit_of_work() as s:
        s.execute(update(BuyerAddress).where(BuyerAddress.address == "buyer9@importer.example")
                  .values(status="unsubscribed"))
        s.execute(update(BuyerAddress).where(BuyerAddress.address == "buyer10@importer.example")
                  .values(status="bounced"))
    report = campaigns.send_campaign(settings, db, "canton-fair-invitation")
    assert (report.sent, report.recipients, report.remaining, report.error) == (5, 5, 0, None)

    received = parsed(smtp_server)
    assert sorted(m["To"].addresses[0].addr_spec for m in received) == \
        [f"buyer{i}@importer.example" for i in range(5)]
    secret = campaigns.unsubscribe_secret(settings.paths.state)
    with db.unit_of_work() as s:
        ids = {a.address: a.id for a in s.scalars(select(BuyerAddress))}
    for m in received:
        assert m["From"] == f"Lily Chen <{SENDER}>"
        assert m["Auto-Submitted"] == "auto-generated" and m["Precedence"] == "bulk"
        assert "booth 17.2 F23" in m["Subject"] and "17.2 F23" in m.get_content()
        token = re.fullmatch(rf"<mailto:{SENDER}\?subject=unsubscribe%20(\S+)>",
                             m["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
        assert newsletter.verify_token(secret, token) == ids[m["To"].addresses[0].addr_spec]
        assert m["List-Unsubscribe-Post"] is None  # no URL configured
    assert len({m["Message-ID"] for m in received}) == 5
    with db.unit_of_work() as s:
        sent = s.scalars(select(Message).where(Message.kind == "newsletter")).all()
        campaign = s.scalars(select(Campaign)).one()
    assert len(sent) == 5 and all(m.direction == "out" and m.sent_at for m in sent)
    assert campaign.state == "done" and campaign.segment == {"grades": ["A", "B"]}
    assert (settings.paths.state / "unsubscribe.key").stat().st_mode & 0o777 == 0o600

    again = campaigns.send_campaign(settings, db, "canton-fair-invitation")
    assert again.sent == 0 and len(smtp_server.messages) == 5


def test_resume_never_sends_a_claimed_delivery_again(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    seed_buyers(db, 4)
    with db.unit_of_work() as s:
        campaigns.prepare(s, campaigns.load_campaign(settings, "canton-fair-invitation"))
        s.execute(update(Delivery).where(Delivery.address == "buyer1@importer.example")
                  .values(state="sending"))  # as a killed process leaves it
    report = campaigns.send_campaign(settings, db, "canton-fair-invitation")
    assert (report.recovered_unknown, report.sent) == (1, 3)
    assert deliveries(db)["buyer1@importer.example"] == "unknown"
    assert "buyer1@importer.example" not in {m.rcpt_tos[0] for m in smtp_server.messages}


def test_unsubscribed_after_the_list_was_made_and_the_weekly_cap_skip(desk: Any,
                                                                     smtp_server: Any) -> None:
    settings, db = desk
    seed_buyers(db, 3)
    now = datetime.now(timezone.utc)
    with db.unit_of_work() as s:
        campaigns.prepare(s, campaigns.load_campaign(settings, "canton-fair-invitation"))
        s.execute(update(BuyerAddress).where(BuyerAddress.address == "buyer0@importer.example")
                  .values(status="unsubscribed"))
        for n, kind in enumerate(("followup", "newsletter")):  # buyer 2: two this week
            s.add(Message(direction="out", kind=kind, buyer_id=2, message_id=f"<f{n}@x>",
                          dedup_key=f"f{n}", size=1, sent_at=now - timedelta(days=n + 1)))
        s.add(Message(direction="out", kind="followup", buyer_id=3, message_id="<old@x>",
                      dedup_key="old", size=1, sent_at=now - timedelta(days=8)))
    report = campaigns.send_campaign(settings, db, "canton-fair-invitation")
    assert (report.sent, report.skipped) == (1, 2)
    assert deliveries(db) == {"buyer0@importer.example": "skipped",
                              "buyer1@importer.example": "skipped",
                              "buyer2@importer.example": "sent"}
    with db.unit_of_work() as s:
        errors = dict(s.execute(select(Delivery.address, Delivery.error)).all())
    assert "unsubscribed" in errors["buyer0@importer.example"]
    assert "frequency cap" in errors["buyer1@importer.example"]


def test_server_answers_retry_fail_and_unknown(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    seed_buyers(db, 4)
    smtp_server.fail_next(451, stage="RCPT")
    smtp_server.fail_next(550, stage="DATA")
    smtp_server.disconnect_after_data()
    report = campaigns.send_campaign(settings, db, "canton-fair-invitation")
    assert (report.retry_later, report.failed, report.unknown, report.sent) == (1, 1, 1, 1)
    assert report.remaining == 1
    again = campaigns.send_campaign(settings, db, "canton-fair-invitation")
    assert (again.sent, again.remaining) == (1, 0)
    assert sorted(deliveries(db).values()) == ["failed", "sent", "sent", "unknown"]


def test_no_server_charges_nothing(tmp_path: Path, smtp_server: Any) -> None:
    path = write_settings(tmp_path, smtp_server)
    path.write_text(path.read_text().replace(f"port = {smtp_server.port}", "port = 9"))
    settings = config.load(path, environ={})
    db = Database(settings.database_url)
    db.upgrade()
    seed_buyers(db, 2)
    report = campaigns.send_campaign(settings, db, "canton-fair-invitation")
    assert report.error and report.sent == 0 and report.remaining == 2
    assert set(deliveries(db).values()) == {"pending"}
    db.dispose()


def test_a_template_naming_the_buyer_is_rendered_per_buyer(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    seed_buyers(db, 2, grade="C")
    with db.unit_of_work() as s:
        s.execute(update(Buyer).where(Buyer.id == 1).values(contact_name="Jürgen Weiß"))
    campaigns.send_campaign(settings, db, "festival-greetings")
    bodies = {m["To"].addresses[0].addr_spec: m.get_content() for m in parsed(smtp_server)}
    assert bodies["buyer0@importer.example"].startswith("Dear Jürgen Weiß,")
    assert bodies["buyer1@importer.example"].startswith("Dear Buyer 1,")


def test_products_of_interest_come_from_their_inquiries(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    seed_buyers(db, 3)
    with db.unit_of_work() as s:
        s.add(Inquiry(buyer_id=2, grade="B", products=[{"sku": "BS-BR-205", "name": "x"}]))
        s.execute(update(Buyer).values(last_contact_at=datetime(2026, 1, 5, tzinfo=timezone.utc)))
    report = campaigns.send_campaign(settings, db, "new-products")
    assert report.sent == 1 and smtp_server.messages[0].rcpt_tos == ("buyer1@importer.example",)


def test_one_click_url_when_configured(tmp_path: Path, smtp_server: Any) -> None:
    settings = config.load(write_settings(
        tmp_path, smtp_server, 'unsubscribe_url = "https://brightstar.example/u"'), environ={})
    db = Database(settings.database_url)
    db.upgrade()
    seed_buyers(db, 1)
    campaigns.send_campaign(settings, db, "canton-fair-invitation")
    message = parsed(smtp_server)[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.search(r", <https://brightstar\.example/u\?token=\d+-[0-9a-f]{20}>$",
                     message["List-Unsubscribe"])
    db.dispose()


def test_campaign_file_mistakes_name_file_and_key(tmp_path: Path, smtp_server: Any) -> None:
    templates = tmp_path / "templates"
    (templates / "newsletter").mkdir(parents=True)
    (templates / "newsletter" / "bad.toml").write_text(
        'subject = "x"\ntemplate = "bad.txt.j2"\ncolour = "red"\n')
    (templates / "newsletter" / "bad.txt.j2").write_text("Hello\n")
    settings = config.load(write_settings(tmp_path, smtp_server, templates=templates),
                           environ={})
    with pytest.raises(ConfigError, match=r"bad\.toml: colour: unknown key"):
        campaigns.load_campaign(settings, "bad")
    with pytest.raises(UsageError, match="no campaign 'nope'"):
        campaigns.load_campaign(settings, "nope")


def test_every_shipped_campaign_loads_and_renders(desk: Any) -> None:
    settings, db = desk
    seed_buyers(db, 1, grade="A")
    names = campaigns.campaign_names(settings)
    assert {"canton-fair-invitation", "new-products", "festival-greetings"} <= set(names)
    for name in names:
        data = campaigns.preview(settings, db, name)
        assert data["subject"] and "{{" not in data["subject"]


# -- the command line -------------------------------------------------------------------------

def test_cli_list_preview_dry_run_and_send(desk: Any, smtp_server: Any, tmp_path: Path) -> None:
    settings, db = desk
    seed_buyers(db, 3)
    seed_buyers(db, 1, start=3, grade="D")
    cfg = ["-c", str(tmp_path / "inquiryd.toml")]
    run = CliRunner().invoke
    preview = run(cli, [*cfg, "campaign", "preview", "canton-fair-invitation"])
    assert preview.exit_code == 0, preview.output
    assert "3 recipient(s)" in preview.output and "List-Unsubscribe: <mailto:" in preview.output
    assert "outside the segment" in preview.output
    dry = run(cli, [*cfg, "campaign", "send", "canton-fair-invitation", "--dry-run"])
    assert dry.exit_code == 0 and "would go to 3" in dry.output and not smtp_server.messages
    sent = run(cli, [*cfg, "campaign", "send", "canton-fair-invitation"])
    assert sent.exit_code == 0 and "sent 3" in sent.output, sent.output
    listed = run(cli, [*cfg, "campaign", "list"])
    assert "canton-fair-invitation: done" in listed.output and "sent 3" in listed.output
    shown = run(cli, [*cfg, "campaign", "address", "buyer0@importer.example", "unsubscribed"])
    assert "unsubscribed" in shown.output and "set by hand" in shown.output
    back = run(cli, [*cfg, "campaign", "address", "buyer0@importer.example", "active"])
    assert back.exit_code == 0 and ": active" in back.output


# -- unsubscribes and bounces come back in -------------------------------------------------------

def deliver_to_inbox(settings: config.Settings, *messages: bytes) -> None:
    box = mailbox.Maildir(settings.mailbox[0].path, create=False)
    for data in messages:
        box.add(data)


def status_of(db: Database, address: str) -> str:
    with db.unit_of_work() as s:
        return s.scalars(select(BuyerAddress.status)
                         .where(BuyerAddress.address == address)).one()


def test_unsubscribe_by_token_and_by_reply(desk: Any, smtp_server: Any) -> None:
    settings, db = desk
    seed_buyers(db, 3)
    campaigns.send_campaign(settings, db, "canton-fair-invitation")
    header = {m["To"].addresses[0].addr_spec: m["List-Unsubscribe"] for m in parsed(smtp_server)}
    token = re.search(r"unsubscribe%20(\S+)>", header["buyer0@importer.example"]).group(1)  # type: ignore[union-attr]
    forged = re.sub(r"-\w{20}", "-" + "0" * 20, header["buyer2@importer.example"])
    forged_token = re.search(r"unsubscribe%20(\S+)>", forged).group(1)  # type: ignore[union-attr]
    # The click from a colleague's mailbox (the token names whom we wrote to), a forged
    # token from a stranger, and a plain "unsubscribe" reply from buyer 1.
    deliver_to_inbox(
        settings,
        mail("colleague@importer.example", f"unsubscribe {token}", auto=True),
        mail("stranger@elsewhere.example", f"unsubscribe {forged_token}"),
        mail("buyer1@importer.example", "unsubscribe"))
    report = runner.poll(settings, db)
    assert report.mailboxes[0].processed == 3
    assert status_of(db, "buyer0@importer.example") == "unsubscribed"
    assert status_of(db, "buyer1@importer.example") == "unsubscribed"
    assert status_of(db, "buyer2@importer.example") == "active"
    with db.unit_of_work() as s:
        events = s.scalars(select(Event)).all()
    marked = {e.data["address"]: e.data["why"] for e in events if e.name == "address_unsubscribed"}
    # The colleague asked too (by their own address, at a known buyer's domain).
    assert marked == {"buyer0@importer.example": "unsubscribe link (token)",
                      "buyer1@importer.example": "asked by reply",
                      "colleague@importer.example": "asked by reply"}
    assert "unsubscribe_token_refused" in {e.name for e in events}
    assert not list((settings.review_path / "pending").glob("*.eml"))  # nobody is answered


def mail(sender: str, subject: str, auto: bool = False) -> bytes:
    lines = [f"From: {sender}", f"To: Lily Chen <{SENDER}>", f"Subject: {subject}",
             f"Message-ID: <{abs(hash((sender, subject)))}@importer.example>",
             "Date: Mon, 02 Mar 2026 09:00:00 +0000"]
    if auto:
        lines.append("Auto-Submitted: auto-replied")
    return ("\r\n".join(lines) + "\r\n\r\nThis message was automatically generated.\r\n").encode()


def corpus_file(name: str) -> bytes:
    path = CORPUS / "sisimai-bounces" / name
    if not path.exists():
        pytest.skip(f"no shared corpus at {CORPUS}")
    return path.read_bytes()


def with_message_id(data: bytes, n: int) -> bytes:
    return re.sub(rb"(?im)^message-id:.*$", f"Message-ID: <soft{n}@test>".encode(), data,
                  count=1)


def test_hard_and_soft_bounces_from_the_corpus_update_the_right_buyer(desk: Any) -> None:
    settings, db = desk
    seed_buyers(db, 1)
    with db.unit_of_work() as s:  # the addresses the corpus bounces name
        s.add(BuyerAddress(buyer_id=1, address="neko@example.co.jp", domain="example.co.jp"))
        s.add(BuyerAddress(buyer_id=1, address="kijitora@example.com", domain="example.com"))
    deliver_to_inbox(settings, corpus_file("lhost-amavis-01.eml"))          # 5.1.1
    deliver_to_inbox(settings, with_message_id(corpus_file("lhost-amazonses-17.eml"), 1))
    runner.poll(settings, db)
    assert status_of(db, "neko@example.co.jp") == "bounced"
    assert status_of(db, "kijitora@example.com") == "active"               # 4.4.7: one soft
    assert status_of(db, "buyer0@importer.example") == "active"
    soft = corpus_file("lhost-amazonses-17.eml")
    deliver_to_inbox(settings, with_message_id(soft, 2), with_message_id(soft, 3))
    runner.poll(settings, db)
    assert status_of(db, "kijitora@example.com") == "bounced"              # the third
    with db.unit_of_work() as s:
        events = [(e.name, e.data.get("why", "")) for e in s.scalars(
            select(Event).where(Event.name == "address_bounced").order_by(Event.id))]
    assert events == [("address_bounced", "permanent bounce"),
                      ("address_bounced", "3 temporary bounces within 30 days")]
