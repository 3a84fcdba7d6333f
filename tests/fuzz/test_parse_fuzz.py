"""parse on generated MIME trees and headers: it reads, or refuses for a stated reason.

Well-formed trees are refused exactly when they cross a limit (depth, parts, size,
header size) and read otherwise, with the subject and sender decoded as sent; broken
trees and headers only have to keep the contract (see contract.py).
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from daemon.errors import PermanentError
from daemon.types import Mail, ParseLimits
from tests.fuzz import corpus
from tests.fuzz import strategies as gen
from tests.fuzz.contract import parse_or_refusal

# Small limits, so that generated trees fall on both sides of them.
SMALL = ParseLimits(max_depth=4, max_parts=12)
DEFAULT = ParseLimits()


def expected_refusals(tree: gen.Node, limits: ParseLimits) -> set[str]:
    """The reasons parse may give for a well-formed tree; empty when it must read it.

    Over both limits, either reason is right: the depth is measured on the first
    max_parts + 1 containers only.
    """
    reasons = set()
    if gen.depth(tree) > limits.max_depth:
        reasons.add(f"multipart nesting deeper than {limits.max_depth}")
    if gen.containers(tree) > limits.max_parts or gen.parts(tree) > limits.max_parts:
        reasons.add(f"more than {limits.max_parts:,} MIME parts")
    return reasons


def assert_limits_hold(message: gen.Message, limits: ParseLimits) -> Mail | None:
    result = parse_or_refusal(message.raw, limits)
    reasons = expected_refusals(message.tree, limits)
    if reasons:
        assert isinstance(result, PermanentError) and str(result) in reasons, result
        return None
    assert isinstance(result, Mail), f"refused within the limits: {result}"
    if message.head.subject is not None:
        assert result.subject == message.head.subject
    if message.head.sender is not None:
        assert result.from_ is not None
        assert (result.from_.name, result.from_.email) == (
            message.head.sender[0], message.head.sender[1].lower())
    return result


@given(gen.messages(tree=gen.deepened(gen.trees(max_leaves=30))))
def test_well_formed_trees_are_refused_exactly_over_the_limits(message: gen.Message) -> None:
    assert_limits_hold(message, SMALL)


@given(st.one_of(st.integers(DEFAULT.max_depth - 3, DEFAULT.max_depth + 3),
                 st.sampled_from([200, 1000])),
       st.sampled_from([0, 2, 7]), gen.headers())
def test_nesting_around_and_far_beyond_the_depth_limit(levels: int, attached_every: int,
                                                       head: gen.Headers) -> None:
    result = parse_or_refusal(gen.message_bytes(head, gen.nested(levels, attached_every)))
    if levels > DEFAULT.max_depth:
        assert isinstance(result, PermanentError)
        assert str(result) == f"multipart nesting deeper than {DEFAULT.max_depth}"
    else:
        assert isinstance(result, Mail), result
        # An attached message is an attachment: its text is not the sender's.
        assert result.text == ("" if attached_every else "deep")


@given(st.one_of(st.integers(DEFAULT.max_parts - 3, DEFAULT.max_parts + 3),
                 st.sampled_from([5_000, 100_000])), gen.headers())
def test_part_counts_around_and_far_beyond_the_part_limit(count: int,
                                                          head: gen.Headers) -> None:
    tree = gen.flat(count)
    mail = assert_limits_hold(gen.Message(gen.message_bytes(head, tree), tree, head), DEFAULT)
    assert mail is None or mail.text.split() == ["x"] * count


@given(gen.headers(), st.integers(200, 5_000), st.integers(0, 400), st.integers(0, 6_000))
def test_size_and_header_size_limits(head: gen.Headers, header_limit: int, padding: int,
                                     body: int) -> None:
    lines = (*head.lines, b"X-Pad: " + b"p" * padding)
    raw = b"\n".join(lines) + b"\n\n" + b"b" * body
    size_limit = header_limit + 1_000
    result = parse_or_refusal(raw, ParseLimits(max_bytes=size_limit,
                                               max_header_bytes=header_limit))
    header_size = len(b"\n".join(lines)) + 1
    if len(raw) > size_limit:
        assert isinstance(result, PermanentError) and str(result).startswith("message is")
    elif header_size > header_limit:
        assert isinstance(result, PermanentError) and str(result).startswith("headers are")
    else:
        assert isinstance(result, Mail), result


# Found by this test: a Content-Type missing the ';' before a folded parameter gave a
# charset label with a line break, which reached Mail.languages_hint.
MISSING_SEMICOLON = (b"From: a@shop.example\nContent-Type: text/plain; charset=\"gb2312\"\n"
                     b"\tformat=flowed\n\n\xc4\xfa\xba\xc3\n")


# A cut RFC 2231 continuation ("boundary*", "charset*", "filename*": a truncated
# copy) made the stdlib raise TypeError: the message was refused as an "unexpected
# parser failure", or its text part skipped.
CUT_BOUNDARY = (b"From: a@shop.example\nContent-Type: multipart/mixed;\n boundary*0=x;\n"
                b" boundary*\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n")
CUT_CHARSET = (b"From: a@shop.example\nContent-Type: text/plain;\n charset*0*=utf-8''abc;\n"
               b" charset*\n\nhi\n")


@given(gen.messages(broken=True, tree=gen.trees(broken=True, max_leaves=25)).map(
    lambda message: message.raw))
@example(MISSING_SEMICOLON)
@example(CUT_BOUNDARY)
@example(CUT_CHARSET)
def test_broken_trees_and_headers_keep_the_contract(raw: bytes) -> None:
    parse_or_refusal(raw, SMALL)
    parse_or_refusal(raw, DEFAULT)


# Found by the corpus mutations: the stdlib keeps a control byte or folding inside the
# type ("text/\n plain"), which reached Mail.content_type and hid the body text.
CONTROL_IN_TYPE = (b"From: a@shop.example\nContent-Type:\x01multipart/alternative; "
                   b"boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n")
FOLDED_TYPE = b"From: a@shop.example\nContent-Type: text/\n plain\n\nhello\n"


@pytest.mark.parametrize(("raw", "text", "content_type", "languages"), [
    (MISSING_SEMICOLON, "您好", "text/plain", "gb2312"),
    (FOLDED_TYPE, "hello", "text/plain", ""),
    (CONTROL_IN_TYPE, "", "multipart/alternative", ""),
    (CUT_BOUNDARY, "--x\nContent-Type: text/plain\n\nhi\n--x--", "multipart/mixed", ""),
    (CUT_CHARSET, "hi", "text/plain", ""),
])
def test_cases_found_by_fuzzing_read_as_meant(raw: bytes, text: str, content_type: str,
                                              languages: str) -> None:
    mail = parse_or_refusal(raw)
    assert isinstance(mail, Mail)
    assert (mail.text, mail.content_type, mail.languages_hint) == (text, content_type,
                                                                  languages)


@given(gen.headers(), gen.text_leaves())
def test_a_text_body_reads_back_as_written(head: gen.Headers, leaf: gen.Leaf) -> None:
    raw = gen.message_bytes(head, leaf)
    mail = parse_or_refusal(raw)
    assert isinstance(mail, Mail)
    if leaf.ctype == "text/plain" and leaf.text is not None:
        read = " ".join(" ".join((mail.text, mail.quoted, mail.signature)).split())
        assert read == " ".join(leaf.text.split())


@given(corpus.mutated())
@example(CONTROL_IN_TYPE)
@example(FOLDED_TYPE)
def test_mutated_corpus_messages_keep_the_contract(raw: bytes) -> None:
    corpus.need_corpus()
    parse_or_refusal(raw)
