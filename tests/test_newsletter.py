"""The pure newsletter decisions: segments, the weekly cap, unsubscribe tokens, the
message built once and filled per recipient. Plain tables in, values out."""

from __future__ import annotations

import ast
import email
import email.policy
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from daemon import newsletter as nl
from daemon.errors import ConfigError
from daemon.newsletter import BuyerFacts, NewsletterMessage, Recipient, Segment

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SECRET = b"0123456789abcdef0123456789abcdef"


def facts(**kw: object) -> BuyerFacts:
    base: dict[str, object] = dict(buyer_id=1, address="anna@importer.example", grade="B",
                                   region="middle_east", country="AE", source="alibaba",
                                   buyer_type="importer", skus=frozenset({"BS-NK-101"}),
                                   last_contact_at=NOW - timedelta(days=40))
    base.update(kw)
    return BuyerFacts(**base)  # type: ignore[arg-type]


SEGMENT = Segment.from_toml({"grades": ["a", "B"], "regions": ["Middle_East"],
                             "countries": ["ae", "SA"], "sources": ["Alibaba"],
                             "buyer_types": ["importer"], "products": ["bs-nk-101"],
                             "last_contact_before": NOW.date() - timedelta(days=30),
                             "last_contact_after": datetime(2025, 1, 1)}, "t.toml")


@pytest.mark.parametrize("changes, why", [
    ({}, ""),
    ({"grade": "C"}, "grade C not in A, B"),
    ({"grade": None}, "grade (none) not in A, B"),
    ({"region": "europe"}, "region europe not in middle_east"),
    ({"country": "DE"}, "country DE not in AE, SA"),
    ({"source": "website"}, "source website not in alibaba"),
    ({"buyer_type": "retailer"}, "buyer type retailer not in importer"),
    ({"skus": frozenset({"BS-BR-205"})}, "never asked about BS-NK-101"),
    ({"last_contact_at": NOW - timedelta(days=2)}, "last contact 2026-02-28 not before 2026-01-31"),
    ({"last_contact_at": None}, "last contact never not before 2026-01-31"),
    ({"last_contact_at": datetime(2024, 5, 1, tzinfo=timezone.utc)},
     "last contact 2024-05-01 not after 2025-01-01"),
    ({"address_status": "unsubscribed"}, "address anna@importer.example is unsubscribed"),
    ({"address_status": "bounced"}, "address anna@importer.example is bounced"),
    ({"status": "won"}, "buyer is won"),
    ({"status": "lost"}, "buyer is lost"),
    ({"status": "do-not-contact"}, "buyer is do-not-contact"),
])
def test_segment_and_exclusions(changes: dict[str, object], why: str) -> None:
    assert nl.exclusion(SEGMENT, facts(**changes)) == why


def test_an_empty_segment_is_everyone_still_mailable() -> None:
    assert nl.exclusion(Segment(), facts(grade=None, skus=frozenset())) == ""
    assert nl.exclusion(Segment(), facts(status="lost")) == "buyer is lost"


@pytest.mark.parametrize("data, problem", [
    ({"grade": ["A"]}, "segment.grade: unknown key"),
    ({"grades": "A"}, None),
    ({"grades": [1]}, "segment.grades: a list of words"),
    ({"last_contact_before": "last year"}, "segment.last_contact_before: a TOML date"),
])
def test_segment_file_mistakes_name_the_key(data: dict[str, object], problem: str | None) -> None:
    if problem is None:
        assert Segment.from_toml(data, "x.toml").grades == frozenset({"A"})
        return
    with pytest.raises(ConfigError) as caught:
        Segment.from_toml(data, "x.toml")
    assert problem in caught.value.problems[0] and "x.toml" in caught.value.problems[0]


@pytest.mark.parametrize("recent, cap, over", [(0, 2, False), (1, 2, False), (2, 2, True),
                                               (5, 2, True), (0, 1, False), (1, 1, True)])
def test_weekly_cap(recent: int, cap: int, over: bool) -> None:
    assert nl.over_cap(recent, cap) is over


