"""The follow-up cadence (pure): tables of buyer state in, next date and reasons out."""

from __future__ import annotations

import ast
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from daemon import followup, rulebook
from daemon.errors import ConfigError
from daemon.followup import BuyerState, FollowupRules, due, next_followup
from tests.helpers import ROOT

RULES_FILE = ROOT / "rules" / "followups.toml"
RULES = FollowupRules.from_toml(tomllib.loads(RULES_FILE.read_text()), str(RULES_FILE))
MON = date(2027, 1, 4)   # a Monday


def buyer(grade: str | None = "B", **kw: object) -> BuyerState:
    base: dict[str, object] = {"buyer_id": 1, "grade": grade, "country": "DE",
                               "last_contact": MON}
    base.update(kw)
    return BuyerState(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "expected"), [
    # Grade cadence from the last contact (Monday 2027-01-04).
    (buyer("A"), date(2027, 1, 7)),                          # +3, Thursday
    (buyer("A", unanswered=1), date(2027, 1, 8)),            # +4 for the second, Friday
    (buyer("A", unanswered=2), date(2027, 1, 7)),            # +3 again: twice a week
    (buyer("B"), date(2027, 1, 11)),                         # +7
    (buyer("C"), date(2027, 1, 19)),                         # +15
    (buyer("D"), date(2027, 2, 3)),                          # +30
    # An open inquiry is followed up at least every 15 days, whatever the grade.
    (buyer("D", open_stage="quoted"), date(2027, 1, 19)),
    (buyer(None, open_stage="new"), date(2027, 1, 19)),
    (buyer("A", open_stage="quoted"), date(2027, 1, 7)),     # faster cadences stay
    # Weekends: Saturday-Sunday in Germany, Friday-Saturday in the Gulf.
    (buyer("B", last_contact=date(2027, 1, 2)), date(2027, 1, 11)),   # Sat -> Mon
    (buyer("B", last_contact=date(2027, 1, 1), country="AE"), date(2027, 1, 10)),  # Fri -> Sun
    (buyer("B", last_contact=date(2027, 1, 2), country="SA"), date(2027, 1, 10)),  # Sat -> Sun
    (buyer("B", last_contact=date(2027, 1, 3), country="AE"), date(2027, 1, 10)),  # Sun works
    (buyer("B", last_contact=date(2027, 1, 3), country="EG"), date(2027, 1, 10)),
    (buyer("B", last_contact=date(2027, 1, 1), country=""), date(2027, 1, 8)),     # Friday ok
    # Blackout (Chinese New Year 2027-02-06..17): moved after it, never dropped.
    (buyer("B", last_contact=date(2027, 2, 1)), date(2027, 2, 18)),
    # ... and when the day after a blackout is the buyer's weekend, past that too.
    (buyer("B", last_contact=date(2027, 2, 1), country="AE"), date(2027, 2, 18)),
    (buyer("B", last_contact=date(2027, 9, 24)), date(2027, 10, 8)),  # National Day
])
def test_next_follow_up_date(state: BuyerState, expected: date) -> None:
    result = next_followup(state, RULES)
    assert result.when == expected, result.reasons
    assert result.reasons and result.stop == ""


@pytest.mark.parametrize(("state", "stop"), [
    (buyer(status="won"), "won"),
    (buyer(status="lost"), "lost"),
    (buyer(status="do-not-contact"), "do-not-contact"),
    (buyer(status="unsubscribed"), "unsubscribed"),
    (buyer(status="dormant"), "dormant"),
    (buyer(reachable=False), "unreachable"),                 # every address bounced/unsubscribed
    (buyer(unanswered=6), "dormant"),                        # max_unanswered reached
    (buyer(pending_followup=True), "pending"),
    (buyer(None), "ungraded"),
])
def test_no_follow_up(state: BuyerState, stop: str) -> None:
    result = next_followup(state, RULES)
    assert result.when is None and result.stop == stop
    assert result.reasons[0].text


def test_the_reasons_say_why_in_words() -> None:
    result = next_followup(buyer("B", last_contact=date(2027, 2, 1), country="AE"), RULES)
    texts = [r.text for r in result.reasons]
    assert texts[0].startswith("grade B, once a week: 7 days after the last contact on 2027-02-01")
    assert any("Chinese New Year" in t for t in texts)
    assert texts[-1] == "moved from 2027-02-08 to 2027-02-18"


