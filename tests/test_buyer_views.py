"""`buyers show` and `buyers list`: one buyer's history, and filtered lists (the travel question)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.buyer_views import buyer_history, list_buyers
from daemon.cli import main
from daemon.db import Database
from daemon.models import (
    Buyer,
    BuyerAddress,
    Draft,
    DraftState,
    Event,
    GradeChange,
    Inquiry,
    Message,
    Stage,
)
from tests.helpers import settings_for

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def add_buyer(s, company: str, addresses: list[str], **fields) -> Buyer:  # type: ignore[no-untyped-def]
    buyer = Buyer(company=company, **fields)
    s.add(buyer)
    s.flush()
    for a in addresses:
        s.add(BuyerAddress(buyer_id=buyer.id, address=a, domain=a.split("@")[1]))
    s.flush()
    return buyer


def message(s, buyer: Buyer, n: int, direction: str, kind: str, subject: str,  # type: ignore[no-untyped-def]
            at: datetime) -> Message:
    m = Message(direction=direction, dedup_key=f"k{buyer.id}-{n}", size=100, kind=kind,
                subject=subject, buyer_id=buyer.id, message_id=f"<m{buyer.id}-{n}@x>",
                fetched_at=at, sent_at=at if direction == "out" else None,
                from_addr=buyer.addresses[0].address if direction == "in" else "sales@bs.example")
    s.add(m)
    s.flush()
    return m


def inquiry(s, buyer: Buyer, msg: Message | None, skus: list[str], at: datetime,  # type: ignore[no-untyped-def]
            grade: str = "B", stage: Stage = Stage.NEW) -> Inquiry:
    i = Inquiry(buyer_id=buyer.id, message_id=msg.id if msg else None, created_at=at,
                grade=grade, reasons=["quantity 5000"],
                products=[{"sku": k, "name": k.lower(), "matched": True} for k in skus],
                stage=stage, stage_changed_at=at)
    s.add(i)
    s.flush()
    return i


def seed(db: Database) -> dict[str, int]:
    """Four buyers: two in Dubai, one in Abu Dhabi, one in Hamburg (never contacted)."""
    with db.unit_of_work() as s:
        noor = add_buyer(s, "Al Noor Trading", ["ali@alnoor.example", "buy@alnoor.example"],
                         country="AE", region="Middle East", city="Dubai", source="trade-show",
                         grade="A", grade_source="override", owner="lily", status="active",
                         first_contact_at=day(0), last_contact_at=day(10),
                         next_followup_at=day(17), followups_unanswered=1,
                         last_followup_at=day(10))
        gulf = add_buyer(s, "Gulf Gifts", ["info@gulfgifts.example"], country="AE",
                         region="Middle East", city="dubai", source="website", grade="B",
                         owner="tom", last_contact_at=day(20))
        abu = add_buyer(s, "Capital Beads", ["sales@capbeads.example"], country="AE",
                        region="Middle East", city="Abu Dhabi", source="website", grade="C",
                        owner="lily", last_contact_at=day(5))
        ham = add_buyer(s, "Hanse Schmuck", ["einkauf@hanse.example"], country="DE",
                        region="Europe", city="Hamburg", source="old-customer", grade="B",
                        owner="tom")
        s.refresh(noor)
        m1 = message(s, noor, 1, "in", "inquiry", "Inquiry [urgent]: BS-NK-101", day(0))
        message(s, noor, 2, "out", "reply", "Re: Inquiry BS-NK-101", day(1))
        m3 = message(s, noor, 3, "in", "inquiry", "Also BS-ER-202?", day(10))
        i1 = inquiry(s, noor, m1, ["BS-NK-101"], day(0), grade="B", stage=Stage.QUOTED)
        i2 = inquiry(s, noor, m3, ["BS-ER-202", "BS-NK-101"], day(10), grade="A")
        s.add_all([
            GradeChange(buyer_id=noor.id, at=day(0), grade="B", source="auto",
                        inquiry_id=i1.id, reasons=["quantity 5000", "FOB terms"]),
            GradeChange(buyer_id=noor.id, at=day(3), grade="A", source="override", by="lily",
                        reasons=["met at Canton Fair"]),
            Draft(id="d1", kind="reply", state=DraftState.SENT, buyer_id=noor.id,
                  inquiry_id=i1.id, outgoing_message_id="<d1@bs>", to_addr="ali@alnoor.example",
                  subject="Re: Inquiry BS-NK-101", created_at=day(0) + timedelta(hours=1),
                  sent_at=day(1)),
            Draft(id="d2", kind="reply", state=DraftState.PENDING, buyer_id=noor.id,
                  inquiry_id=i2.id, outgoing_message_id="<d2@bs>", to_addr="ali@alnoor.example",
                  subject="Re: Also BS-ER-202?", created_at=day(10) + timedelta(hours=1)),
            Event(name="address_bounced", buyer_id=noor.id, at=day(4),
                  data={"address": "buy@alnoor.example", "why": "550 no such user"}),
        ])
        s.get(BuyerAddress, s.query(BuyerAddress.id).filter_by(
            address="buy@alnoor.example").scalar()).status = "bounced"
        m4 = message(s, gulf, 1, "in", "inquiry", "Price list please", day(20))
        inquiry(s, gulf, m4, ["BS-ER-202"], day(20), grade="B")
        # An inquiry of another buyer that mentions the SKU only in free text: must not match.
        inquiry(s, abu, None, ["BS-BR-303"], day(5), grade="C")
        return {"noor": noor.id, "gulf": gulf.id, "abu": abu.id, "ham": ham.id}


def test_history_has_everything_about_one_buyer(db: Database) -> None:
    ids = seed(db)
    with db.unit_of_work() as s:
        data = buyer_history(s, s.get(Buyer, ids["noor"]))
    assert data["company"] == "Al Noor Trading" and data["grade"] == "A"
    assert data["grade_source"] == "override"
    assert [(a["address"], a["status"]) for a in data["addresses"]] == [
        ("ali@alnoor.example", "active"), ("buy@alnoor.example", "bounced")]
    assert data["addresses"][1]["history"][0]["why"] == "550 no such user"
    assert data["addresses"][0]["history"] == []
    assert [(g["grade"], g["source"], g["by"], g["reasons"]) for g in data["grades"]] == [
        ("B", "auto", "", ["quantity 5000", "FOB terms"]),
        ("A", "override", "lily", ["met at Canton Fair"])]
    assert [(m["date"][:10], m["direction"], m["kind"], m["subject"])
            for m in data["messages"]] == [
        ("2026-03-01", "in", "inquiry", "Inquiry [urgent]: BS-NK-101"),
        ("2026-03-02", "out", "reply", "Re: Inquiry BS-NK-101"),
        ("2026-03-11", "in", "inquiry", "Also BS-ER-202?")]
    assert [(i["products"], i["stage"], i["grade"]) for i in data["inquiries"]] == [
        (["BS-NK-101"], "quoted", "B"), (["BS-ER-202", "BS-NK-101"], "new", "A")]
    assert [(d["id"], d["state"], d["sent_at"] is not None) for d in data["drafts"]] == [
        ("d1", "sent", True), ("d2", "pending", False)]
    assert data["followup"] == {"next_at": day(17).isoformat(timespec="seconds"),
                                "unanswered": 1, "last_at": day(10).isoformat(timespec="seconds")}
    json.dumps(data)  # plain data only


def test_history_of_a_buyer_with_nothing_yet(db: Database) -> None:
    ids = seed(db)
    with db.unit_of_work() as s:
        data = buyer_history(s, s.get(Buyer, ids["ham"]))
    assert data["messages"] == data["inquiries"] == data["drafts"] == data["grades"] == []
    assert data["followup"]["next_at"] is None and data["last_contact_at"] is None


def names(rows: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [r["company"] for r in rows]


def test_travel_question_buyers_in_a_city_by_last_contact(db: Database) -> None:
    seed(db)
    with db.unit_of_work() as s:
        rows = list_buyers(s, country="ae", city="Dubai")
        assert names(rows) == ["Gulf Gifts", "Al Noor Trading"]  # city matched in any case
        assert rows[0]["last_contact_at"] == day(20).isoformat(timespec="seconds")
        assert rows[1]["addresses"] == ["ali@alnoor.example", "buy@alnoor.example"]
        assert rows[1]["inquiries"] == 2
        # The whole country; the never-contacted buyer (if any) comes last.
        assert names(list_buyers(s, country="AE")) == [
            "Gulf Gifts", "Al Noor Trading", "Capital Beads"]
        assert names(list_buyers(s))[-1] == "Hanse Schmuck"


def test_list_filters(db: Database) -> None:
    seed(db)
    with db.unit_of_work() as s:
        assert names(list_buyers(s, grade="A")) == ["Al Noor Trading"]
        assert names(list_buyers(s, grade=["A", "c"])) == ["Al Noor Trading", "Capital Beads"]
        assert names(list_buyers(s, grade="B,C")) == ["Gulf Gifts", "Capital Beads",
                                                      "Hanse Schmuck"]
        assert names(list_buyers(s, region="europe")) == ["Hanse Schmuck"]
        assert names(list_buyers(s, source="website")) == ["Gulf Gifts", "Capital Beads"]
        assert names(list_buyers(s, owner="lily")) == ["Al Noor Trading", "Capital Beads"]
        assert names(list_buyers(s, status="active", country="DE")) == ["Hanse Schmuck"]
        assert names(list_buyers(s, product="BS-ER-202")) == ["Gulf Gifts", "Al Noor Trading"]
        assert names(list_buyers(s, product="bs-nk-101")) == ["Al Noor Trading"]
        assert names(list_buyers(s, product="BS-NK-1")) == []  # a whole SKU, not a prefix
        assert names(list_buyers(s, product="BS-ER-202", owner="tom")) == ["Gulf Gifts"]
        assert names(list_buyers(s, last_contact_before=day(10))) == ["Capital Beads"]
        assert names(list_buyers(s, last_contact_after=day(10))) == [
            "Gulf Gifts", "Al Noor Trading"]
        assert names(list_buyers(s, last_contact_after=day(6),
                                 last_contact_before=day(15))) == ["Al Noor Trading"]


def test_list_is_paginated(db: Database) -> None:
    seed(db)
    with db.unit_of_work() as s:
        every = names(list_buyers(s, limit=100))
        pages = [names(list_buyers(s, limit=2, offset=o)) for o in (0, 2, 4)]
    assert len(every) == 4 and pages == [every[:2], every[2:4], []]


# -- the command line ----------------------------------------------------------------------

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def config_for(tmp_path: Path, db: Database) -> str:
    maildir = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "mail"}"\n'
    settings_for(tmp_path, maildir, extra=f'[database]\nurl = "{db.url}"\n')
    return str(tmp_path / "inquiryd.toml")


def test_cli_show_and_list_json(db: Database, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    ids = seed(db)
    config = config_for(tmp_path, db)
    code, out, err = run(capsys, "-c", config, "buyers", "show", "ALI@alnoor.example", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["id"] == ids["noor"] and len(data["messages"]) == 3
    assert data["grades"][-1]["source"] == "override"
    code, out, _ = run(capsys, "-c", config, "buyers", "show", str(ids["gulf"]), "--json")
    assert code == 0 and json.loads(out)["inquiries"][0]["products"] == ["BS-ER-202"]
    code, out, _ = run(capsys, "-c", config, "buyers", "list", "--country", "AE",
                       "--city", "Dubai", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == [ids["gulf"], ids["noor"]]
    assert [r["last_contact_at"][:10] for r in rows] == ["2026-03-21", "2026-03-11"]
    code, out, _ = run(capsys, "-c", config, "buyers", "list", "--grade", "B",
                       "--product", "BS-ER-202", "--last-contact-after", "2026-03-15",
                       "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [ids["gulf"]]


def test_cli_human_output_and_mistakes(db: Database, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    seed(db)
    config = config_for(tmp_path, db)
    code, out, _ = run(capsys, "-c", config, "buyers", "show", "ali@alnoor.example")
    assert code == 0
    for text in ("Al Noor Trading", "Inquiry [urgent]: BS-NK-101", "met at Canton Fair",
                 "bounced", "550 no such user", "BS-ER-202", "next follow-up: 2026-03-18"):
        assert text in out
    code, out, _ = run(capsys, "-c", config, "buyers", "list", "--country", "AE",
                       "--city", "Dubai")
    assert code == 0 and out.index("Gulf") < out.index("Noor") and "2026-03-21" in out
    assert "Capital" not in out
    code, out, _ = run(capsys, "-c", config, "buyers", "list", "--country", "FR")
    assert code == 0 and "no buyers match" in out
    code, _, err = run(capsys, "-c", config, "buyers", "show", "nobody@nowhere.example")
    assert code == 1 and "no buyer" in err and "Traceback" not in err
    code, _, _ = run(capsys, "-c", config, "buyers", "list", "--last-contact-after", "soon")
    assert code == 2
