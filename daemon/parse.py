"""Raw message bytes -> `Mail`: the parse stage, and the only importer of mailparser.

`parse(raw, limits)` either returns a `Mail` or raises `PermanentError` with a reason a
person can read; it raises nothing else, whatever the bytes.

The order of work, and who does what:

1. **Limits, before any parser sees the bytes.** The stdlib `email` package (under
   mail-parser) recurses once per nesting level and is slow on tens of thousands of
   parts, so size, header size, part count and nesting depth are measured first with
   bytes methods and compiled byte regexes (`_check_structure`): linear, and cheap
   enough to refuse a 1,000-deep or 100,000-part message in milliseconds.
2. **Normalise**: NUL bytes are removed, CRLF and bare CR become LF (noted as defects).
3. **MIME structure**: `email.parser.BytesParser` with `compat32`, from bytes. compat32
   keeps 8-bit header bytes recoverable (surrogateescape) and never raises on bad
   headers; `policy.default` took 5.8 s to read a 20,000-word subject that compat32
   hands over in 1.5 ms. Where it does raise (TypeError on a cut RFC 2231
   "boundary*" parameter), the headers are read and the body kept as one text.
4. **Body text, attachments, delivery status**: our own walk over the stdlib parts,
   decoding each text part from its bytes (`get_payload(decode=True)`) with our charset
   table. mail-parser 4.8 is not used for these. On the sample inbox's gb2312-labelled
   GBK message it decodes strictly as gb2312 and, on the first GBK-only character (镕),
   turns the whole part into UTF-8 replacement characters; it decodes headers and
   filenames with errors="ignore" (the subject comes out as other characters). It
   also names unnamed attachments with random strings (the same bytes would not parse
   the same twice), base64-encodes every attachment payload we would throw away, puts
   the text of attached messages among the body texts, and raises AttributeError on
   bounces with a missing start boundary (sisimai lhost-sendgrid-01).
5. **Addresses and date: mail-parser**, on a headers-only copy of From, To, Cc,
   Reply-To and Date. Its address scanner recovers mailboxes from broken headers
   without letting decoded names inject commas or angle brackets, and its date parser
   accepts obsolete syntax and returns an aware UTC datetime; both report defects.
   We hand it only those headers, with any raw 8-bit bytes already decoded, because it
   decodes every other header with `email.header.decode_header`, which is quadratic
   (a 20,000-word subject costs ~0.5 s there, 200,000 words ~85 s).
6. **Subject and other headers**: our own linear RFC 2047 decoder
   (`_decode_header_text`), with the same charset table, merging adjacent encoded words
   before decoding so that a character split across two words survives.
7. **Reply split**: the new text is separated from quoted history and signature.
"""

from __future__ import annotations

import binascii
import codecs
import email.parser
import email.policy
import email.utils
import functools
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message

import mailparser

from daemon.errors import PermanentError
from daemon.header_text import clean_line
from daemon.html_text import html_to_text
from daemon.types import Address, Attachment, DeliveryStatus, Mail, ParseLimits

# mail-parser logs a WARNING for every part type it does not render as text and an
# ERROR with the whole header for every undecodable one; what matters to us is kept
# in Mail.defects instead of flooding the journal.
logging.getLogger("mailparser").setLevel(logging.CRITICAL)

__all__ = ["parse", "split_reply", "clean_line"]

MAX_DEFECTS = 50
MAX_DELIVERY_STATUS = 100
_FIELD_CHARS = 2000

# ---------------------------------------------------------------------------- limits

_HEADER_START = re.compile(rb"(?:From [^\n]*\n)?[\x21-\x39\x3b-\x7e]+[ \t]*:")
# The stdlib's own header rule (feedparser.headerRE): the block ends at the first line
# that is neither "name:", a continuation nor a (misplaced) "From " line. Nothing
# follows the repetition, so the match never backtracks: linear.
_HEADER_BLOCK = re.compile(
    rb"(?:From [^\n]*\n|[\x21-\x39\x3b-\x7e]*[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*(?:\n|\Z))*")
_OBSOLETE_COLON = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]+:", re.M)
_LEADING_BLANK = re.compile(rb"(?:[ \t]*\n)+")
_NESTABLE = re.compile(rb"\ncontent-type[ \t]*:[ \t\n]*(multipart|message)/")
_FOLDED = re.compile(rb"[^\n]*(?:\n[ \t][^\n]*)*")
_BOUNDARY = re.compile(
    rb'(?<![\w-])boundary[ \t\n]*=[ \t\n]*(?:"([^"\n]*)"|([^;\s]+))', re.I)
