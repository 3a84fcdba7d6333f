"""Generated header blocks: subjects and senders in many charsets, broken and duplicated
headers; each with what parse must read from it, where that is certain."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from tests.fuzz.charsets import ALPHABETS, CONTROL, LATIN, charset_text, encoded_words


@dataclass(frozen=True)
class Headers:
    """Header lines of a message, and what parse must read from them where that is sure."""

    lines: tuple[bytes, ...]
    subject: str | None = None        # the decoded subject, when it is certain
    sender: tuple[str, str] | None = None   # (name, address) of From, when certain


BROKEN_WORDS = [
    b"=?utf-8?B?5L2g5aW9?=", b"=?utf-8?B?5L2g5a?=", b"=?utf-8?Q?caf=C3=A9?=",
    b"=?gb2312?B?xOO6ww==?=", b"=?koi8-r?Q?=F0=D2=C9?=", b"=?bogus?B?AAAA?=",
    b"=?utf-8?X?abc?=", b"=?utf-8?B?####?=", b"=?utf-8?B?", b"=??B??=", b"=?utf-8?Q?=ZZ?=",
    b"=?iso-2022-jp?B?GyRCJDMkcw==?=", b"=?unicode-escape?Q?=5Cu0041?=", b"?=", b"=?",
    b"=?big5?B?sXqmbg==?=", b"=?utf-8*en?B?5L2g?=", b"=?hex?Q?41?=", b"\xe4\xbd\xa0\xff",
    b"=?utf-16?B?//5hAA==?=", b"=?windows-1251?B?z/Dg6Q==?=", b"=?UTF-8?b?8J+Ygg==?=",
]


@st.composite
def subjects(draw: st.DrawFn, broken: bool = False) -> tuple[bytes, str | None]:
    """(the Subject value as sent, the text parse must decode, when that is certain)."""
    how = draw(st.sampled_from(["plain", "words", "raw", "long", "mixed"]
                               + (["junk", "control"] if broken else [])))
    if how == "plain":
        text = draw(st.text(LATIN, max_size=120))
        folded = text.replace(" ", "\n ") if draw(st.booleans()) else text
        return folded.encode(), " ".join(text.split())
    if how in ("words", "long"):
        label, codec, text = draw(charset_text(min_size=1, max_size=4000 if how == "long" else 80))
        text = text.replace("\n", " ")
        cuts = draw(st.lists(st.integers(0, 10_000), max_size=6))
        value = encoded_words(text.encode(codec), label, cuts, draw(st.booleans()))
        return value, " ".join(text.split())[:2000]
    if how == "mixed":  # words in two charsets side by side: the space between goes
        texts, words = [], []
        for _ in range(2):
            label, codec, text = draw(charset_text(min_size=1, max_size=40))
            texts.append(text.replace("\n", " "))
            words.append(encoded_words(texts[-1].encode(codec), label, [], draw(st.booleans())))
        return b" ".join(words), " ".join("".join(texts).split())
    if how == "raw":
        text = draw(st.text(LATIN + ALPHABETS["chinese"] + ALPHABETS["cyrillic"], max_size=80))
        return text.encode("utf-8"), " ".join(text.split())
    pieces = draw(st.lists(st.one_of(st.sampled_from(BROKEN_WORDS), st.binary(max_size=12),
                                     st.sampled_from([b" ", b"\n ", b"\n\t", b"\t"])),
                           max_size=12))
    if how == "control":
        pieces.append(draw(st.text(CONTROL + "ab", max_size=10)).encode("utf-8"))
    return b"".join(pieces).replace(b"\n", b"\n ").replace(b"\n  ", b"\n "), None


NAMES = st.text(LATIN.replace(",", "").replace("(", "").replace(")", ""), max_size=30)
LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._+", min_size=1, max_size=20).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
DOMAINS = st.sampled_from(["shop.example", "gmail.com", "brightstar.example", "alibaba.com",
                           "mail.ru", "qq.com", "163.com", "importer.ae"])
BROKEN_ADDRESSES = [
    b"<>", b"undisclosed-recipients:;", b"\"a, b\" <a@b.example>, c@d.example",
    b"=?utf-8?B?5L2g5aW9?= <ni@hao.example>", b"no address here", b"@", b"a@", b"<@>",
    b"\"unterminated <x@y.example>", b"Group: a@b.example, c@d.example;", b"<<<>>>",
    b"=?gb2312?B?xOO6ww==?= <x@y.example>", b"\xe5\xbc\xa0\xe4\xb8\x89 <zhang@163.com>",
    b"a@b.example (comment (nested) ) ", b"\"\\\" <q@r.example>", b"x@[127.0.0.1]",
    b"=?utf-8?Q?a=2C_b?= <ab@c.example>", b"a" * 3000 + b"@example.com",
]


@st.composite
def senders(draw: st.DrawFn, broken: bool = False) -> tuple[bytes, tuple[str, str] | None]:
    """(a From value, (name, address) parse must find, when that is certain)."""
    if broken and draw(st.booleans()):
        return draw(st.sampled_from(BROKEN_ADDRESSES)), None
    name, address = draw(NAMES), f"{draw(LOCAL)}@{draw(DOMAINS)}"
    name = " ".join(name.split())
    if not name:
        return address.encode(), ("", address)
    if draw(st.booleans()):
        label, codec, text = draw(charset_text(min_size=1, max_size=20))
        text = " ".join(text.split())
        if text:
            words = encoded_words(text.encode(codec), label, [], True)
            return words + f" <{address}>".encode(), (text, address)
    return f"\"{name}\" <{address}>".encode(), (name, address)


EXTRA_HEADERS = [
    b"Auto-Submitted: auto-replied", b"Precedence: bulk", b"List-Id: <news.example>",
    b"List-Unsubscribe: <mailto:u@example.com>", b"X-Autoreply: yes", b"Return-Path: <>",
    b"In-Reply-To: <d20260101-abcd@brightstar.example>", b"X-Failed-Recipients: a@b.example",
    b"References: " + b" ".join(b"<r%d@x.example>" % i for i in range(300)),
    b"Message-ID: <" + b"m" * 5000 + b"@x>", b"Date: Mon, 32 Foo 99999 25:61:61 +9999",
    b"Date: \xff\xfe", b"Subject: second subject", b"From: second@from.example",
    b"Content-Type: text/plain; charset=\"gb2312\"", b"X-\x01Odd: \x00\x1b",
    b"Reply-To: =?utf-8?B?5L2g?= <r@x.example>", b"Cc: " + b", ".join(
        b"c%d@x.example" % i for i in range(400)), b"Subject :obsolete spacing",
    b"X-Long: " + b"word " * 3000, b"\tcontinuation without a header",
]


@st.composite
def headers(draw: st.DrawFn, broken: bool = False) -> Headers:
    subject, expected_subject = draw(subjects(broken))
    sender, expected_sender = draw(senders(broken))
    lines = [b"From: " + sender, b"To: sales@brightstar.example", b"Subject: " + subject,
             b"Date: Fri, 20 Nov 2026 09:05:00 +0800",
             b"Message-ID: <" + draw(LOCAL).encode() + b"@shop.example>"]
    if broken:
        extra = draw(st.lists(st.sampled_from(EXTRA_HEADERS), max_size=4))
        lines[2:2] = extra
        if any(h.lower().startswith((b"subject", b"from")) for h in extra):
            expected_subject = expected_sender = None  # which one wins is not ours to say
    return Headers(tuple(lines), expected_subject, expected_sender)
