"""Charsets, text they can carry, transfer encodings and RFC 2047 words, for generated mail."""

from __future__ import annotations

import base64
import binascii
import quopri

from hypothesis import strategies as st

# Text a charset can carry; '=' '-' '>' ':' are left out so that no body line looks
# like a MIME delimiter, a quote marker, a header or a signature separator.
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?()"
ALPHABETS = {
    "chinese": "你好请报价产品数量价格交货期付款镕钰",  # 镕 and 钰 are GBK, not GB 2312
    "traditional": "您好請報價產品數量價格樣品",
    "japanese": "こんにちは見積もりをお願いしますカタログ",
    "cyrillic": "Здравствуйтецнаобразецкаталогприве",
    "accents": "àéîõüçñßÆø",
}
# (label written in the message, codec that made the bytes, alphabets it can carry)
CHARSETS = [
    ("utf-8", "utf-8", tuple(ALPHABETS)),
    ("UTF-8", "utf-8", ("cyrillic", "accents")),
    ("gb2312", "gb18030", ("chinese",)),   # labelled gb2312, sent as GBK: common
    ("gbk", "gbk", ("chinese",)),
    ("big5", "big5", ("traditional",)),
    ("iso-2022-jp", "iso2022_jp", ("japanese",)),
    ("koi8-r", "koi8_r", ("cyrillic",)),
    ("windows-1251", "cp1251", ("cyrillic",)),
    ("iso-8859-1", "latin-1", ("accents",)),
]
# Labels no decoder should trust: unknown, codecs that are not charsets, wrong ones.
BOGUS_LABELS = ["x-unknown", "utf-9", "", "unicode-escape", "rot13", "hex", "base64",
                "utf-16", "us-ascii", "cp037", "idna", "\"utf-8\"", "utf-8*en", "a" * 80,
                "x-mac-chinesesimp", "zlib", "punycode", "mbcs"]
CONTROL = "\x00\x01\x08\x0b\x0c\x1b\x7f\x85\u2028\ufeff\r\t"


@st.composite
def charset_text(draw: st.DrawFn, min_size: int = 0,
                 max_size: int = 200) -> tuple[str, str, str]:
    """(label, codec, text) with text the codec can encode."""
    label, codec, names = draw(st.sampled_from(CHARSETS))
    alphabet = LATIN + "".join(ALPHABETS[n] for n in names)
    text = draw(st.text(alphabet + "\n", min_size=min_size, max_size=max_size))
    return label, codec, text


# ----------------------------------------------------------------------- encodings

def wrap(data: bytes, width: int = 76) -> bytes:
    return b"\n".join(data[i:i + width] for i in range(0, len(data), width)) + b"\n"


def transfer(data: bytes, encoding: str) -> bytes:
    """Body bytes under a Content-Transfer-Encoding (the 'broken-' ones are damaged)."""
    encoding = encoding.lower()
    if encoding == "base64":
        return wrap(base64.b64encode(data))
    if encoding == "quoted-printable":
        return quopri.encodestring(data)
    if encoding == "broken-base64":
        coded = base64.b64encode(data)
        return wrap(coded[:max(0, len(coded) - 3)] + b"!*\xff=" + coded[-3:])
    if encoding == "x-uuencode":
        return b"begin 644 f\n" + binascii.b2a_uu(data[:45]) + b"`\nend\n"
    return data + b"\n"


GOOD_ENCODINGS = ["", "7bit", "8bit", "base64", "quoted-printable", "Base64", "binary"]
BAD_ENCODINGS = ["broken-base64", "x-uuencode", "x-unknown", "base64 ; junk"]


def cte_header(encoding: str) -> bytes:
    written = "base64" if encoding == "broken-base64" else encoding
    return f"Content-Transfer-Encoding: {written}".encode() if written else b""


# ------------------------------------------------------------------- RFC 2047

def q_encode(data: bytes) -> bytes:
    return b"".join(bytes([c]) if chr(c).isalnum() and c < 128 else b"_" if c == 32
                    else b"=%02X" % c for c in data)


def encoded_words(data: bytes, label: str, cuts: list[int], b: bool) -> bytes:
    """`data` as adjacent RFC 2047 words, cut at byte offsets (even inside a character)."""
    edges = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    words = []
    for start, end in zip(edges, edges[1:], strict=False):
        if start == end:
            continue
        chunk = data[start:end]
        payload = base64.b64encode(chunk) if b else q_encode(chunk)
        words.append(b"=?" + label.encode() + (b"?B?" if b else b"?Q?") + payload + b"?=")
    return b"\n ".join(words) if len(words) > 3 else b" ".join(words)
