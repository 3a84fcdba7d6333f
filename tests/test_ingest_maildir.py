"""Ingestion from a local Maildir (the embedded default), and the demo inbox."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from daemon import runner
from daemon.models import Message, MessageState
from tests.helpers import inquiry, settings_for

ROOT = Path(__file__).resolve().parents[1]


def maildir(tmp_path: Path, messages: dict[str, bytes], sub: str = "new") -> Path:
    root = tmp_path / "Maildir"
    for d in ("new", "cur", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, raw in messages.items():
        (root / sub / name).write_bytes(raw)
    return root


def maildir_settings(tmp_path: Path, root: Path):  # type: ignore[no-untyped-def]
    return settings_for(tmp_path, f'[[mailbox]]\nname = "local"\nkind = "maildir"\n'
                                  f'path = "{root}"\n')


def test_maildir_poll_stores_each_file_once_and_leaves_files_alone(tmp_path, sqlite_db) -> None:
    root = maildir(tmp_path, {f"17640000{i:02d}.M{i}.host": inquiry(i) for i in range(5)})
    (root / "cur" / "1764000099.M99.host:2,S").write_bytes(inquiry(99))
    before = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    settings = maildir_settings(tmp_path, root)
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert (box.fetched, box.stored, box.processed) == (6, 6, 6)
    assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) == before
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert (box.fetched, box.stored) == (0, 0)


def test_a_file_moved_from_new_to_cur_is_not_stored_again(tmp_path, sqlite_db) -> None:
    root = maildir(tmp_path, {"1764000001.M1.host": inquiry(1)})
    settings = maildir_settings(tmp_path, root)
    runner.poll(settings, sqlite_db)
    shutil.move(root / "new" / "1764000001.M1.host", root / "cur" / "1764000001.M1.host:2,S")
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert box.stored == 0


def test_not_a_maildir_is_a_mailbox_error(tmp_path, sqlite_db) -> None:
    settings = maildir_settings(tmp_path, tmp_path / "nowhere")
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert "not a Maildir" in (box.error or "")


def test_broken_message_is_set_aside_and_the_rest_processed(tmp_path, sqlite_db) -> None:
    huge_nesting = b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + b"".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n".encode()
        for i in range(1000))
    root = maildir(tmp_path, {"1764000001.a": inquiry(1), "1764000002.b": huge_nesting,
                              "1764000003.c": inquiry(3)})
    (box,) = runner.poll(maildir_settings(tmp_path, root), sqlite_db).mailboxes
    assert (box.stored, box.processed, box.quarantined) == (3, 2, 1)
    with sqlite_db.unit_of_work() as s:
        bad = s.scalars(select(Message).where(Message.state == MessageState.QUARANTINED)).one()
        assert bad.source_key == "1764000002.b" and "nest" in bad.error
        assert bad.raw.data == huge_nesting  # kept, never dropped


def test_bundled_sample_inbox_is_processed_whole(tmp_path, sqlite_db) -> None:
    settings = maildir_settings(tmp_path, ROOT / "examples" / "inbox")
    (box,) = runner.poll(settings, sqlite_db).mailboxes
    assert box.stored >= 26 and box.error is None
    assert box.processed == box.stored