def test_overdue_comes_due_today_on_a_working_day() -> None:
    late = buyer("B", last_contact=date(2026, 12, 1))
    assert next_followup(late, RULES, today=MON).when == MON
    saturday = date(2027, 1, 9)
    assert next_followup(late, RULES, today=saturday).when == date(2027, 1, 11)
    assert next_followup(late, RULES).when == date(2026, 12, 8)


def test_due_lists_the_week_per_buyer_projecting_unanswered_ones() -> None:
    buyers = [buyer("A", buyer_id=1), buyer("B", buyer_id=2), buyer("C", buyer_id=3),
              buyer("B", buyer_id=4, status="won")]
    week = due(buyers, RULES, MON, days=7)
    assert [(d.buyer_id, d.when, d.step) for d in week] == [
        (1, date(2027, 1, 7), 1),     # A twice a week: Thursday, then Monday (+4)
    ]
    fortnight = due(buyers, RULES, MON, days=15)
    assert [(d.buyer_id, d.when, d.step) for d in fortnight] == [
        (1, date(2027, 1, 7), 1), (1, date(2027, 1, 11), 2), (2, date(2027, 1, 11), 1),
        (1, date(2027, 1, 14), 3), (1, date(2027, 1, 18), 4), (2, date(2027, 1, 18), 2),
    ]
    assert due(buyers, RULES, MON, days=1) == []


def test_due_stops_projecting_at_dormancy() -> None:
    steps = [d.step for d in due([buyer("A", unanswered=4)], RULES, MON, days=60)]
    assert steps == [5, 6]


def test_situation_follows_the_open_inquiry() -> None:
    assert followup.situation(buyer(open_stage="quoted")) == "quoted"
    assert followup.situation(buyer(open_stage="negotiating")) == "quoted"
    assert followup.situation(buyer(open_stage="sample")) == "sample"
    assert followup.situation(buyer(open_stage="quoted", asked_sample=True)) == "sample"
    assert followup.situation(buyer(open_stage="sample", sample_sent=True)) == "sample_sent"
    assert followup.situation(buyer(open_stage="confirmed")) == "order"
    assert followup.situation(buyer(open_stage="contract", sample_sent=True)) == "order"
    assert followup.situation(buyer()) == ""
    # The situation travels with the answer, and with every projected one.
    assert next_followup(buyer(open_stage="quoted"), RULES).situation == "quoted"
    assert {d.situation for d in due([buyer("A", open_stage="sample")], RULES, MON)} == {"sample"}


# A sample went out, expected on Wednesday 2027-01-06, for a B buyer (cadence: 7 days).
SAMPLE = buyer("B", open_stage="sample", sample_sent=True, sample_expected=date(2027, 1, 6))


@pytest.mark.parametrize(("state", "today", "when"), [
    (SAMPLE, None, date(2027, 1, 7)),                       # the day after it should arrive
    (SAMPLE, date(2027, 1, 20), date(2027, 1, 20)),         # overdue: today
    # Before the cadence would have said something, and after it too: the arrival decides.
    (buyer("A", open_stage="sample", sample_expected=date(2027, 1, 14)), None,
     date(2027, 1, 15)),
    # A Gulf buyer: the day after falls on Friday, moved to Sunday.
    (buyer("B", country="AE", open_stage="sample", sample_expected=date(2027, 1, 7)), None,
     date(2027, 1, 10)),
])
def test_a_sample_on_its_way_is_asked_about_after_its_arrival(state: BuyerState,
                                                              today: date | None,
                                                              when: date) -> None:
    nxt = next_followup(state, RULES, today=today)
    assert (nxt.when, nxt.situation) == (when, "sample_arrival")
    assert nxt.reasons[0].rule == "sample-arrival"
    assert "ask whether it arrived" in nxt.reasons[0].text


def test_the_arrival_is_asked_once_then_the_cadence_speaks_of_the_sample_sent() -> None:
    found = due([SAMPLE], RULES, MON, days=15)
    assert [(d.when, d.situation) for d in found] == [
        (date(2027, 1, 7), "sample_arrival"), (date(2027, 1, 14), "sample_sent")]
    later = RULES.__class__(RULES.cadences, sample_arrival_days=3)
    assert next_followup(SAMPLE, later).when == date(2027, 1, 11)   # Sat 9 -> Mon 11
    # A stopped buyer is not asked either.
    assert next_followup(replace(SAMPLE, unanswered=6), RULES).when is None


