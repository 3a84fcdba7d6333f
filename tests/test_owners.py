"""Owners: who owns a buyer, who reviews their drafts today, and the sweep of every
salesperson's review folder (daemon/owners.py, record.py, drafting.py, sweep.py)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon import runner, sweep
from daemon.errors import ConfigError
from daemon.models import Buyer, Draft, Event
from daemon.owners import OwnerRules, Person, assign_owner, route
from tests.helpers import settings_for

RULES = OwnerRules(by_region={"middle_east": "lily", "europe": "kevin"},
                   by_product={"BS-NK-101": "lily"}, default="mia")


@pytest.mark.parametrize(("existing", "region", "skus", "owner", "why"), [
    ("kevin", "middle_east", ["BS-NK-101"], "kevin", "same buyer"),
    ("", "europe", ["BS-NK-101"], "lily", "product BS-NK-101"),
    ("", "europe", ["bs-nk-101"], "lily", "product"),
    ("", "europe", ["BS-BR-205"], "kevin", "region europe"),
    ("", "middle_east", [], "lily", "region middle_east"),
    ("", "africa", ["BS-BR-205"], "mia", "default"),
    ("", "", [], "mia", "default"),
])
def test_assign_owner(existing: str, region: str, skus: list[str], owner: str, why: str) -> None:
    got, reason = assign_owner(existing, region, skus, RULES)
    assert got == owner and why in reason


def test_assign_owner_without_default_names_nobody() -> None:
    assert assign_owner("", "africa", [], OwnerRules())[0] == ""


XMAS = ((date(2026, 12, 20), date(2027, 1, 5)),)
PEOPLE = [Person("lily", covered_by="kevin"), Person("kevin", XMAS, "lily"),
          Person("mia", XMAS, "kevin"), Person("ann", XMAS, "bob"), Person("bob", XMAS, "ann"),
          Person("solo", XMAS), Person("x", XMAS, "ghost")]


@pytest.mark.parametrize(("owner", "today", "reviewer", "note"), [
    ("lily", date(2026, 12, 25), "lily", ""),
    ("kevin", date(2026, 12, 19), "kevin", ""),
    ("kevin", date(2026, 12, 20), "lily", "for kevin, covered by lily until 2027-01-05"),
    ("kevin", date(2027, 1, 5), "lily", "covered by lily"),
    ("kevin", date(2027, 1, 6), "kevin", ""),
    ("mia", date(2026, 12, 25), "lily", "for mia, covered by lily"),  # kevin away too
    ("ann", date(2026, 12, 25), "bob", "for ann, covered by bob"),  # both away: no loop
    ("solo", date(2026, 12, 25), "solo", "no colleague"),
    ("x", date(2026, 12, 25), "x", "no colleague"),
    ("nobody", date(2026, 12, 25), "nobody", ""),
])
def test_route(owner: str, today: date, reviewer: str, note: str) -> None:
    got = route(owner, today, PEOPLE)
    assert got.reviewer == reviewer and note in got.note
    assert bool(got.note) == bool(note)


def test_route_stops_on_a_long_chain() -> None:
    chain = [Person(f"p{i}", XMAS, f"p{i + 1}") for i in range(20)]
    assert route("p0", date(2026, 12, 25), chain).reviewer == "p5"


PEOPLE_TOML = ('[[salesperson]]\nname = "lily"\ncovered_by = "kevin"\n'
               '[[salesperson]]\nname = "kevin"\ncovered_by = "lily"\n')
BOX = '[[mailbox]]\nname = "local"\nkind = "maildir"\npath = "Maildir"\n'


@pytest.mark.parametrize(("extra", "key"), [
    ('[owners]\nby_region = { europe = "zoe" }\n', "owners.by_region.europe: no salesperson named 'zoe'"),
    ('[owners]\nby_product = { "BS-NK-101" = "zoe" }\n', "owners.by_product.BS-NK-101"),
    ('[owners]\ndefault = "zoe"\n', "owners.default"),
    ('[[salesperson]]\nname = "mia"\ncovered_by = "zoe"\n', "salesperson[2].covered_by"),
    ('[[salesperson]]\nname = "mia"\nabsent = [["2026-13-01", "2027-01-05"]]\n',
     "salesperson[2].absent"),
    ('[[salesperson]]\nname = "mia"\nabsent = [["2027-01-05", "2026-12-20"]]\n',
     "salesperson[2].absent: absence ends"),
    ('[[salesperson]]\nname = "lily"\n', "salesperson: names must be unique"),
    ('[[salesperson]]\nname = "mia"\nholiday = "x"\n', "salesperson[2].holiday: unknown key"),
])
def test_config_errors_name_the_key(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(tmp_path, BOX, extra=PEOPLE_TOML + extra)
    assert key in str(err.value)


def test_owner_rules_need_salespeople(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(tmp_path, BOX, extra='[owners]\ndefault = "lily"\n')
    assert "owners: no [[salesperson]]" in str(err.value)


def test_config_loads_people_and_their_folders(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, BOX, extra=PEOPLE_TOML.replace(
        'name = "kevin"\n', 'name = "kevin"\nreview_path = "kr"\n'
                            'absent = [["2026-12-20", "2027-01-05"]]\n') +
        '[owners]\nby_region = { middle_east = "lily", europe = "kevin" }\ndefault = "lily"\n')
    assert settings.salesperson_review_path("lily") == settings.review_path / "lily"
    assert settings.salesperson_review_path("kevin") == tmp_path / "kr"
    assert settings.salesperson[1].absent == ((date(2026, 12, 20), date(2027, 1, 5)),)


# -- end to end on a Maildir: drafts in the owner's folder, sent once from there -------

def _mail(n: int, who: str, where: str, domain: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{who} <{who.lower()}@{domain}>"
    msg["To"] = "sales@brightstar.example"
    msg["Subject"] = "Inquiry: 3000 pcs beaded bracelet BS-BR-205"
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, n, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(f"own{n}", domain)
    msg.set_content(f"Dear Sir,\nPlease quote 3000 pcs BS-BR-205 beaded bracelet FOB Ningbo.\n"
                    f"Best regards\n{who}\n{where}\nTel: {'+971 4 555 0101' if 'UAE' in where else '+49 40 555 0101'}\n")
    return msg.as_bytes()


def _desk(tmp_path: Path, smtp: Any, kevin_absent: bool):  # type: ignore[no-untyped-def]
    root = tmp_path / "Maildir"
    for d in ("new", "cur", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "new" / "1.M1.host").write_bytes(
        _mail(1, "Ahmed", "Al Noor Trading LLC, Dubai, UAE", "alnoor-trading.example"))
    (root / "new" / "2.M2.host").write_bytes(
        _mail(2, "Klaus", "Schmuck Handel GmbH, Hamburg, Germany", "schmuck-handel.example"))
    away = '[["2020-01-01", "2099-12-31"]]' if kevin_absent else "[]"
    extra = (f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
             'sender = "Sales <sales@brightstar.example>"\ntimeout_seconds = 5\n'
             "[sending]\nper_minute = 10000\n"
             '[[salesperson]]\nname = "lily"\ncovered_by = "kevin"\n'
             f'[[salesperson]]\nname = "kevin"\ncovered_by = "lily"\nabsent = {away}\n'
             '[owners]\nby_region = { middle_east = "lily", europe = "kevin" }\n'
             'default = "lily"\n')
    return settings_for(tmp_path, f'[[mailbox]]\nname = "local"\nkind = "maildir"\n'
                                  f'path = "{root}"\n', extra=extra)


def _pending(settings: Any, who: str) -> list[Path]:
    return sorted((settings.salesperson_review_path(who) / "pending").glob("*.eml"))


def test_drafts_go_to_the_owner_and_are_sent_once(tmp_path: Path, sqlite_db, smtp_server) -> None:
    settings = _desk(tmp_path, smtp_server, kevin_absent=False)
    runner.poll(settings, sqlite_db)
    with sqlite_db.unit_of_work() as s:
        owners = {b.country: b.owner for b in s.scalars(select(Buyer))}
        events = s.scalars(select(Event).where(Event.name == "owner_assigned")).all()
    assert owners == {"AE": "lily", "DE": "kevin"}
    assert len(events) == 2 and all("region" in e.data["why"] for e in events)
    lily, kevin = _pending(settings, "lily"), _pending(settings, "kevin")
    assert len(lily) == len(kevin) == 1
    assert "alnoor" in lily[0].read_text() and "schmuck" in kevin[0].read_text()
    assert not list((settings.review_path / "pending").glob("*.eml"))

    for path in (*lily, *kevin):
        shutil.move(path, path.parent.parent / "approved" / path.name)
    report = sweep.send_now(settings, sqlite_db, settle_seconds=0)
    assert report.sent == 2 and report.error is None
    assert len(smtp_server.accepted) == 2
    assert (settings.salesperson_review_path("kevin") / "sent" / kevin[0].name).exists()
    again = sweep.send_now(settings, sqlite_db, settle_seconds=0)
    assert again.sent == 0 and len(smtp_server.accepted) == 2


def test_an_absent_owners_draft_goes_to_the_colleague_with_a_note(tmp_path: Path, sqlite_db,
                                                                  smtp_server) -> None:
    settings = _desk(tmp_path, smtp_server, kevin_absent=True)
    runner.poll(settings, sqlite_db)
    assert _pending(settings, "kevin") == []
    lily = _pending(settings, "lily")
    assert len(lily) == 2
    german = next(p for p in lily if "schmuck" in p.read_text())
    assert "for kevin, covered by lily until 2099-12-31" in german.with_suffix(".txt").read_text()
    with sqlite_db.unit_of_work() as s:
        assert {b.owner for b in s.scalars(select(Buyer))} == {"lily", "kevin"}

    approved = settings.salesperson_review_path("lily") / "approved" / german.name
    shutil.move(german, approved)
    shutil.move(german.with_suffix(".txt"), approved.with_suffix(".txt"))
    assert sweep.send_now(settings, sqlite_db, settle_seconds=0).sent == 1
    assert sweep.send_now(settings, sqlite_db, settle_seconds=0).sent == 0
    assert len(smtp_server.accepted) == 1
    assert "schmuck-handel.example" in smtp_server.accepted[0].message["To"]


# -- each salesperson's own mailbox: their buyers, their address, their signature ---------

TOM_SIGNATURE = "Tom Wu\nExport Manager, Brightstar\nWhatsApp +86 138 0000 0001"


def _two_boxes(tmp_path: Path, smtp: Any) -> Any:
    boxes = ""
    for name, who in (("lily-box", "lily"), ("tom-box", "tom")):
        root = tmp_path / name
        for d in ("new", "cur", "tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        boxes += (f'[[mailbox]]\nname = "{name}"\nkind = "maildir"\npath = "{root}"\n'
                  f'salesperson = "{who}"\n'
                  f'sender = "{who.title()} <{who}@brightstar.example>"\n')
    extra = (f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
             'sender = "Sales <sales@brightstar.example>"\ntimeout_seconds = 5\n'
             "[sending]\nper_minute = 10000\n"
             '[[salesperson]]\nname = "lily"\n'
             '[[salesperson]]\nname = "tom"\n'
             f'signature = """{TOM_SIGNATURE}"""\n'
             '[owners]\nby_region = { europe = "lily" }\ndefault = "lily"\n')
    return settings_for(tmp_path, boxes, extra=extra)


def test_a_buyer_who_writes_to_a_salespersons_mailbox_stays_theirs(tmp_path: Path, sqlite_db,
                                                                 smtp_server) -> None:
    settings = _two_boxes(tmp_path, smtp_server)
    klaus = _mail(1, "Klaus", "Schmuck Handel GmbH, Hamburg, Germany", "schmuck-handel.example")
    (tmp_path / "tom-box" / "new" / "1.M1.host").write_bytes(klaus)
    runner.poll(settings, sqlite_db)
    with sqlite_db.unit_of_work() as s:
        buyer = s.scalars(select(Buyer)).one()
        why = s.scalars(select(Event).where(Event.name == "owner_assigned")).one().data["why"]
    assert buyer.owner == "tom"  # not lily, whom the region rule names
    assert why == "wrote to tom-box, the mailbox tom reads"
    (first,) = _pending(settings, "tom")
    assert _from_and_body(first)[0] == "tom@brightstar.example"
    assert TOM_SIGNATURE in _from_and_body(first)[1]  # Tom's own signature, whole

    # Klaus writes again, this time to Lily's mailbox: the reply still comes from Tom.
    again = _mail(2, "Klaus", "Schmuck Handel GmbH, Hamburg, Germany", "schmuck-handel.example")
    (tmp_path / "lily-box" / "new" / "2.M2.host").write_bytes(again)
    runner.poll(settings, sqlite_db)
    pending = _pending(settings, "tom")
    assert len(pending) == 2 and not _pending(settings, "lily")
    assert {_from_and_body(p)[0] for p in pending} == {"tom@brightstar.example"}
    with sqlite_db.unit_of_work() as s:
        assert {d.mailbox_name for d in s.scalars(select(Draft))} == {"tom-box"}
    for path in pending:
        shutil.move(path, path.parent.parent / "approved" / path.name)
    assert sweep.send_now(settings, sqlite_db, settle_seconds=0).sent == 2
    assert {m.mail_from for m in smtp_server.accepted} == {"tom@brightstar.example"}


def _from_and_body(path: Path) -> tuple[str, str]:
    msg = BytesParser(policy=policy.default).parse(path.open("rb"))
    body = msg.get_body(("plain",))
    assert body is not None
    return str(msg["From"]), body.get_content()


@pytest.mark.parametrize(("boxes", "problem"), [
    ('salesperson = "zoe"\n', "mailbox[0].salesperson: no salesperson named 'zoe'"),
])
def test_a_mailbox_names_a_known_salesperson(tmp_path: Path, boxes: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(tmp_path, BOX + boxes, extra=PEOPLE_TOML)
    assert problem in str(err.value)


def test_one_salesperson_reads_one_mailbox(tmp_path: Path) -> None:
    two = (BOX + 'salesperson = "lily"\n'
           + BOX.replace('"local"', '"other"') + 'salesperson = "lily"\n')
    with pytest.raises(ConfigError) as err:
        settings_for(tmp_path, two, extra=PEOPLE_TOML)
    assert "salesperson 'lily' reads two mailboxes" in str(err.value)
