"""A draft shows in pending/ only once its row is committed (SQLite and PostgreSQL).

The pipeline stages the .eml and .txt under hidden names and publishes them after the
unit of work commits; a rollback discards them. A process killed between writing and
committing leaves a staged draft the sweep discards (its row never came: the message is
drafted again), and one killed between committing and publishing leaves one the sweep
publishes. So a reviewer never sees two drafts for one message, nor none.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon import outbox, pipeline, rulebook
from daemon.db import Database, after_commit
from daemon.models import Draft, Message, MessageState, RawMessage
from daemon.leases import ME
from daemon.review_folder import STALE_SECONDS, UNPUBLISHED, ReviewFolder, Staged, writer_tag
from daemon.sweep import settle_staged
from daemon.types import ParseLimits
from tests.helpers import ROOT, inquiry, settings_for
from tests.test_review_folder import draft_message

BOOK = rulebook.load(ROOT / "rules")
WHEN = datetime(2026, 11, 20, 9, 5, tzinfo=timezone.utc)


def visible(review: ReviewFolder) -> list[str]:
    return sorted(p.name for p in review.folder("pending").iterdir()
                  if not p.name.startswith("."))


def hidden(review: ReviewFolder) -> list[str]:
    return sorted(p.name for p in review.folder("pending").iterdir() if p.name.startswith("."))


def age(review: ReviewFolder, seconds: float) -> None:
    then = time.time() - seconds
    for name in hidden(review):
        os.utime(review.folder("pending") / name, (then, then))


# -- the folder ----------------------------------------------------------------------------

def test_a_staged_draft_is_hidden_until_published(tmp_path: Path) -> None:
    review = ReviewFolder(tmp_path / "review")
    name = review.stage_pending("d0001", draft_message("d0001"), "Grade A", grade="A",
                                buyer_label="Al Noor", when=WHEN)
    assert visible(review) == []
    tag = writer_tag("")
    assert hidden(review) == [f"{UNPUBLISHED}{tag}.{name}", f"{UNPUBLISHED}{tag}.{name[:-4]}.txt"]
    assert [(s.name, s.draft_id) for s in review.unpublished()] == [(name, "d0001")]
    review.publish(Staged.of(name))
    review.publish(Staged.of(name))  # a second publisher (the sweep, racing the writer)
    assert visible(review) == [name, name[:-4] + ".txt"]
    assert hidden(review) == [] and review.unpublished() == []


def test_discard_removes_both_parts_and_a_context_alone_is_still_found(tmp_path: Path) -> None:
    review = ReviewFolder(tmp_path / "review")
    name = review.stage_pending("d0002", draft_message("d0002"), "ctx", grade="B",
                                buyer_label="X", when=WHEN)
    # Killed between the two writes: only the context is there.
    (review.folder("pending") / f"{UNPUBLISHED}{writer_tag('')}.{name}").unlink()
    assert [s.draft_id for s in review.unpublished()] == ["d0002"]
    review.discard(Staged.of(name))
    assert os.listdir(review.folder("pending")) == []


def test_tidy_removes_only_stale_temporary_files(tmp_path: Path) -> None:
    review = ReviewFolder(tmp_path / "review")
    old = review.folder("approved") / ".x.eml.abc.tmp"
    new = review.folder("pending") / ".y.eml.def.tmp"
    mine = review.folder("pending") / ".keep-me"
    for path in (old, new, mine):
        path.write_bytes(b"partial")
    then = time.time() - STALE_SECONDS - 60
    os.utime(old, (then, then))
    os.utime(mine, (then, then))
    review.tidy()
    assert not old.exists() and new.exists() and mine.exists()


# -- the unit of work ----------------------------------------------------------------------

def test_after_commit_runs_the_right_action_once(db: Database,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []
    with db.unit_of_work() as s:
        after_commit(s, lambda: ran.append("committed"), lambda: ran.append("rolled back"))
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        after_commit(s, lambda: ran.append("committed 2"), lambda: ran.append("rolled back 2"))
        raise RuntimeError("boom")
    with db.unit_of_work() as s:
        pass  # hooks do not linger into another unit of work
    assert ran == ["committed", "rolled back 2"]

    def broken() -> None:
        raise OSError("share gone")

    with caplog.at_level(logging.ERROR), db.unit_of_work() as s:
        after_commit(s, broken, broken)  # the commit stands; the failure is logged
    assert "event=after_commit_failed committed=True" in caplog.text


# -- the pipeline and the sweep ------------------------------------------------------------

class Desk:
    def __init__(self, db: Database, tmp_path: Path) -> None:
        box = f'[[mailbox]]\nname = "sales"\nkind = "maildir"\npath = "{tmp_path / "in"}"\n'
        self.settings = settings_for(tmp_path, box, extra=(
            f'[review]\npath = "{tmp_path / "review"}"\n[database]\nurl = "{db.url}"\n'))
        self.db, self.review = db, ReviewFolder(self.settings.review_path)

    def store(self, n: int) -> int:
        data = inquiry(n)
        with self.db.unit_of_work() as s:
            row = Message(direction="in", size=len(data), dedup_key=f"staging-{n}",
                          raw=RawMessage(sha256=f"{n:064d}", data=data))
            s.add(row)
            s.flush()
            return row.id

    def drafts(self) -> int:
        with self.db.unit_of_work() as s:
            return int(s.scalar(select(func.count()).select_from(Draft)) or 0)


def test_a_unit_of_work_that_fails_after_drafting_leaves_no_file(db: Database,
                                                                 tmp_path: Path) -> None:
    desk = Desk(db, tmp_path)
    message = desk.store(1)

    def fails_last(session: object, message: object, mail: object) -> None:
        raise RuntimeError("a later step broke")

    stages = [*pipeline.default_stages(desk.settings, BOOK), fails_last]
    outcomes = pipeline.process_pending(db, ParseLimits(), 3, stages)
    assert [(o.message, o.state) for o in outcomes] == [(message, MessageState.FAILED)]
    assert desk.drafts() == 0
    assert os.listdir(desk.review.folder("pending")) == []

    # The next attempt drafts it: one draft, shown, nothing left staged.
    outcomes = pipeline.process_pending(db, ParseLimits(), 3,
                                        pipeline.default_stages(desk.settings, BOOK))
    assert [o.state for o in outcomes] == [MessageState.PROCESSED]
    assert desk.drafts() == 1
    assert len([n for n in visible(desk.review) if n.endswith(".eml")]) == 1
    assert hidden(desk.review) == []


def test_the_sweep_discards_a_stage_whose_row_never_came(db: Database, tmp_path: Path) -> None:
    desk = Desk(db, tmp_path)
    # What a process killed before its commit leaves: the staged files, no row.
    name = desk.review.stage_pending("d20261120-dead0001", draft_message("d20261120-dead0001"),
                                     "ctx", grade="A", buyer_label="Buyer", when=WHEN)
    assert settle_staged(db, desk.review) == (0, 0)  # young: its writer may still commit
    assert desk.review.unpublished()[0].name == name
    age(desk.review, STALE_SECONDS + 60)
    assert settle_staged(db, desk.review) == (0, 1)
    assert os.listdir(desk.review.folder("pending")) == []


def test_the_sweep_leaves_a_running_writers_stage_however_old(db: Database,
                                                              tmp_path: Path) -> None:
    desk = Desk(db, tmp_path)  # this process is running: its unit of work may yet commit
    desk.review.stage_pending("d20261120-busy0001", draft_message("d20261120-busy0001"),
                              "ctx", grade="A", buyer_label="Buyer", when=WHEN, writer=ME)
    age(desk.review, STALE_SECONDS * 24)  # a share whose clock runs a day ahead
    assert settle_staged(db, desk.review) == (0, 0)
    assert [s.draft_id for s in desk.review.unpublished()] == ["d20261120-busy0001"]


def test_the_sweep_publishes_a_stage_whose_row_was_committed(db: Database,
                                                             tmp_path: Path) -> None:
    desk = Desk(db, tmp_path)
    draft_id = "d20261120-live0001"
    name = desk.review.stage_pending(draft_id, draft_message(draft_id), "ctx", grade="A",
                                     buyer_label="Buyer", when=WHEN)
    with db.unit_of_work() as s:  # committed, then killed before the rename
        outbox.record_draft(s, draft_id, "reply", "anna@importer.example", "Re: x",
                            f"<{draft_id}@brightstar.example>", name)
    assert settle_staged(db, desk.review) == (1, 0)
    assert visible(desk.review) == [name, name[:-4] + ".txt"]
    assert desk.review.unpublished() == []
