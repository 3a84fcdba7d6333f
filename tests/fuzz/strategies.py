"""Generated mail for the fuzz tests: MIME trees with bodies in many charsets.

A tree is made of `Leaf`, `Multi` (multipart/*) and `Attached` (message/rfc822) nodes
and rendered to bytes by `render`. Well-formed trees (`trees(broken=False)`) have a
known depth and part count, in the terms parse's limits use, so a test can say whether
parse must accept or refuse them; broken trees add what real senders get wrong
(missing boundaries and closing lines, bogus charsets, broken base64, duplicated and
control-character headers) and only the parse contract is asserted of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from hypothesis import strategies as st

from tests.fuzz.charsets import (
    ALPHABETS,
    BAD_ENCODINGS,
    BOGUS_LABELS,
    CONTROL,
    GOOD_ENCODINGS,
    LATIN,
    charset_text,
    cte_header,
    transfer,
)
from tests.fuzz.headers import Headers, headers

__all__ = ["Attached", "Headers", "Leaf", "Message", "Multi", "Node", "containers",
           "deepened", "depth", "flat", "headers", "message_bytes", "messages", "nested",
           "parts", "render", "text_leaves", "trees"]


# ------------------------------------------------------------------------ the tree

@dataclass(frozen=True)
class Leaf:
    ctype: str
    headers: tuple[bytes, ...]       # Content-Type (with its parameters) and the rest
    body: bytes                      # already transfer-encoded
    text: str | None = None          # what it says, when the charset is a real one


@dataclass(frozen=True)
class Multi:
    subtype: str
    children: tuple[Node, ...]
    boundary: bool = True            # False: declared without a boundary parameter
    close: bool = True               # False: the closing delimiter is missing
    junk: bytes = b""                # preamble and epilogue


@dataclass(frozen=True)
class Attached:
    headers: tuple[bytes, ...]
    inner: Node


Node = Union[Leaf, Multi, Attached]


def depth(node: Node) -> int:
    """Nesting in parse's terms: every multipart/* and message/* declaration counts."""
    if isinstance(node, Leaf):
        return int(node.ctype.startswith("message/"))
    if isinstance(node, Attached):
        return 1 + depth(node.inner)
    return 1 + max((depth(c) for c in node.children), default=0)


def containers(node: Node) -> int:
    if isinstance(node, Leaf):
        return int(node.ctype.startswith("message/"))
    if isinstance(node, Attached):
        return 1 + containers(node.inner)
    return 1 + sum(containers(c) for c in node.children)


def parts(node: Node) -> int:
    """Delimiter lines that open a part: the children of every multipart."""
    if isinstance(node, Leaf):
        return 0
    if isinstance(node, Attached):
        return parts(node.inner)
    return len(node.children) + sum(parts(c) for c in node.children)


def render(node: Node, salt: str = "", counter: list[int] | None = None) -> tuple[
        list[bytes], bytes]:
    """(header lines, body) of a node; boundaries are unique within one message."""
    counter = counter if counter is not None else [0]
    if isinstance(node, Leaf):
        return [h for h in node.headers if h], node.body
    if isinstance(node, Attached):
        head, body = render(node.inner, salt, counter)
        inner = b"\n".join([*node.headers, *head]) + b"\n\n" + body
        return [b"Content-Type: message/rfc822"], inner
    counter[0] += 1
    boundary = f"=_{salt}_{counter[0]}".encode()
    declared = b"; boundary=\"" + boundary + b"\"" if node.boundary else b""
    out = [node.junk]
    for child in node.children:
        head, body = render(child, salt, counter)
        out.append(b"--" + boundary + b"\n" + b"\n".join(head) + b"\n\n" + body)
    if node.close:
        out.append(b"--" + boundary + b"--\n" + node.junk)
    return [b"Content-Type: multipart/" + node.subtype.encode() + declared], b"\n".join(out)


# ------------------------------------------------------------------------- leaves

@st.composite
def text_leaves(draw: st.DrawFn, broken: bool = False) -> Leaf:
    label, codec, text = draw(charset_text())
    html = draw(st.booleans())
    if html:
        text = "".join(f"<p>{line}</p>\n" for line in text.split("\n"))
    encodings = GOOD_ENCODINGS + (BAD_ENCODINGS if broken else [])
    encoding = draw(st.sampled_from(encodings))
    known = True
    if broken and draw(st.booleans()):
        label, known = draw(st.sampled_from(BOGUS_LABELS)), False
    data = text.encode(codec)
    if broken and draw(st.booleans()):
        data = draw(st.binary(max_size=64)) + data + draw(st.sampled_from(list(CONTROL)).map(
            lambda c: c.encode("utf-8")))
        known = False
    ctype = "text/html" if html else "text/plain"
    content = f"Content-Type: {ctype}; charset=\"{label}\"".encode()
    if broken and draw(st.booleans()):
        content = f"Content-Type: {ctype}".encode()
        known = False
    headers = (content, cte_header(encoding))
    return Leaf(ctype, headers, transfer(data, encoding),
                text if known and encoding in GOOD_ENCODINGS else None)


