"""classify and extract, with the real rules of rules/, on generated and parsed mail.

Whatever a Mail holds, classify names a kind with its reasons and extract returns
values of the promised shape; neither raises, and both finish quickly. The whole
understanding step (match and grade too) runs on the same input with lookups that
know no buyer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import TypeVar

from hypothesis import example, given
from hypothesis import strategies as st

from daemon.classify import ClassifyContext, classify
from daemon.extract import extract
from daemon.grade import History
from daemon.match_buyer import Candidates, Lookup
from daemon.types import Classification, Extracted, Kind, Mail
from daemon.understand import understand
from tests.fuzz import corpus
from tests.fuzz import strategies as gen
from tests.fuzz.contract import SECONDS, parse_or_refusal
from tests.fuzz.texts import BOOK, mails

T = TypeVar("T")
OWN = frozenset({"brightstar.example"})
TODAY = date(2026, 11, 20)
SKUS = {p.sku for p in BOOK.catalog}


class NoBuyers:
    """Lookups for a database that knows nobody (and, if told, threads of ours)."""

    def __init__(self, refers: bool) -> None:
        self.refers = refers

    def refers_to_us(self, message_ids: Sequence[str]) -> bool:
        return self.refers

    def candidates(self, lookup: Lookup) -> Candidates:
        return Candidates()

    def history(self, buyer_id: int | None) -> History:
        return History()


def timed(what: str, call: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS, f"{what} took {elapsed:.2f} s"
    return result


def check_understanding(mail: Mail, refers: bool) -> None:
    context = ClassifyContext(own_domains=OWN, refers_to_us=refers)
    found = timed("classify", lambda: classify(mail, BOOK.classify, context))
    assert isinstance(found, Classification) and isinstance(found.kind, Kind)
    assert found.reasons and all(r.rule and isinstance(r.text, str) for r in found.reasons)
    assert all(isinstance(address, str) for address in found.bounced)
    got = timed("extract", lambda: extract(mail, BOOK.catalog, BOOK.geo, TODAY))
    check_extracted(got)
    decision = timed("understand", lambda: understand(
        mail, BOOK, NoBuyers(refers), today=TODAY, own_domains=OWN))
    assert decision.kind == found.kind
    assert decision.grade is None or decision.grade.grade in "ABCD"


def check_extracted(got: Extracted) -> None:
    assert isinstance(got, Extracted)
    repr(got)  # the stages after extract print every value (reasons, drafts, JSON)
    assert {hit.sku for hit in got.products} <= SKUS
    assert all(isinstance(q.amount, int) and q.unit for q in got.quantities)
    assert all(m.currency and m.amount.is_finite() for m in got.target_prices)
    assert got.country == "" or (len(got.country) == 2 and got.country.isupper())
    assert got.delivery is None or isinstance(got.delivery, date)
    assert all(isinstance(v, str) for v in (got.language, got.company, got.contact_name,
                                            got.delivery_text, got.country_reason))


# Found by this test: "9" * 5,000 + " pcs" gave a Quantity whose amount no later
# stage could print (ValueError: Exceeds the limit (4300 digits) for integer string).
HUGE_COUNT = Mail(subject="Inquiry", text="Please quote " + "9" * 5000 + " pcs of BS-NK-101")


@given(mails(), st.booleans())
@example(HUGE_COUNT, False)
def test_any_mail_gets_a_kind_and_its_extracted_values(mail: Mail, refers: bool) -> None:
    check_understanding(mail, refers)


@given(gen.messages(broken=True, tree=gen.trees(broken=True, max_leaves=15)), st.booleans())
def test_parsed_generated_messages_are_understood(message: gen.Message, refers: bool) -> None:
    mail = parse_or_refusal(message.raw)
    if isinstance(mail, Mail):
        check_understanding(mail, refers)


@given(corpus.mutated(), st.booleans())
def test_parsed_corpus_mutations_are_understood(raw: bytes, refers: bool) -> None:
    corpus.need_corpus()
    mail = parse_or_refusal(raw)
    if isinstance(mail, Mail):
        check_understanding(mail, refers)


def test_a_count_no_order_could_have_is_not_a_quantity() -> None:
    got = extract(HUGE_COUNT, BOOK.catalog, BOOK.geo, TODAY)
    assert got.quantities == () and [p.sku for p in got.products] == ["BS-NK-101"]
