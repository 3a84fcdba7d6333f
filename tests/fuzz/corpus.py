"""Real messages from the shared corpus, mutated byte by byte and structure by structure.

The corpus (/work/shared/corpus, see its SOURCES.md) holds about 900 real and broken
messages; files above 64 KiB are left out so that each example stays fast.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from hypothesis import strategies as st

from tests.db.fixtures import missing

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
MAX_SEED_BYTES = 64 * 1024
SEEDS = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
               if p.is_file() and p.name not in ("LICENSE", "SOURCES.md")
               and p.stat().st_size <= MAX_SEED_BYTES) if CORPUS.is_dir() else []

# Pieces that mean something to a mail parser, to drop in at random places.
TOKENS = [b"\x00", b"\r", b"\n", b"\r\n", b"\n\n", b"--", b"=?", b"?=", b"=?utf-8?B?",
          b":", b";", b"\"", b"=", b"\xff\xfe", b"\xe4\xbd", b"\x1b$B", b"\t", b" ",
          b"\nContent-Type: multipart/mixed; boundary=x\n", b"\n--x\n", b"\n--x--\n",
          b"\nContent-Type: message/rfc822\n\n", b"\nContent-Transfer-Encoding: base64\n",
          b"charset=\"x-unknown\"", b"=\n", b"=ZZ", b"begin 644 x\n", b"<", b">", b"@"]
_BOUNDARY = re.compile(rb'boundary="?([^";\s]+)"?', re.I)


def need_corpus() -> None:
    if not SEEDS:
        missing("the mail corpus", f"expected at {CORPUS}")


@functools.lru_cache(maxsize=None)
def seed(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _without_boundaries(data: bytes) -> bytes:
    """The delimiter lines of the first multipart removed: a missing-boundary message."""
    found = _BOUNDARY.search(data)
    return data.replace(b"--" + found.group(1), b"") if found else data


STRUCTURAL = {
    "crlf-to-lf": lambda d: d.replace(b"\r\n", b"\n"),
    "lf-to-crlf": lambda d: d.replace(b"\n", b"\r\n"),
    "lf-to-cr": lambda d: d.replace(b"\n", b"\r"),
    "no-boundary-param": lambda d: _BOUNDARY.sub(b"x-nothing=1", d, count=1),
    "no-delimiters": _without_boundaries,
    "bogus-charsets": lambda d: re.sub(rb"charset=\"?[\w-]+\"?", b"charset=utf-9", d, flags=re.I),
    "base64-to-qp": lambda d: re.sub(rb"(?i)base64", b"quoted-printable", d),
    "qp-to-base64": lambda d: re.sub(rb"(?i)quoted-printable", b"base64", d),
    "headers-doubled": lambda d: d.split(b"\n\n", 1)[0] + b"\n" + d,
    "nul-everywhere": lambda d: d.replace(b" ", b" \x00"),
}


@st.composite
def mutated(draw: st.DrawFn, most: int = 6) -> bytes:
    """A corpus message changed by a few byte edits and structural damage."""
    data = bytearray(seed(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, most))):
        how = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate",
                                    "splice", "structure"]))
        at = draw(st.integers(0, len(data)))
        if how == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=16)))
        elif how == "delete":
            del data[at:at + draw(st.integers(1, 200))]
        elif how == "repeat":
            piece = bytes(data[at:at + draw(st.integers(1, 2000))])
            data[at:at] = piece * draw(st.integers(1, 3))
        elif how == "truncate":
            del data[at:]
        elif how == "splice":
            other = seed(draw(st.sampled_from(SEEDS)))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start:start + draw(st.integers(1, 4000))]
        elif how == "structure":
            data = bytearray(STRUCTURAL[draw(st.sampled_from(sorted(STRUCTURAL)))](bytes(data)))
    return bytes(data)