_DASH_LINE = re.compile(rb"\n--([^\n]*)")


def _human(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size:,} bytes"


def _check_size(raw: bytes, limits: ParseLimits) -> None:
    if len(raw) > limits.max_bytes:
        raise PermanentError(
            f"message is {len(raw):,} bytes, over the {_human(limits.max_bytes)} limit")
    if not raw or raw.isspace():
        raise PermanentError("message is empty")


def _normalise(raw: bytes) -> tuple[bytes, list[str]]:
    """Remove NULs and make every line end LF, so neither the scan nor the parser trips."""
    notes = []
    data = raw
    nuls = data.count(b"\0")
    if nuls:
        notes.append(f"{nuls:,} NUL bytes removed")
        data = data.replace(b"\0", b"")
    data = data.replace(b"\r\n", b"\n")
    if b"\r" in data:
        notes.append("bare CR line endings read as line breaks")
        data = data.replace(b"\r", b"\n")
    blank = _LEADING_BLANK.match(data)
    if blank:
        notes.append("blank lines before the headers removed")
        data = data[blank.end():]
    return data, notes


def _check_headers(data: bytes, limits: ParseLimits, notes: list[str]) -> bytes:
    """Refuse what has no or too large a header block; fix obsolete "Name :" syntax."""
    if not _HEADER_START.match(data):
        raise PermanentError("no headers found: this is not an email message")
    size = _HEADER_BLOCK.match(data).end()  # type: ignore[union-attr]  # always matches
    if size > limits.max_header_bytes:
        raise PermanentError(f"headers are {size:,} bytes, over the "
                             f"{_human(limits.max_header_bytes)} limit")
    block, fixed = _OBSOLETE_COLON.subn(rb"\1:", data[:size])
    if not fixed:
        return data
    # RFC 5322 section 4.5 allows it; the stdlib would end the headers at such a line.
    notes.append("obsolete spaces before a header colon removed")
    return block + data[size:]


@dataclass(frozen=True, slots=True)
class _Container:
    """A Content-Type: multipart/* or message/* declaration found by the byte scan."""

    position: int
    boundary: bytes | None


def _declarations(data: bytes, lowered: bytes, limits: ParseLimits) -> list[_Container]:
    """Every multipart/message declaration, up to one more than the part limit."""
    found: list[_Container] = []
    for match in _NESTABLE.finditer(lowered):
        if len(found) > limits.max_parts:
            break
        boundary = None
        if match.group(1) == b"multipart":
            value = _FOLDED.match(data, match.end()).group()  # type: ignore[union-attr]
            param = _BOUNDARY.search(value)
            if param:
                boundary = (param.group(1) if param.group(1) is not None
                            else param.group(2)).strip()
        found.append(_Container(match.start(), boundary or None))
    return found


def _is_delimiter(token: bytes, boundaries: set[bytes]) -> tuple[bytes, bool] | None:
    """(boundary, is_close) when a '--' line delimits one of the boundaries."""
    token = token.rstrip(b" \t")
    if token in boundaries:
        return token, False
    if token.endswith(b"--") and token[:-2] in boundaries:
        return token[:-2], True
    return None


def _count_parts(data: bytes, boundaries: set[bytes]) -> int:
    # Counter counts in C; only distinct '--' lines are looked at in Python.
    lines = Counter(_DASH_LINE.findall(data))
    return sum(n for token, n in lines.items()
               if (hit := _is_delimiter(token, boundaries)) and not hit[1])


def _depth(data: bytes, containers: list[_Container], boundaries: set[bytes]) -> int:
    """Deepest nesting, replaying declarations and delimiter lines in file order."""
    events: list[tuple[int, bytes | None, bool | None]] = [
        (c.position, c.boundary, None) for c in containers]
    for match in _DASH_LINE.finditer(data):
        hit = _is_delimiter(match.group(1), boundaries)
        if hit:
            events.append((match.start(), hit[0], hit[1]))
    events.sort(key=lambda event: event[0])
    stack: list[bytes | None] = []
    deepest = 0
    for _, boundary, is_close in events:
        if is_close is None:
            stack.append(boundary)
            deepest = max(deepest, len(stack))
        elif boundary in stack:
            # A delimiter ends every container opened inside its own multipart.
            top = len(stack) - 1 - stack[::-1].index(boundary)
            del stack[top + (0 if is_close else 1):]
    return deepest


