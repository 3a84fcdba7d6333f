"""What parse promises for any bytes at all, as assertions the fuzz tests share."""

from __future__ import annotations

import re
import time
from dataclasses import fields
from datetime import timedelta

from daemon.errors import PermanentError
from daemon.parse import MAX_DEFECTS, parse
from daemon.types import Address, Mail, ParseLimits

# The reasons parse gives on purpose. Its catch-all ("unexpected parser failure") and
# the stdlib running out of stack ("too deep for the email parser") are bugs here.
REFUSALS = ("message is", "headers are", "no headers found", "multipart nesting deeper",
            "more than ")
# What could break a header or a log line: C0 and C1 controls, Unicode line breaks, BOM.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
# Parse is linear; the slowest corpus message takes ~0.1 s. Generous for a busy machine.
SECONDS = 3.0
DEFAULT = ParseLimits()
_BODY_FIELDS = ("text", "quoted", "signature")


def parse_or_refusal(raw: bytes, limits: ParseLimits = DEFAULT) -> Mail | PermanentError:
    """parse(raw), checked against its contract; the PermanentError if it refused."""
    start = time.perf_counter()
    try:
        mail = parse(raw, limits)
    except PermanentError as exc:
        assert str(exc).startswith(REFUSALS), f"refused for an unexpected reason: {exc}"
        result: Mail | PermanentError = exc
    else:
        check_mail(mail)
        result = mail
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS, f"parse took {timedelta(seconds=elapsed)} on {len(raw):,} bytes"
    return result


def check_mail(mail: Mail) -> None:
    """Field by field, what every Mail holds whatever the sender wrote."""
    for f in fields(mail):
        value = getattr(mail, f.name)
        if isinstance(value, str) and f.name not in _BODY_FIELDS:
            assert one_line(value), f"{f.name} is not one clean line: {value!r}"
    assert "\r" not in mail.subject and "\n" not in mail.subject
    for name in _BODY_FIELDS:
        text = getattr(mail, name)
        assert isinstance(text, str) and "\r" not in text and "\x00" not in text, name
    for address in (mail.from_, *mail.to, *mail.cc, *mail.reply_to):
        if address is not None:
            check_address(address)
    assert len(mail.defects) <= MAX_DEFECTS
    assert all(isinstance(d, str) and one_line(d) for d in mail.defects)
    assert mail.date is None or mail.date.utcoffset() == timedelta(0)
    assert all(isinstance(r, str) for r in mail.references)
    for attachment in mail.attachments:
        assert isinstance(attachment.filename, str) and attachment.size >= 0
        assert one_line(attachment.filename) and one_line(attachment.content_type)
    for status in mail.delivery_status:
        assert all(one_line(value) for value in vars_of(status))


def check_address(address: Address) -> None:
    assert isinstance(address.name, str) and isinstance(address.email, str)
    assert address.email and one_line(address.email) and one_line(address.name)


def one_line(text: str) -> bool:
    return not _CONTROLS.search(text)


def vars_of(item: object) -> list[str]:
    return [getattr(item, f.name) for f in fields(item)]  # type: ignore[arg-type]
