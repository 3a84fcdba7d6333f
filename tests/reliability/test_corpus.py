"""Every file of the shared mail corpus, through a real Dovecot and one poll.

About 900 real and deliberately broken messages (/work/shared/corpus, see its
SOURCES.md) are APPENDed to one user's INBOX. One poll must store every one the server
holds and leave each processed or quarantined with a reason: none left waiting, none
failed (a failure is an exception the parser did not turn into a reason), and the
mailbox's poll without an error. A second poll must store nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select

from daemon import runner
from daemon.db import Database
from daemon.models import Message, MessageState
from tests.db.fixtures import missing
from tests.helpers import imap_settings

pytestmark = pytest.mark.imap

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

# Files the server refuses at APPEND, so they can never reach inquiryd over IMAP. Any
# other refusal fails the test: it would be a file silently left out of the run.
# - sample_output_multipart is an empty file, and Dovecot answers "Can't save a zero
#   byte message". (Files with NUL bytes are accepted: Dovecot stores each NUL as 0x80.
#   Bare LF and bare CR line ends are accepted too and handed back as CRLF.)
REFUSED_BY_DOVECOT = {"ruby-mail/sample_output_multipart"}


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        missing("the mail corpus", f"expected at {CORPUS}")
    return sorted(p for p in CORPUS.rglob("*")
                  if p.is_file() and not p.name.startswith("LICENSE") and p.suffix != ".md")


def append_each(user, files: list[Path]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """APPEND the files one by one (one refusal must not take a batch with it);
    return the refused ones, by path under the corpus, with the server's answer."""
    refused = {}
    with user.server.connect(user.name, timeout=60) as client:
        for path in files:
            try:
                client.append("INBOX", path.read_bytes())
            except IMAPClientError as exc:
                refused[path.relative_to(CORPUS).as_posix()] = str(exc)
    return refused


def rows(db: Database) -> list[tuple[str, int, MessageState, str | None]]:
    with db.unit_of_work() as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(Message.folder, Message.uid, Message.state, Message.error))]


def test_every_corpus_message_is_stored_once_and_settled(tmp_path: Path, imap_user,
                                                         db: Database) -> None:
    files = corpus_files()
    refused = append_each(imap_user, files)
    assert set(refused) == REFUSED_BY_DOVECOT, refused
    server_uids = imap_user.server.uids(imap_user.name, "INBOX")
    assert len(server_uids) == len(files) - len(refused)

    settings = imap_settings(tmp_path, imap_user, extra="batch_size = 100\n")
    (box,) = runner.poll(settings, db).mailboxes

    assert box.error is None
    assert (box.fetched, box.stored) == (len(server_uids), len(server_uids))
    stored = rows(db)
    assert len(stored) == len(server_uids)
    assert sorted(uid for _, uid, _, _ in stored) == server_uids
    states = Counter(state for _, _, state, _ in stored)
    print(f"\ncorpus: {len(files)} files, {len(refused)} refused by Dovecot, "
          f"{ {s.value: n for s, n in states.items()} }")
    for _, uid, state, error in stored:
        if state is MessageState.QUARANTINED:
            print(f"  quarantined uid {uid}: {error}")
    unsettled = [(uid, state.value, error) for _, uid, state, error in stored
                 if state not in (MessageState.PROCESSED, MessageState.QUARANTINED)]
    assert unsettled == []
    assert all(error for _, _, state, error in stored if state is MessageState.QUARANTINED)
    assert box.processed + box.quarantined == len(server_uids)

    (again,) = runner.poll(settings, db).mailboxes
    assert (again.fetched, again.stored, again.error) == (0, 0, None)
    assert len(rows(db)) == len(server_uids)
