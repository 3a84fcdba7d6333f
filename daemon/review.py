"""Where drafts wait for a person (I/O edge): the one interface both backends offer.

`[review] backend = "folder"` (default) is the shared folder of review_folder.py: one
.eml per draft with a .txt of context beside it. `backend = "imap"` is review_imap.py:
the same drafts, byte for byte, as messages in `<imap_prefix>/Pending`, `/Approved`,
`/Rejected`, `/Sent` and `/Failed` of one configured mailbox, moved by reviewers in
their own mail client. The drafting step writes through `write_pending`; the sweep
(sweep.py) lists, reads and moves items and applies the same admission rules to both.

An item is a backend's handle on one draft where it lies now: a Path for the folder, an
ImapItem (folder and UID) for IMAP. It is only valid until the item is moved, by us or
by a person; a vanished item raises FileNotFoundError from `read_approved` and `move`.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.db import after_commit
from daemon.leases import ME
from daemon.review_folder import ApprovedDraft, ReviewFolder, Staged

ItemT = TypeVar("ItemT")


class ReviewBackend(Protocol[ItemT]):
    """What drafting and the sweep need from the place where drafts are reviewed.

    Folder names are the logical ones: "pending", "approved", "rejected", "sent",
    "failed". Use it as a context manager around a batch of calls (a sweep): a backend
    that talks to a server holds one session for the batch; outside one, each call
    opens and closes its own.
    """

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def file_name(self, draft_id: str, *, grade: str, buyer_label: str, when: datetime) -> str:
        """The name the draft is recorded under (drafts.file_name)."""
        ...

    def write_pending(self, draft_id: str, message: EmailMessage, context: str, *,
                      grade: str, buyer_label: str, when: datetime) -> str:
        """Put the draft and its reviewer context in pending; the name written."""
        ...

    def stage_pending(self, draft_id: str, message: EmailMessage, context: str, *,
                      grade: str, buyer_label: str, when: datetime, writer: str = "") -> str:
        """Write the draft where no reviewer sees it yet (`publish` shows it), marked as
        instance `writer`'s; the name. A backend that cannot hold a draft back writes it
        to pending at once."""
        ...

    def publish(self, staged: Staged, *, late: bool = False) -> None:
        """Show a staged draft to reviewers. `late`: its writer stopped after the
        commit, and may have shown it already (a backend that cannot tell by its name
        looks first, so it shows once)."""
        ...

    def discard(self, staged: Staged) -> None:
        """Remove a staged draft whose row was never committed."""
        ...

    def unpublished(self) -> list[Staged]:
        """Staged drafts neither published nor discarded (their writer stopped)."""
        ...

    def tidy(self) -> None:
        """Put the backend's own bookkeeping in order before a sweep."""
        ...

    def approved_items(self, min_age: float = 0.0) -> list[ItemT]:
        """The drafts people approved, in the order they are to be judged."""
        ...

    def rejected_items(self) -> list[ItemT]:
        """The drafts people rejected."""
        ...

    def named_draft_id(self, item: ItemT) -> str:
        """The draft id known without reading the item ('' = not known)."""
        ...

    def header_draft_id(self, item: ItemT) -> str:
        """The draft id in the item's X-Inquiryd-Draft header ('' = none or several)."""
        ...

    def read_approved(self, item: ItemT) -> ApprovedDraft:
        """Read an approved item; ReviewFileError says why it cannot be sent."""
        ...

    def move(self, item: ItemT, to: str, reason: str | None = None) -> ItemT:
        """Move an item to folder `to` (with a reason a person reads, in failed)."""
        ...

    def locate(self, draft_id: str, name: str, folders: tuple[str, ...]) -> ItemT | None:
        """Where a draft (by id and recorded name) is now, looking in `folders` in order."""
        ...


def review_backend(settings: Settings) -> ReviewBackend[Any]:
    """The backend `[review]` configures; nothing is connected until it is used."""
    if settings.review.backend == "imap":
        from daemon.review_imap import ImapReview  # the folder backend needs no IMAP

        return ImapReview.from_settings(settings)
    return ReviewFolder(settings.review_path)


def review_backends(settings: Settings) -> list[ReviewBackend[Any]]:
    """Every review folder a sweep looks in: the shared one (follow-ups, drafts from
    before owners were configured), then each salesperson's (`[[salesperson]]`)."""
    return [review_backend(settings), *(ReviewFolder(p) for p in settings.review_paths[1:])]


def write_for_review(session: Session, review: ReviewBackend[Any], draft_id: str,
                     message: EmailMessage, context: str, *, grade: str, buyer_label: str,
                     when: datetime) -> str:
    """Write a draft whose row `session` has added: reviewers see it once the unit of
    work commits, and never if it rolls back. A process killed in between leaves it
    staged; the sweep publishes it when the row exists and discards it when the row
    never came and its writer is gone (the message is drafted again, so one draft
    shows, not two)."""
    name = review.stage_pending(draft_id, message, context, grade=grade,
                                buyer_label=buyer_label, when=when, writer=ME)
    staged = Staged.of(name, ME)
    after_commit(session, lambda: review.publish(staged), lambda: review.discard(staged))
    return name