FILENAMES = st.one_of(
    st.text(LATIN + ALPHABETS["chinese"], min_size=1, max_size=30).map(
        lambda n: f"filename=\"{n}.pdf\""),
    st.just("filename*=UTF-8''%E6%8A%A5%E4%BB%B7.xlsx"),
    st.just("filename*=bogus''%FF%FE.bin"),
    st.just("filename=\"=?gb2312?B?sai827Wl?=.xls\""),
    st.just("filename=\"=?utf-8?B?broken\""),
    st.text(CONTROL + "ab\"\\;", max_size=20).map(lambda n: f"filename=\"{n}\""),
)


@st.composite
def attachment_leaves(draw: st.DrawFn, broken: bool = False) -> Leaf:
    ctype = draw(st.sampled_from(["application/pdf", "image/jpeg", "application/octet-stream",
                                  "application/vnd.ms-excel"]))
    param = draw(FILENAMES)
    encoding = draw(st.sampled_from(["base64"] + (["broken-base64", "8bit"] if broken else [])))
    headers = (f"Content-Type: {ctype}".encode(),
               b"Content-Disposition: attachment; " + param.encode("utf-8", "surrogatepass"),
               cte_header(encoding))
    return Leaf(ctype, headers, transfer(draw(st.binary(max_size=300)), encoding))


@st.composite
def status_leaves(draw: st.DrawFn, broken: bool = False) -> Leaf:
    """A delivery-status part (RFC 3464), whole or with junk among its fields."""
    status = draw(st.sampled_from(["5.1.1", "4.2.2", "5.0.0", "", "9.9.9.9", "x"]))
    recipient = draw(st.sampled_from(["rfc822; buyer@shop.example", "rfc822;", "",
                                      "rfc822; =?utf-8?B?5L2g?=@x", "x400; junk"]))
    body = (f"Reporting-MTA: dns; mx.example\n\nFinal-Recipient: {recipient}\n"
            f"Action: failed\nStatus: {status}\n").encode()
    if broken:
        body += draw(st.binary(max_size=80))
    ctype = draw(st.sampled_from(["message/delivery-status", "text/rfc822-headers"]))
    return Leaf(ctype, (f"Content-Type: {ctype}".encode(),), body)


def leaves(broken: bool = False) -> st.SearchStrategy[Leaf]:
    return st.one_of(text_leaves(broken), attachment_leaves(broken), status_leaves(broken))


# -------------------------------------------------------------------------- trees

SUBTYPES = ["mixed", "alternative", "related", "report", "signed", "x-unknown"]


def trees(broken: bool = False, max_leaves: int = 12) -> st.SearchStrategy[Node]:
    """MIME trees; well-formed unless `broken`."""
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        multi = st.builds(
            Multi, st.sampled_from(SUBTYPES), st.lists(children, max_size=5).map(tuple),
            boundary=st.booleans() if broken else st.just(True),
            close=st.booleans() if broken else st.just(True),
            junk=st.binary(max_size=40) if broken else st.just(b""))
        attached = st.builds(Attached, headers(broken).map(lambda h: h.lines), children)
        return st.one_of(multi, attached)
    return st.recursive(leaves(broken), extend, max_leaves=max_leaves)


@st.composite
def deepened(draw: st.DrawFn, tree: st.SearchStrategy[Node], most: int = 4) -> Node:
    """A tree wrapped in up to `most` more levels, so depth limits are crossed often."""
    node = draw(tree)
    for _ in range(draw(st.integers(0, most))):
        node = draw(st.sampled_from([Multi("mixed", (node,)), Multi("related", (node, node)),
                                     Attached((b"Subject: fwd",), node)]))
    return node


def nested(levels: int, attached_every: int = 0) -> tuple[list[bytes], bytes]:
    """(header lines, body) of a chain `levels` deep, message/rfc822 at every n-th level.

    Built from the inside out without recursion: a chain 1,000 deep would exceed
    Python's stack in `render`.
    """
    head, body = [b"Content-Type: text/plain"], b"deep\n"
    for level in range(levels):
        if attached_every and level % attached_every == 0:
            body = b"\n".join([b"Subject: inner", *head]) + b"\n\n" + body
            head = [b"Content-Type: message/rfc822"]
        else:
            boundary = b"=_%d" % level
            body = (b"--" + boundary + b"\n" + b"\n".join(head) + b"\n\n" + body
                    + b"\n--" + boundary + b"--\n")
            head = [b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\""]
    return head, body


def flat(count: int) -> Node:
    part = Leaf("text/plain", (b"Content-Type: text/plain",), b"x\n", "x")
    return Multi("mixed", (part,) * count)


# ------------------------------------------------------------------------ messages

@dataclass(frozen=True)
class Message:
    raw: bytes = field(repr=False)  # rendered from the two below
    tree: Node
    head: Headers


def message_bytes(head: Headers, tree: Node | tuple[list[bytes], bytes], salt: str = "",
                  crlf: bool = False) -> bytes:
    top, body = tree if isinstance(tree, tuple) else render(tree, salt)
    raw = b"\n".join([*head.lines, b"MIME-Version: 1.0", *top]) + b"\n\n" + body
    return raw.replace(b"\n", b"\r\n") if crlf else raw


@st.composite
def messages(draw: st.DrawFn, broken: bool = False,
             tree: st.SearchStrategy[Node] | None = None) -> Message:
    head = draw(headers(broken))
    node = draw(tree if tree is not None else trees(broken))
    salt = draw(st.text("abcXYZ019", max_size=6))
    return Message(message_bytes(head, node, salt, draw(st.booleans())), node, head)