def _check_structure(data: bytes, limits: ParseLimits) -> None:
    data = b"\n" + data  # so that a header on the first line is found like any other
    containers = _declarations(data, data.lower(), limits)
    boundaries = {c.boundary for c in containers if c.boundary}
    # Depth cannot exceed the number of containers: replay only when it might.
    if len(containers) > limits.max_depth and (
            _depth(data, containers, boundaries) > limits.max_depth):
        raise PermanentError(f"multipart nesting deeper than {limits.max_depth}")
    if len(containers) > limits.max_parts or (
            boundaries and _count_parts(data, boundaries) > limits.max_parts):
        raise PermanentError(f"more than {limits.max_parts:,} MIME parts")


# -------------------------------------------------------------------------- charsets

# Labels that mail clients use for a narrower charset than the bytes they send: read
# each with a superset (as WHATWG, Thunderbird and JavaMail do). Tried in order.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "cp936", "ms936", "euc-cn", "x-euc-cn",
                     "csgb2312", "gb_2312-80", "chinese", "gb18030"), ("gb18030",)),
    **dict.fromkeys(("big5", "x-big5", "cn-big5", "csbig5", "big5-hkscs"),
                    ("big5hkscs", "cp950")),
    **dict.fromkeys(("ks_c_5601-1987", "ks_c_5601", "ksc5601", "ksc_5601", "euc-kr",
                     "x-euc-kr", "korean", "csksc56011987", "windows-949"), ("cp949",)),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji",
                     "csshiftjis", "windows-31j"), ("cp932",)),
    **dict.fromkeys(("iso-2022-jp", "csiso2022jp"),
                    # 8-bit bytes under this 7-bit label are EUC-JP or Shift_JIS.
                    ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3",
                     "euc_jp", "cp932")),
    **dict.fromkeys(("euc-jp", "x-euc-jp"), ("euc_jp", "euc_jis_2004")),
    **dict.fromkeys(("iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1",
                     "windows-1252", "cp1252"), ("cp1252", "latin-1")),
    **dict.fromkeys(("us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", ""),
                    ("utf-8", "cp1252", "latin-1")),
    **dict.fromkeys(("iso-8859-9", "latin5"), ("cp1254", "iso8859-9")),
    **dict.fromkeys(("tis-620", "iso-8859-11"), ("cp874",)),
    **dict.fromkeys(("utf-7", "unicode-1-1-utf-7"), ("utf-7",)),
}
_MULTIBYTE = frozenset({"gb18030", "big5hkscs", "cp950", "cp949", "cp932", "euc_jp",
                        "euc_jis_2004"})
# Codecs that are not charsets a sender may pick: they interpret escapes or raise.
_REFUSED = frozenset({"undefined", "unicode-escape", "raw-unicode-escape", "idna",
                      "punycode", "mbcs", "oem"})
_ASCII_PROBE = b"From: a.b@c-d.e, <x+-y> \"q\" =?~~;[]\\ 09AZaz"


