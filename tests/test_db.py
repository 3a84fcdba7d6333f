"""The database on SQLite and PostgreSQL: migrations from empty, uniqueness, unit of work."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from daemon.db import Database
from daemon.models import (
    Base,
    Buyer,
    BuyerAddress,
    Campaign,
    Delivery,
    Draft,
    Mailbox,
    Message,
    MessageState,
    RawMessage,
    utcnow,
)


def all_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    from daemon.db import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_migrations_build_every_table_from_empty(empty_db: Database) -> None:
    everything = all_revisions()
    assert everything[:2] == ["0001", "0002"]
    assert empty_db.pending_revisions() == everything
    assert empty_db.upgrade() == everything
    assert empty_db.pending_revisions() == []
    tables = set(inspect(empty_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_upgrade_a_database_holding_data(empty_db: Database) -> None:
    from alembic import command

    from daemon.db import _alembic_config

    with empty_db.engine.begin() as connection:
        cfg = _alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.execute(text("INSERT INTO buyers (company, contact_name, country, region, "
                                "city, source, buyer_type, owner, status, phone, notes, "
                                "language, created_at) VALUES ('Old Co', '', 'AE', '', '', "
                                "'', '', '', 'active', '', '', '', CURRENT_TIMESTAMP)"))
    assert empty_db.upgrade() == all_revisions()[1:]
    with empty_db.unit_of_work() as s:
        old = s.scalars(select(Buyer)).one()
        assert (old.company, old.company_key, old.grade_source) == ("Old Co", "", "auto")


def test_migrated_schema_matches_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        ctx = MigrationContext.configure(connection, opts={"compare_type": False})
        assert compare_metadata(ctx, Base.metadata) == []


def test_upgrade_twice_is_harmless(db: Database) -> None:
    assert db.upgrade() == []


def test_sqlite_runs_in_wal_mode(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1


def _message(mailbox: Mailbox, uid: int, uidvalidity: int = 7) -> Message:
    return Message(mailbox_id=mailbox.id, folder="INBOX", uidvalidity=uidvalidity, uid=uid,
                   dedup_key=f"<m{uid}@x>", size=3,
                   raw=RawMessage(sha256="0" * 64, data=b"abc"))


def test_one_message_per_mailbox_folder_uidvalidity_uid(db: Database) -> None:
    with db.unit_of_work() as s:
        box = Mailbox(name="sales")
        s.add(box)
        s.flush()
        s.add_all([_message(box, 1), _message(box, 2), _message(box, 1, uidvalidity=8)])
    with pytest.raises(IntegrityError), db.unit_of_work() as s:
        box = s.scalars(select(Mailbox)).one()
        s.add(_message(box, 1))
    with db.unit_of_work() as s:
        assert s.scalar(select(Message).where(Message.uid == 2)).raw.data == b"abc"
        assert len(s.scalars(select(Message)).all()) == 3


def test_an_address_belongs_to_one_buyer(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add_all([Buyer(company="A"), Buyer(company="B")])
        s.flush()
        a, b = s.scalars(select(Buyer).order_by(Buyer.id)).all()
        s.add(BuyerAddress(buyer_id=a.id, address="ali@alnoor.example"))
    with pytest.raises(IntegrityError), db.unit_of_work() as s:
        s.add(BuyerAddress(buyer_id=b.id, address="ali@alnoor.example"))


def test_one_delivery_per_campaign_and_buyer(db: Database) -> None:
    with db.unit_of_work() as s:
        buyer, campaign = Buyer(company="A"), Campaign(name="canton-fair", template="t")
        s.add_all([buyer, campaign])
        s.flush()
        s.add(Delivery(campaign_id=campaign.id, buyer_id=buyer.id, address="a@a.example"))
    with pytest.raises(IntegrityError), db.unit_of_work() as s:
        s.add(Delivery(campaign_id=campaign.id, buyer_id=buyer.id, address="a@a.example"))


def test_one_draft_per_outgoing_message_id(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add(Draft(id="d1", kind="reply", outgoing_message_id="<x@us>", to_addr="a@b"))
    with pytest.raises(IntegrityError), db.unit_of_work() as s:
        s.add(Draft(id="d2", kind="reply", outgoing_message_id="<x@us>", to_addr="a@b"))


def test_unit_of_work_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        s.add(Buyer(company="Ghost"))
        s.flush()
        raise RuntimeError("boom")
    with db.unit_of_work() as s:
        assert s.scalars(select(Buyer)).all() == []


def test_timestamps_come_back_time_zone_aware(db: Database) -> None:
    now = utcnow()
    with db.unit_of_work() as s:
        s.add(Buyer(company="A", last_contact_at=now))
    with db.unit_of_work() as s:
        got = s.scalars(select(Buyer)).one().last_contact_at
    assert got == now and got.tzinfo is not None


def test_states_are_stored_as_plain_words(db: Database) -> None:
    with db.unit_of_work() as s:
        box = Mailbox(name="m")
        s.add(box)
        s.flush()
        msg = _message(box, 1)
        msg.state = MessageState.QUARANTINED
        s.add(msg)
    with db.engine.connect() as c:
        assert c.execute(text("SELECT state FROM messages")).scalar() == "quarantined"
