"""Physical samples: the policy (rules/samples.toml), and `inquiryd samples add|list|arrived`
on SQLite and PostgreSQL, with the inquiry's move to stage `sample` recorded."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon import samples
from daemon.cli import main
from daemon.db import Database
from daemon.errors import ConfigError
from daemon.models import Buyer, Event, Inquiry, Sample, Stage, StageChange
from daemon.rulebook import read_toml
from daemon.samples_record import check_policy, load_policy
from tests.helpers import ROOT, settings_for

POLICY = load_policy(ROOT / "rules")


# ------------------------------------------------------------------ the policy (pure)


@pytest.mark.parametrize(("courier", "days"), [
    ("DHL", 5), ("dhl express", 5), ("FedEx", 5), ("UPS", 5), ("TNT", 5), ("EMS", 12),
    ("China Post", 20), ("registered air mail", 20), ("post", 20), ("Yunexpress", 10),
    ("", 10), ("DHLX", 10)])
def test_transit_days_per_courier(courier: str, days: int) -> None:
    assert samples.transit(POLICY, courier)[0] == days
    sent = datetime(2026, 11, 2, 4, tzinfo=timezone.utc)
    assert samples.expected_arrival(POLICY, courier, sent) == sent + timedelta(days=days)


@pytest.mark.parametrize(("quantity", "price", "asked", "paid", "why"), [
    (3, Decimal("0.86"), None, "free-collect", "freight collect (the policy)"),
    (20, Decimal("0.86"), None, "free-collect", "the policy"),
    (21, Decimal("0.86"), None, "tt-first", "21 is more than 20 pieces"),
    (10, Decimal("6.00"), None, "tt-first", "worth USD 60.00, more than USD 50.00"),
    (10, Decimal("5.00"), None, "free-collect", "the policy"),
    (50, Decimal("0.86"), "free-collect", "free-collect", "as entered"),
    (2, Decimal("0.86"), "prepaid", "prepaid", "we pay the freight (as entered)"),
])
def test_who_pays(quantity: int, price: Decimal, asked: str | None, paid: str,
                  why: str) -> None:
    got, reason = samples.payment(POLICY, quantity, price, asked)
    assert got == paid and why in reason
    assert ("large sample" in reason) == (paid == "tt-first" and asked is None)


@pytest.mark.parametrize(("stage", "moves"), [
    ("new", True), ("quoted", True), ("negotiating", True), ("dormant", True),
    ("lost", True), ("sample", False), ("confirmed", False), ("contract", False),
    ("won", False)])
def test_sending_a_sample_moves_an_open_deal_only(stage: str, moves: bool) -> None:
    assert samples.moves_to_sample(stage) is moves


def test_the_shipped_policy_is_the_built_in_one() -> None:
    assert POLICY == samples.SamplePolicy()
    assert (POLICY.default_payment, POLICY.max_quantity, POLICY.default_days) == (
        "free-collect", 20, 10)


def test_every_mistake_in_samples_toml_is_named(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "samples.toml").write_text(
        '[payment]\ndefault = "free"\n[large]\nmax_quantity = 0\nmax_value_usd = "lots"\n'
        '[transit]\ndefault_days = 10\n[[courier]]\nname = "Express"\ncouriers = []\n'
        'days = 5.5\n', encoding="utf-8")
    problems = check_policy(rules)
    source = str(rules / "samples.toml")
    assert problems == [
        f"{source}: payment.default: 'free' is not one of free-collect, tt-first, prepaid",
        f"{source}: large.max_quantity: must be a whole number from 1 to 1000000, not 0",
        f"{source}: large.max_value_usd: must be an amount in USD (0 or more), not 'lots'",
        f"{source}: courier 'Express' (entry 1): name: must be kebab-case, e.g. 'express'",
        f"{source}: courier 'Express' (entry 1): couriers: must be a list of courier names",
        f"{source}: courier 'Express' (entry 1): days: must be a whole number from 1 to "
        f"120, not 5.5"]
    (rules / "samples.toml").write_text("[payment\n", encoding="utf-8")
    assert check_policy(rules)[0].startswith(f"{source}:1: not valid TOML")
    (rules / "samples.toml").unlink()
    assert check_policy(rules) == [] and load_policy(rules) == samples.SamplePolicy()


def test_the_policy_reads_what_the_file_says() -> None:
    data = read_toml(ROOT / "rules" / "samples.toml")
    data["large"]["max_quantity"] = 5
    data["courier"][0]["days"] = 3
    policy = samples.SamplePolicy.from_toml(data, "samples.toml")
    assert policy.max_quantity == 5 and samples.transit(policy, "DHL")[0] == 3
    with pytest.raises(ConfigError):
        samples.SamplePolicy.from_toml({"transit": {"default_days": 0}}, "samples.toml")


# ------------------------------------------------------------------ the command line


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def desk(db: Database, tmp_path: Path) -> tuple[str, int]:
    maildir = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "mail"}"\n'
    settings_for(tmp_path, maildir, extra=f'[database]\nurl = "{db.url}"\n')
    with db.unit_of_work() as s:
        buyer = Buyer(company="Al Noor Trading LLC", country="AE", region="middle_east")
        s.add(buyer)
        s.flush()
        inquiry = Inquiry(buyer_id=buyer.id, grade="A", stage=Stage.QUOTED,
                          products=[{"sku": "BS-NK-101", "name": "Pendant necklace"}])
        s.add(inquiry)
        s.flush()
        return str(tmp_path / "inquiryd.toml"), inquiry.id


def test_add_records_the_sample_and_moves_the_stage(db: Database, desk: tuple[str, int],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config, inquiry_id = desk
    sent = (datetime.now(timezone.utc) - timedelta(days=8)).date().isoformat()
    code, out, err = run(capsys, "-c", config, "samples", "add", str(inquiry_id), "--sku",
                         "bs-nk-101", "--qty", "3", "--courier", "DHL", "--tracking",
                         "1234567890", "--sent", sent, "--by", "lily")
    assert code == 0 and "event=stage_moved" in err and "Traceback" not in err
    assert "BS-NK-101 x 3" in out and "free-collect" in out and "moved to stage sample" in out
    with db.unit_of_work() as s:
        row = s.scalars(select(Sample)).one()
        assert (row.sku, row.quantity, row.courier, row.tracking, row.payment) == (
            "BS-NK-101", 3, "DHL", "1234567890", "free-collect")
        assert row.sent_at is not None and row.sent_at.date().isoformat() <= sent
        assert row.expected_at == row.sent_at + timedelta(days=5)
        assert s.get_one(Inquiry, inquiry_id).stage is Stage.SAMPLE
        change = s.scalars(select(StageChange)).one()
        assert (change.from_stage, change.to_stage, change.by) == ("quoted", "sample", "lily")
        assert change.reason == ("sample BS-NK-101 x 3 sent by DHL (tracking 1234567890), "
                                 "free sample, freight collect")
        assert s.scalars(select(Event.name).where(Event.name == "sample_sent")).one()

    # Eight days ago by DHL: due now; listed, then marked arrived.
    code, out, _ = run(capsys, "-c", config, "samples", "list", "--due", "--json")
    (listed,) = json.loads(out)
    assert code == 0 and listed["state"] == "due" and listed["buyer"] == "Al Noor Trading LLC"
    code, out, err = run(capsys, "-c", config, "samples", "arrived", str(listed["id"]))
    assert code == 0 and "Traceback" not in err and "arrived" in out
    code, out, _ = run(capsys, "-c", config, "samples", "list", "--due")
    assert out.strip() == "no samples due"
    code, out, _ = run(capsys, "-c", config, "samples", "list")
    assert "arrived" in out and "1 sample" in out


def test_a_large_sample_is_paid_first_and_a_later_stage_stays(
        db: Database, desk: tuple[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    config, inquiry_id = desk
    with db.unit_of_work() as s:
        s.get_one(Inquiry, inquiry_id).stage = Stage.CONFIRMED
    code, out, err = run(capsys, "-c", config, "samples", "add", str(inquiry_id), "--sku",
                         "BS-NK-101", "--qty", "40", "--courier", "EMS", "--json")
    data = json.loads(out)
    assert code == 0 and "stage_moved" not in err and data["payment"] == "tt-first"
    assert "large sample: 40 is more than 20 pieces" in data["note"]
    assert data["state"] == "in transit"
    sent = datetime.fromisoformat(data["sent_at"])
    assert datetime.fromisoformat(data["expected_at"]) == sent + timedelta(days=12)
    with db.unit_of_work() as s:
        assert s.get_one(Inquiry, inquiry_id).stage is Stage.CONFIRMED
        assert s.scalars(select(StageChange)).all() == []


@pytest.mark.parametrize(("argv", "message"), [
    (("add", "999", "--sku", "BS-NK-101"), "inquiry 999 not found"),
    (("add", "{inquiry}", "--sku", "XX-000"), "SKU 'XX-000' is not in the catalogue"),
    (("add", "{inquiry}", "--sku", "BS-NK-101", "--sent", "2999-01-01"),
     "2999-01-01 is in the future"),
    (("arrived", "999"), "sample 999 not found"),
])
def test_mistakes_are_one_line(db: Database, desk: tuple[str, int],
                               capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                               message: str) -> None:
    config, inquiry_id = desk
    args = [a.format(inquiry=inquiry_id) for a in argv]
    code, out, err = run(capsys, "-c", config, "samples", *args)
    assert code == 1 and out == ""
    assert err.strip() == f"inquiryd: {message}" or (
        err.count("\n") == 1 and message in err), err
    with db.unit_of_work() as s:
        assert s.scalars(select(Sample)).all() == []


def test_arrived_twice_is_refused(db: Database, desk: tuple[str, int],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    config, inquiry_id = desk
    run(capsys, "-c", config, "samples", "add", str(inquiry_id), "--sku", "BS-NK-101")
    with db.unit_of_work() as s:
        sample_id = s.scalars(select(Sample.id)).one()
    assert run(capsys, "-c", config, "samples", "arrived", str(sample_id))[0] == 0
    code, _, err = run(capsys, "-c", config, "samples", "arrived", str(sample_id))
    assert code == 1 and err.count("\n") == 1 and "already marked arrived" in err