@functools.lru_cache(maxsize=512)
def _codecs_for(label: str) -> tuple[str, ...]:
    """Python codecs to try, in order, for a charset label; () when it is unknown."""
    label = label.strip().strip("\"'").lower()
    if label in _SUPERSETS:
        return _SUPERSETS[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return ()
    if info.name in _REFUSED or not getattr(info, "_is_text_encoding", True):
        return ()
    return (info.name,)


@functools.lru_cache(maxsize=512)
def _ascii_compatible(codec: str) -> bool:
    try:
        return _ASCII_PROBE.decode(codec) == _ASCII_PROBE.decode("ascii")
    except (UnicodeError, LookupError):
        return False


def _decode_unknown(data: bytes) -> str:
    """Best guess without a usable label: UTF-8 if it mostly is, else a Latin charset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    # Real UTF-8 with a few broken sequences keeps its letters; Latin-1 text decoded
    # as UTF-8 gives almost nothing but replacement characters.
    if non_ascii - bad >= 4 * bad:
        return text
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_bytes(data: bytes, label: str | None) -> tuple[str, str | None]:
    """Decode text bytes labelled `label` (None: no label); return text and a defect."""
    candidates = _codecs_for(label or "")
    for codec in candidates:
        try:
            return data.decode(codec), None
        except UnicodeError:
            continue
    if not candidates:
        return _decode_unknown(data), f"unknown charset {label!r}, decoded by guess"
    try:
        # Mislabelled UTF-8 is the commonest wrong label of all.
        return data.decode("utf-8"), f"text labelled {label!r} was UTF-8"
    except UnicodeDecodeError:
        text = data.decode(candidates[0], "replace")
        return text, f"bytes invalid in charset {label!r} replaced"


def _decode_guess(data: bytes, hints: tuple[str, ...]) -> str:
    """Unlabelled 8-bit header bytes: UTF-8, then the message's own charsets."""
    for codec in ("utf-8", *hints):
        try:
            return data.decode(codec)
        except UnicodeError:
            continue
    return _decode_unknown(data)


# ----------------------------------------------------------------------- RFC 2047

_ENCODED_WORD = re.compile(rb"=\?([^?\s]*)\?([bBqQ])\?([^?\s]*)\?=")
_BODY_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")


def _word_bytes(encoding: bytes, text: bytes) -> bytes:
    if encoding in b"bB":
        try:
            return binascii.a2b_base64(text + b"==")
        except binascii.Error:
            return b""
    return binascii.a2b_qp(text, header=True)


@dataclass(slots=True)
class _WordRun:
    """Adjacent encoded words in one charset, decoded together (multibyte splits)."""

    label: str
    data: bytearray = field(default_factory=bytearray)


def _header_pieces(raw: bytes) -> list[bytes | _WordRun]:
    """Split a header into literal byte runs and runs of encoded words."""
    pieces: list[bytes | _WordRun] = []
    position = 0
    for match in _ENCODED_WORD.finditer(raw):
        literal = raw[position:match.start()]
        previous = pieces[-1] if pieces else None
        label = match.group(1).split(b"*", 1)[0].decode("ascii", "replace").lower()
        # RFC 2047: whitespace between two encoded words is not part of the text.
        if isinstance(previous, _WordRun) and not literal.strip(b" \t\n"):
            if previous.label != label:
                previous = None
        else:
            if literal:
                pieces.append(literal)
            previous = None
        if previous is None:
            previous = _WordRun(label)
            pieces.append(previous)
        previous.data += _word_bytes(match.group(2), match.group(3))
        position = match.end()
    if position < len(raw):
        pieces.append(raw[position:])
    return pieces


def _decode_header_text(raw: bytes, hints: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Decode one header value from its bytes, to clean one-line text, with defects."""
    notes: list[str] = []
    out: list[str] = []
    for piece in _header_pieces(raw.replace(b"\n", b"")):
        if isinstance(piece, _WordRun):
            text, note = _decode_bytes(bytes(piece.data), piece.label)
            if note:
                notes.append(f"encoded word: {note}")
        elif piece.isascii():
            text = piece.decode("ascii")
        else:
            text = _decode_guess(piece, hints)
            notes.append("raw 8-bit bytes in a header")
        out.append(text)
    return clean_line("".join(out)), notes


def _clean_text(text: str) -> str:
    """Body text: LF line breaks and tabs kept, other control characters dropped."""
    return _BODY_CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


# ---------------------------------------------------------------------- MIME parts

_PARSER = email.parser.BytesParser(policy=email.policy.compat32)
_HEADERS_ONLY = email.parser.BytesHeaderParser(policy=email.policy.compat32)
_BODY_TYPES = ("text/plain", "text/html")


def _mime_tree(data: bytes, notes: list[str]) -> Message:
    """The stdlib's parse; where it fails, the headers with the body as one text."""
    try:
        return _PARSER.parsebytes(data)
    except RecursionError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. TypeError on a cut "boundary*" parameter
        notes.append(f"MIME structure unreadable ({type(exc).__name__}): body read as one text")
        return _HEADERS_ONLY.parsebytes(data)


@dataclass(slots=True)
class _Parts:
    """What the walk over the MIME tree collects."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    delivery_status: list[DeliveryStatus] = field(default_factory=list)
    charsets: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _hints_from(labels: list[str]) -> tuple[str, ...]:
    """Codecs of the charsets a message declared, for guessing unlabelled 8-bit bytes."""
    codecs_ = dict.fromkeys(c for label in labels for c in _codecs_for(label)[:1])
    usable = [c for c in codecs_ if _ascii_compatible(c) and c != "utf-8"]
    # Multibyte codecs reject wrong bytes; single-byte ones accept anything: try first.
    return tuple(sorted(usable, key=lambda c: c not in _MULTIBYTE))


def _raw_bytes(value: object) -> bytes:
    """A compat32 raw header value back to the bytes that were on the wire."""
    text = str(value)
    try:
        return text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _stdlib_defects(part: Message, ctype: str) -> list[str]:
    notes = []
    for defect in part.defects:
        doc = (type(defect).__doc__ or "").strip().splitlines()
        notes.append(f"{ctype}: {type(defect).__name__}" + (f" ({doc[0]})" if doc else ""))
    return notes


def _latin1_bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _param_text(part: Message, name: str, header: str, hints: tuple[str, ...]) -> str:
    """A parameter (filename, name) decoded: RFC 2231, RFC 2047 words or raw 8-bit."""
    raw = next((v for k, v in part.raw_items() if k.lower() == header), None)
    if raw is None:
        return ""
    data = _raw_bytes(raw).replace(b"\n", b"")
    # The stdlib turns raw 8-bit parameters into U+FFFD: decode them first ourselves.
    holder = Message()
    holder[header] = data.decode("ascii") if data.isascii() else _decode_guess(data, hints)
    try:
        value = holder.get_param(name, header=header)
    except TypeError:  # a cut RFC 2231 parameter ("name*"): no name can be read
        return ""
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded as latin-1)
        label, _, text = value
        return clean_line(_decode_bytes(_latin1_bytes(text), label or "utf-8")[0])
    if not value:
        return ""
    return _decode_header_text(email.utils.unquote(value).encode("utf-8"), hints)[0]


def _filename(part: Message, hints: tuple[str, ...]) -> str:
    return (_param_text(part, "filename", "content-disposition", hints)
            or _param_text(part, "name", "content-type", hints))


def _payload_size(part: Message) -> int:
    if part.is_multipart():
        return sum(_payload_size(p) for p in part.walk() if not p.is_multipart())
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _charset_label(part: Message) -> str | None:
    try:
        words = (part.get_content_charset() or "").split(maxsplit=1)
    except TypeError:  # a cut RFC 2231 parameter ("charset*"): the text is unlabelled
        return None
    # A missing ';' runs the next parameter into the label: charset="gb2312" format=flowed.
    return words[0].strip("\"'") if words else None


def _text_of(part: Message, found: _Parts) -> str:
    label = _charset_label(part)
    if label:
        found.charsets.append(label)
    payload = part.get_payload(decode=True)
    text, note = _decode_bytes(payload if isinstance(payload, bytes) else b"", label)
    if note:
        found.defects.append(f"{part.get_content_type()}: {note}")
    return _clean_text(text)


def _visit_leaf(part: Message, ctype: str, found: _Parts) -> None:
    if ctype.endswith("delivery-status"):
        found.delivery_status.extend(_delivery_status(part))
        return
    if part.get_content_maintype() == "multipart":
        # Its boundary was never found: the stdlib left the body as one text.
        found.plain.append(_text_of(part, found))
        return
    name = _filename(part, _hints_from(found.charsets))
    if ctype in _BODY_TYPES and not name and part.get_content_disposition() != "attachment":
        (found.plain if ctype == "text/plain" else found.html).append(_text_of(part, found))
    else:
        found.attachments.append(Attachment(name, ctype, _payload_size(part)))


def _content_type(part: Message) -> str:
    # RFC 2045 allows folding around the '/': "text/\n plain" is text/plain. Control
    # bytes a sender put there must not reach Mail either.
    return "".join(clean_line(part.get_content_type()).split())


def _walk(message: Message) -> _Parts:
    """Body texts, attachments and delivery reports, in document order."""
    found = _Parts()
    stack = [message]
    while stack:
        part = stack.pop()
        ctype = _content_type(part)
        found.defects.extend(_stdlib_defects(part, ctype))
        try:
            if part.is_multipart() and not ctype.endswith("delivery-status") and (
                    part is message or part.get_content_maintype() != "message"):
                children = [p for p in part.get_payload() if isinstance(p, Message)]
                stack.extend(reversed(children))
            else:
                _visit_leaf(part, ctype, found)
        except Exception as exc:  # noqa: BLE001 - one bad part must not lose the rest
            found.defects.append(f"{ctype}: part skipped, {type(exc).__name__}: {exc}")
    return found


# ---------------------------------------------------------------- delivery status

_DSN_FIELDS = {"final_recipient": "final-recipient", "action": "action",
               "status": "status", "diagnostic_code": "diagnostic-code",
               "original_recipient": "original-recipient", "remote_mta": "remote-mta"}


def _dsn_blocks(part: Message) -> list[Message]:
    if part.is_multipart():  # message/delivery-status: the stdlib parsed the blocks
        return [p for p in part.get_payload() if isinstance(p, Message)]
    payload = part.get_payload(decode=True)
    text = _decode_bytes(payload if isinstance(payload, bytes) else b"", "utf-8")[0]
    parser = email.parser.HeaderParser(policy=email.policy.compat32)
    return [parser.parsestr(block.strip("\n") + "\n")
            for block in re.split(r"\n[ \t]*\n", _clean_text(text)) if block.strip()]


def _dsn_field(block: Message, name: str) -> str:
    value = block.get(name)
    return _decode_header_text(_raw_bytes(value))[0][:_FIELD_CHARS] if value else ""


def _delivery_status(part: Message) -> list[DeliveryStatus]:
    blocks = _dsn_blocks(part)
    reporting = _dsn_field(blocks[0], "reporting-mta") if blocks else ""
    found = []
    for block in blocks[:MAX_DELIVERY_STATUS]:
        values = {key: _dsn_field(block, name) for key, name in _DSN_FIELDS.items()}
        if values["final_recipient"] or values["status"] or values["action"]:
            found.append(DeliveryStatus(**values, reporting_mta=reporting))
    return found


# ------------------------------------------------------- addresses and date (mailparser)

_MAILPARSER_HEADERS = ("from", "to", "cc", "reply-to", "date")


@dataclass(frozen=True, slots=True)
class _Envelope:
    from_: Address | None = None
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    date: datetime | None = None


def _headers_for_mailparser(message: Message, hints: tuple[str, ...]) -> Message:
    """Only the headers mail-parser reads for us, unfolded, raw 8-bit bytes decoded."""
    copy = Message()
    for name, value in message.raw_items():
        if name.lower() in _MAILPARSER_HEADERS:
            data = _raw_bytes(value).replace(b"\n", b"")
            copy[name] = (data.decode("ascii") if data.isascii()
                          else _decode_guess(data, hints))
    return copy


def _addresses(pairs: object, hints: tuple[str, ...]) -> tuple[Address, ...]:
    found = []
    for name, address in pairs if isinstance(pairs, list) else ():
        # mail-parser leaves a word it cannot decode (gb2312 with GBK bytes) as it was.
        if "=?" in name:
            name = _decode_header_text(name.encode("utf-8"), hints)[0]
        found.append(Address(clean_line(name), clean_line(address)))
    return tuple(a for a in found if a.email)


def _mailparser_defects(parsed: mailparser.MailParser) -> list[str]:
    notes: list[str] = []
    for entry in parsed.defects:
        for key, items in entry.items():
            if key in ("address-headers", "date-headers"):
                notes.extend(clean_line(str(item))[:300] for item in items)
    return notes


def _envelope(message: Message, hints: tuple[str, ...]) -> tuple[_Envelope, list[str]]:
    try:
        parsed = mailparser.MailParser(_headers_for_mailparser(message, hints))
        date = parsed.date
        sender = _addresses(parsed.from_, hints)
        envelope = _Envelope(
            from_=sender[0] if sender else None,
            reply_to=_addresses(parsed.reply_to, hints), to=_addresses(parsed.to, hints),
            cc=_addresses(parsed.cc, hints), date=_as_utc(date))
        return envelope, _mailparser_defects(parsed)
    except Exception as exc:  # noqa: BLE001 - a mail-parser bug costs the addresses only
        return _Envelope(), [f"mail-parser failed on the address headers: "
                             f"{type(exc).__name__}: {exc}"]


def _as_utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# ------------------------------------------------------------------- reply splitting

_MARKER_LINE_CHARS = 400
_SPLIT_LINES = 5000
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|mensagem original|messaggio originale|oorspronkelijk bericht|"
    r"исходное сообщение|原始邮件|原始郵件|原始信件)\s*-{2,}\s*$", re.I)
_CJK_FROM = re.compile(r"^\s*(发件人|發件人|寄件者|寄件人)\s*[:：]")
_ON_WROTE = re.compile(
    r"^\s*(on|am|le|el|em|il|op|den|在|於)\s.{0,300}?(wrote|schrieb|a écrit|escribió|"
    r"escreveu|ha scritto|schreef|skrev|写道|寫道)\s*[:：]\s*$", re.I)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|von|de|da|van|от|差出人)\s*:\*?\s", re.I)
_OUTLOOK_SENT = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden|отправлено|"
    r"送信日時|发送时间|發送時間)\s*:", re.I)
_SIGNATURE_DASHES = re.compile(r"^--[ \t]?$")
# Only closings that end a letter; "thanks" often opens a paragraph with more to come.
_SIGN_OFF_WORDS = (
    r"(best |kind |warm |warmest |with best |with kind |many )?regards|best wishes|"
    r"kind wishes|sincerely|yours (sincerely|faithfully|truly)|best|cheers|rgds|br|"
    r"thanks (and|&) (best |kind )?regards|mit freundlichen grüßen|viele grüße|"
    r"freundliche grüße|cordialement|bien cordialement|salutations distinguées|"
    r"saludos cordiales|atentamente|atenciosamente|cordiali saluti|distinti saluti|"
    r"met vriendelijke groet(en)?|с уважением|此致|此致敬礼|顺颂商祺|順頌商祺|敬具")
_SIGN_OFF = re.compile(
    rf"^\s*({_SIGN_OFF_WORDS})(\s*/\s*({_SIGN_OFF_WORDS}))?[\s,.!，。！]*$", re.I)
_SIGNATURE_MAX_LINES = 10  # after a sign-off; a "-- " block may be longer
_SIGNATURE_LINE_CHARS = 100
_DASHES_SEARCH_LINES = 40


def _is_marker(lines: list[str], i: int) -> bool:
    """Does line i start a block of quoted history?"""
    line = lines[i]
    if len(line) > _MARKER_LINE_CHARS:
        return False
    if _ORIGINAL_MESSAGE.match(line) or _CJK_FROM.match(line) or _ON_WROTE.match(line):
        return True
    following = lines[i + 1:i + 2]
    # "On <date>, <name>\n<address> wrote:" is wrapped by many clients.
    if following and _ON_WROTE.match(line + " " + following[0][:_MARKER_LINE_CHARS]):
        return True
    return bool(_OUTLOOK_FROM.match(line)) and any(
        _OUTLOOK_SENT.match(other) for other in lines[i + 1:i + 5])


def _quote_start(lines: list[str]) -> int | None:
    if len(lines) > _SPLIT_LINES:
        # Not a letter someone typed; looking further only costs time.
        lines = lines[:_SPLIT_LINES]
        trailing = False
    else:
        trailing = True
    for i in range(len(lines)):
        if _is_marker(lines, i):
            # Outlook puts a rule of underscores above its "From:" block.
            while i > 0 and set(lines[i - 1].strip()) <= {"_"}:
                i -= 1
            return i
    return _trailing_quote(lines) if trailing else None


def _trailing_quote(lines: list[str]) -> int | None:
    """Start of a final block made only of '>' lines (and blank ones)."""
    start = None
    for i in range(len(lines) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped.startswith(">"):
            start = i
        elif stripped:
            break
    return start


def _signature_start(lines: list[str]) -> int | None:
    for i in range(len(lines) - 1, max(-1, len(lines) - _DASHES_SEARCH_LINES), -1):
        if _SIGNATURE_DASHES.match(lines[i]):
            return i
    tail: list[int] = []
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            tail.insert(0, i)
            if len(tail) > _SIGNATURE_MAX_LINES:
                break
    for i in tail:
        after = [line for line in lines[i + 1:] if line.strip()]
        if (_SIGN_OFF.match(lines[i]) and len(after) <= _SIGNATURE_MAX_LINES
                and all(len(line) <= _SIGNATURE_LINE_CHARS for line in after)):
            return i
    return None


def split_reply(text: str) -> tuple[str, str, str]:
    """Split body text into (new text, quoted history, signature); '' where absent."""
    lines = text.split("\n")
    quote_at = _quote_start(lines)
    quoted = "\n".join(lines[quote_at:]).strip("\n") if quote_at is not None else ""
    lines = lines[:quote_at] if quote_at is not None else lines
    signature_at = _signature_start(lines) if len(lines) <= _SPLIT_LINES else None
    signature = ""
    if signature_at is not None and signature_at > 0:
        start = signature_at + (1 if _SIGNATURE_DASHES.match(lines[signature_at]) else 0)
        signature = "\n".join(lines[start:]).strip("\n")
        lines = lines[:signature_at]
    return "\n".join(lines).strip("\n"), quoted, signature


# ------------------------------------------------------------------------- assembly

_ANGLE_ID = re.compile(r"<[^<>\s]*>")
_MAX_REFERENCES = 200


class _Headers:
    """The top-level headers by lower-cased name, decoded on demand."""

    def __init__(self, message: Message, hints: tuple[str, ...]) -> None:
        self.raw: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            self.raw.setdefault(name.lower(), []).append(value)
        self.hints = hints
        self.notes: list[str] = []

    def text(self, name: str) -> str:
        values = self.raw.get(name)
        if not values:
            return ""
        text, notes = _decode_header_text(_raw_bytes(values[0]), self.hints)
        self.notes.extend(f"{name}: {note}" for note in notes)
        if len(text) > _FIELD_CHARS:
            self.notes.append(f"{name}: cut from {len(text):,} to {_FIELD_CHARS:,} chars")
        return text[:_FIELD_CHARS]

    def ids(self, name: str) -> tuple[str, ...]:
        text = self.text(name)
        return tuple(_ANGLE_ID.findall(text)[:_MAX_REFERENCES]) or tuple(text.split()[:1])

    def autoreply(self) -> str:
        names = [n for n in self.raw if n.startswith(("x-autorepl", "x-autoresp"))]
        return "; ".join(self.text(n) or n for n in names)

    def labels(self) -> list[str]:
        words = [_raw_bytes(v) for n in ("subject", "from") for v in self.raw.get(n, [])]
        return [m.group(1).split(b"*")[0].decode("ascii", "replace").lower()
                for data in words for m in _ENCODED_WORD.finditer(data)]


def _body_text(found: _Parts) -> str:
    plain = "\n\n".join(t.strip("\n") for t in found.plain if t.strip())
    if plain:
        return plain
    return "\n\n".join(html_to_text(h) for h in found.html if h.strip())


def _report_type(message: Message) -> str:
    if _content_type(message) != "multipart/report":
        return ""
    value = message.get_param("report-type")
    return clean_line(value if isinstance(value, str) else "").lower()


def _defects(*groups: list[str]) -> tuple[str, ...]:
    notes = dict.fromkeys(clean_line(n)[:300] for group in groups for n in group)
    return tuple(notes)[:MAX_DEFECTS]


def _build(message: Message, notes: list[str]) -> Mail:
    found = _walk(message)
    headers = _Headers(message, _hints_from(found.charsets))
    envelope, envelope_notes = _envelope(message, headers.hints)
    text, quoted, signature = split_reply(_body_text(found))
    return Mail(
        from_=envelope.from_, reply_to=envelope.reply_to, to=envelope.to, cc=envelope.cc,
        subject=headers.text("subject"), date=envelope.date,
        message_id=next(iter(headers.ids("message-id")), ""),
        in_reply_to=next(iter(headers.ids("in-reply-to")), ""),
        references=headers.ids("references"),
        text=text, quoted=quoted, signature=signature, html=bool(found.html),
        auto_submitted=headers.text("auto-submitted"),
        precedence=headers.text("precedence"),
        list_id=headers.text("list-id"), list_unsubscribe=headers.text("list-unsubscribe"),
        return_path=headers.text("return-path"), x_autoreply=headers.autoreply(),
        x_failed_recipients=headers.text("x-failed-recipients"),
        content_type=_content_type(message), report_type=_report_type(message),
        attachments=tuple(found.attachments),
        languages_hint=clean_line(",".join(dict.fromkeys(
            [label.lower() for label in found.charsets] + headers.labels()))),
        defects=_defects(notes, found.defects, envelope_notes, headers.notes),
        delivery_status=tuple(found.delivery_status[:MAX_DELIVERY_STATUS]))


def parse(raw: bytes, limits: ParseLimits = ParseLimits()) -> Mail:
    """Parse one message's raw bytes; PermanentError (with the reason) if it cannot be."""
    raw = raw if isinstance(raw, bytes) else bytes(raw)  # a database may hand a memoryview
    _check_size(raw, limits)
    data, notes = _normalise(raw)
    data = _check_headers(data, limits, notes)
    _check_structure(data, limits)
    try:
        return _build(_mime_tree(data, notes), notes)
    except RecursionError:
        raise PermanentError("MIME structure too deep for the email parser") from None
    except Exception as exc:  # noqa: BLE001 - the contract: only PermanentError leaves
        raise PermanentError(
            f"unexpected parser failure, {type(exc).__name__}: {exc}") from exc
