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

from daemon.config import Settings
from daemon.review_folder import ApprovedDraft, ReviewFolder

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
    backends = [review_backend(settings)]
    seen = {settings.review_path}
    for person in settings.salesperson:
        path = settings.salesperson_review_path(person.name)
        if path not in seen:
            seen.add(path)
            backends.append(ReviewFolder(path))
    return backends