def test_tokens_verify_only_with_our_secret_and_unchanged() -> None:
    token = nl.make_token(SECRET, 42)
    assert nl.verify_token(SECRET, token) == 42
    assert nl.verify_token(SECRET, token.upper()) == 42
    assert nl.verify_token(b"another secret, another desk....", token) is None
    assert nl.verify_token(SECRET, "43-" + token.split("-")[1]) is None  # someone else's id
    assert nl.verify_token(SECRET, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert nl.verify_token(SECRET, "unsubscribe") is None
    assert nl.make_token(SECRET, 42) == token  # stable: every newsletter carries the same


@pytest.mark.parametrize("subject, to, found", [
    ("unsubscribe 42-0123456789abcdef0123", [], ("42-0123456789abcdef0123",)),
    ("Unsubscribe: 42-0123456789ABCDEF0123", [], ("42-0123456789abcdef0123",)),
    ("unsubscribe", [], ()),
    ("Re: New products", ["lily+unsubscribe-7-0123456789abcdef0123@brightstar.example"],
     ("7-0123456789abcdef0123",)),
    ("Re: our order 42-0123456789abcdef0123", [], ()),  # a token without the word is not a request
])
def test_tokens_are_found_in_the_subject_or_a_plus_address(subject: str, to: list[str],
                                                           found: tuple[str, ...]) -> None:
    assert nl.find_tokens(subject, to) == found


def test_list_unsubscribe_mailto_and_optional_url() -> None:
    assert nl.list_unsubscribe("lily@b.example", "7-ab") == \
        "<mailto:lily@b.example?subject=unsubscribe%207-ab>"
    assert nl.list_unsubscribe("lily@b.example", "7-ab", "https://b.example/u") == (
        "<mailto:lily@b.example?subject=unsubscribe%207-ab>, <https://b.example/u?token=7-ab>")


@pytest.mark.parametrize("times, out", [(0, False), (2, False), (3, True)])
def test_soft_bounces_within_the_window(times: int, out: bool) -> None:
    rules = nl.AddressRules(None, 3, timedelta(days=30))
    recent = [NOW - timedelta(days=i) for i in range(times)]
    old = [NOW - timedelta(days=40)] * 5  # outside the window: never count
    assert nl.soft_bounces_exhausted(recent + old, NOW, rules) is out


def build(body: str | None, url: str = "") -> NewsletterMessage:
    return NewsletterMessage(sender="Lily Chen <lily@brightstar.example>",
                             subject="Meet us at booth 17.2 F23\n– 展位", date=NOW,
                             campaign="canton", loop_marker="inquiryd; brightstar.example",
                             unsubscribe_url=url, body=body)


def test_one_built_message_filled_per_recipient() -> None:
    message = build("Dear friends,\nSee you there.\n")
    raw = message.for_recipient(Recipient("anna@importer.example", "Anna Müller",
                                          "<nl.1.2@brightstar.example>", "7-ab"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["To"] == "Anna Müller <anna@importer.example>"
    assert parsed["From"] == "Lily Chen <lily@brightstar.example>"
    assert parsed["Subject"] == "Meet us at booth 17.2 F23 – 展位"  # no header injection
    assert parsed["Message-ID"] == "<nl.1.2@brightstar.example>"
    assert parsed["Auto-Submitted"] == "auto-generated" and parsed["Precedence"] == "bulk"
    assert parsed["List-Unsubscribe"] == \
        "<mailto:lily@brightstar.example?subject=unsubscribe%207-ab>"
    assert parsed["List-Unsubscribe-Post"] is None
    assert parsed.get_content().replace("\r\n", "\n") == "Dear friends,\nSee you there.\n"
    assert b"\r\n\r\n" in raw and raw.count(b"\nTo:") == 0 and raw.startswith(b"To: ")


def test_a_body_per_buyer_and_non_ascii_goes_base64() -> None:
    message = build(None, url="https://brightstar.example/unsubscribe")
    with pytest.raises(ValueError):
        message.for_recipient(Recipient("a@b.example", "", "<x@y>", "1-a"))
    raw = message.for_recipient(Recipient("a@b.example", "", "<x@y>", "1-a"),
                                body="Dear Müller,\n新年快乐\n")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Content-Transfer-Encoding"] == "base64"
    assert parsed.get_content().replace("\r\n", "\n") == "Dear Müller,\n新年快乐\n"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://brightstar.example/unsubscribe?token=1-a" in parsed["List-Unsubscribe"]
    assert parsed["To"] == "a@b.example"


def test_the_newsletter_module_stays_pure() -> None:
    tree = ast.parse(Path(nl.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom)}
    assert not imported & {"sqlalchemy", "aiosmtplib", "imapclient", "mailparser", "os",
                           "pathlib", "socket"}