def test_the_shipped_rules_load_with_the_rulebook() -> None:
    book = rulebook.load(ROOT / "rules")
    assert book.followups.max_unanswered == 6
    assert book.followups.weekend_of("QA")[0] == frozenset({4, 5})
    assert book.followups.weekend_of("DE")[0] == frozenset({5, 6})


BASE = """
[[cadence]]
name = "grade-a"
grade = "A"
every = [3, 4]
[[cadence]]
name = "grade-b"
grade = "B"
every = 7
[[cadence]]
name = "grade-c"
grade = "C"
every = 15
[[cadence]]
name = "grade-d"
grade = "D"
every = 30
"""


@pytest.mark.parametrize(("extra", "problem"), [
    ('[[cadence]]\nname = "grade-e"\ngrade = "E"\nevery = 3\n',
     "cadence 'grade-e' (entry 5): 'grade' must be one of A, B, C, D"),
    ('[[cadence]]\nname = "again"\ngrade = "A"\nevery = 2\n',
     "cadence 'again': grade A has a cadence already ('grade-a')"),
    ('[[cadence]]\nname = "zero"\ngrade = "A"\nevery = [0]\n',
     "cadence 'zero' (entry 5): 'every' must be a number of days"),
    ('[[weekend]]\nname = "gulf"\ncountries = ["AE"]\ndays = ["friday", "someday"]\n',
     "weekend 'gulf' (entry 1): 'days' must list fewer than 7 days"),
    ('[[weekend]]\nname = "gulf"\ncountries = ["uae"]\ndays = ["fri"]\n',
     "weekend 'gulf' (entry 1): 'countries' must be a list of ISO codes"),
    ('[[blackout]]\nname = "cny"\nfrom = "2027-02-06"\nto = 2027-02-17\n',
     "blackout 'cny' (entry 1): 'from' and 'to' must be dates"),
    ('[[blackout]]\nname = "cny"\nfrom = 2027-02-17\nto = 2027-02-06\n',
     "blackout 'cny' (entry 1): 'to' (2027-02-06) is before 'from' (2027-02-17)"),
    ('[[blackout]]\nname = "Chinese New Year"\nfrom = 2027-02-06\n',
     "blackout 'Chinese New Year' (entry 1): 'name' must be kebab-case"),
    ('[[blackout]]\nname = "cny"\nfrom = 2027-02-06\nuntil = 2027-02-07\n',
     "blackout 'cny' (entry 1): unknown key 'until'"),
    ("[limits]\nmax_unanswered = 0\n",
     "limits: 'max_unanswered' must be a whole number from 1 to 100"),
    ("[limits]\nmax_unansw = 3\n", "limits: unknown key 'max_unansw'"),
    ("[limits]\nsample_arrival_days = -1\n",
     "limits: 'sample_arrival_days' must be a whole number from 0 to 60"),
    ("[cadences]\n", "unknown table 'cadences'"),
])
def test_a_rules_mistake_names_file_and_entry(extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FollowupRules.from_toml(tomllib.loads(BASE + extra), "rules/followups.toml")
    assert any(p.startswith("rules/followups.toml: ") and problem in p
               for p in caught.value.problems), caught.value.problems


def test_every_grade_needs_a_cadence() -> None:
    with pytest.raises(ConfigError, match="no \\[\\[cadence\\]\\] for grade C, D"):
        FollowupRules.from_toml(tomllib.loads(BASE.split("[[cadence]]\nname = \"grade-c\"")[0]),
                                "f.toml")


def test_a_broken_followups_file_stops_the_rulebook(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in (ROOT / "rules").iterdir():
        (rules / path.name).write_bytes(path.read_bytes())
    (rules / "followups.toml").write_text(BASE + "[limits]\nopen_inquiry_days = -1\n")
    with pytest.raises(ConfigError) as caught:
        rulebook.load(rules)
    assert caught.value.problems == [
        f"{rules / 'followups.toml'}: limits: 'open_inquiry_days' must be a whole number "
        f"from 1 to 366"]


def test_followup_is_pure() -> None:
    tree = ast.parse((ROOT / "daemon" / "followup.py").read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    io = {"sqlalchemy", "imapclient", "aiosmtplib", "mailparser", "daemon.models", "daemon.db"}
    assert not {m for m in imported if m.split(".")[0] in io or m in io}
