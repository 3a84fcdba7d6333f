"""Who is due a follow-up, and when (pure): the cadence of rules/followups.toml.

domain.md "Follow up by grade": A twice a week, B weekly, C every half month, D monthly,
and every open inquiry at least every half month. The clock starts at the buyer's last
contact, whoever wrote (a buyer's reply and each mail we send both move it); the step
is how many follow-ups went unanswered since the buyer last wrote, plus one. A buyer
gets none when their status says so (won, lost, unsubscribed, bounced, do-not-contact,
dormant ...), when every address of theirs is unsubscribed or bounced, when a follow-up
of theirs already waits for review, or when `max_unanswered` went unanswered (dormant).

What a follow-up says follows the deal's stage (`situation`): after a quotation it asks
about the quotation, in `sample` about the samples, for a confirmed deal about the
order. A physical sample on its way (table samples, with an expected arrival date and
not yet asked about) takes the place of the next follow-up: it is due
`sample_arrival_days` after the expected date and asks whether the sample arrived and
what the buyer thinks of it; once asked, later ones speak of the sample sent.

A date that falls on the buyer's weekend (Friday-Saturday in the Gulf, Saturday-Sunday
elsewhere: the `[[weekend]]` entries) or in one of the seller's `[[blackout]]` periods
(Chinese New Year ...) moves to the next allowed day; it is never dropped. Dates are
the company's local dates; the caller converts timestamps. Every answer carries its
reasons in words a salesperson reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from daemon.errors import ConfigError
from daemon.types import Reason

GRADES = ("A", "B", "C", "D")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_CODE = re.compile(r"^[A-Z]{2}$")
# Inquiry stages that are no longer open (models.Stage values).
CLOSED_STAGES = frozenset({"won", "lost", "dormant"})
# Buyer statuses that never get a follow-up unless followups.toml says otherwise.
DEFAULT_STOP = ("won", "lost", "customer", "unsubscribed", "bounced", "do-not-contact",
                "dormant")
_LIMIT_KEYS = {"open_inquiry_days", "max_unanswered", "stop_statuses", "default_weekend",
               "sample_arrival_days"}
_MAX_MOVE_DAYS = 400   # a date that cannot move into an allowed day within this is a rules bug


@dataclass(frozen=True, slots=True)
class Cadence:
    """One grade's rhythm: `every` days, taken in turn by step ([3, 4]: twice a week)."""

    name: str
    description: str
    grade: str
    every: tuple[int, ...]

    def days(self, step: int) -> int:
        return self.every[(max(step, 1) - 1) % len(self.every)]


@dataclass(frozen=True, slots=True)
class Weekend:
    name: str
    description: str
    countries: frozenset[str]
    days: frozenset[int]            # date.weekday() numbers


@dataclass(frozen=True, slots=True)
class Blackout:
    """Days the seller sends nothing (first and last day included)."""

    name: str
    description: str
    start: date
    end: date

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class FollowupRules:
    cadences: Mapping[str, Cadence]
    open_inquiry_days: int = 15
    max_unanswered: int = 6
    stop_statuses: frozenset[str] = frozenset(DEFAULT_STOP)
    default_weekend: frozenset[int] = frozenset({5, 6})
    sample_arrival_days: int = 1
    weekends: tuple[Weekend, ...] = ()
    blackouts: tuple[Blackout, ...] = ()

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], source: str) -> FollowupRules:
        """The rules of followups.toml; ConfigError naming file and entry of each mistake."""
        problems: list[str] = []
        unknown = set(data) - {"limits", "cadence", "weekend", "blackout"}
        problems += [f"{source}: unknown table '{k}'" for k in sorted(unknown)]
        cadences = _entries(data, "cadence", source, problems, _cadence)
        by_grade: dict[str, Cadence] = {}
        for c in cadences:
            if c.grade in by_grade:
                problems.append(f"{source}: cadence '{c.name}': grade {c.grade} has a cadence "
                                f"already ('{by_grade[c.grade].name}')")
            by_grade[c.grade] = c
        missing = [g for g in GRADES if g not in by_grade]
        if missing and not problems:
            problems.append(f"{source}: no [[cadence]] for grade {', '.join(missing)}")
        limits = _limits(data.get("limits", {}), f"{source}: limits", problems)
        weekends = _entries(data, "weekend", source, problems, _weekend)
        blackouts = _entries(data, "blackout", source, problems, _blackout)
        if problems:
            raise ConfigError(problems)
        return cls(by_grade, weekends=tuple(weekends), blackouts=tuple(blackouts), **limits)

    def weekend_of(self, country: str) -> tuple[frozenset[int], str]:
        """The buyer's weekend days and the entry that says so ('' = the default)."""
        code = country.upper()
        for w in self.weekends:
            if code in w.countries:
                return w.days, w.name
        return self.default_weekend, ""

    def working_day(self, day: date, country: str) -> tuple[date, tuple[Reason, ...]]:
        """`day`, or the next day that is neither the buyer's weekend nor a blackout."""
        weekend, name = self.weekend_of(country)
        reasons: list[Reason] = []
        start = day
        for _ in range(_MAX_MOVE_DAYS):
            blackout = next((b for b in self.blackouts if b.covers(day)), None)
            if blackout is not None:
                reasons.append(Reason(blackout.name, f"{day} falls in {blackout.description} "
                                                     f"({blackout.start} to {blackout.end})"))
                day = blackout.end + timedelta(days=1)
            elif day.weekday() in weekend:
                where = f"the weekend in {country or 'the buyer’s country'}"
                reasons.append(Reason(name or "weekend",
                                      f"{day} is a {day:%A}, {where}"))
                day += timedelta(days=1)
            else:
                break
        if day != start:
            reasons.append(Reason("moved", f"moved from {start} to {day}"))
        return day, tuple(reasons)


@dataclass(frozen=True, slots=True)
class BuyerState:
    """What the cadence needs to know of one buyer (dates are company-local)."""

    buyer_id: int
    grade: str | None
    status: str = "active"
    country: str = ""
    last_contact: date | None = None    # the last mail either way
    created: date | None = None
    unanswered: int = 0                 # follow-ups sent since the buyer last wrote
    open_stage: str = ""                # stage of the newest open inquiry ('' = none)
    asked_sample: bool = False          # the newest open inquiry asked for samples
    sample_sent: bool = False           # a physical sample went out for an open inquiry
    sample_expected: date | None = None  # when the first one not yet asked about arrives
    reachable: bool = True              # at least one address neither bounced nor unsubscribed
    pending_followup: bool = False      # a follow-up draft waits for review or sending
    label: str = ""


@dataclass(frozen=True, slots=True)
class Next:
    """When the next follow-up is due (None: none is), which step, and why."""

    when: date | None
    step: int
    reasons: tuple[Reason, ...]
    scheduled: date | None = None       # before weekends and blackouts moved it
    stop: str = ""                      # why none: the rule's name ('' when one is due)
    situation: str = ""                 # what it is about (see `situation`)

    @property
    def dormant(self) -> bool:
        return self.stop == "dormant"


@dataclass(frozen=True, slots=True)
class Due:
    """One follow-up in a window: to whom, which step, on which day, and why."""

    buyer_id: int
    label: str
    grade: str
    step: int
    when: date
    scheduled: date
    overdue: bool
    situation: str
    reasons: tuple[Reason, ...] = field(default=())


def situation(buyer: BuyerState) -> str:
    """What a follow-up on the cadence is about: 'order' (confirmed or under contract),
    'sample_sent' (a physical sample went out), 'sample' (asked for), 'quoted' (silent
    after our quotation) or '' (keeping in touch). A sample's arrival follow-up is
    'sample_arrival' (next_followup decides that one)."""
    if buyer.open_stage in ("confirmed", "contract"):
        return "order"
    if buyer.sample_sent:
        return "sample_sent"
    if buyer.open_stage == "sample" or (buyer.asked_sample and buyer.open_stage in
                                        ("new", "quoted", "negotiating")):
        return "sample"
    if buyer.open_stage in ("quoted", "negotiating"):
        return "quoted"
    return ""


def next_followup(buyer: BuyerState, rules: FollowupRules, *,
                  today: date | None = None) -> Next:
    """The buyer's next follow-up; with `today`, never before it (overdue -> today)."""
    step = buyer.unanswered + 1
    stop = _stop_reason(buyer, rules)
    if stop is not None:
        return Next(None, step, (stop,), stop=stop.rule)
    assert buyer.grade is not None or buyer.open_stage
    anchor = buyer.last_contact or buyer.created or today or date.today()
    if buyer.sample_expected is not None:
        scheduled, reasons = _sample_arrival(buyer.sample_expected, rules)
        about = "sample_arrival"
    else:
        days, reasons = _interval(buyer, rules, step, anchor)
        scheduled, about = anchor + timedelta(days=days), situation(buyer)
    start = max(scheduled, today) if today else scheduled
    if today and scheduled < today:
        reasons.append(Reason("overdue", f"was due {scheduled}: due today"))
    when, moved = rules.working_day(start, buyer.country)
    return Next(when, step, (*reasons, *moved), scheduled=scheduled, situation=about)


def _sample_arrival(expected: date, rules: FollowupRules) -> tuple[date, list[Reason]]:
    days = rules.sample_arrival_days
    return expected + timedelta(days=days), [Reason(
        "sample-arrival", f"a sample was expected to arrive on {expected}: {days} day"
                          f"{'s' if days != 1 else ''} later, ask whether it arrived and "
                          f"what the buyer thinks of it (asked once)")]


def _stop_reason(buyer: BuyerState, rules: FollowupRules) -> Reason | None:
    if buyer.status in rules.stop_statuses:
        return Reason(buyer.status, f"buyer status is {buyer.status}: no follow-ups")
    if not buyer.reachable:
        return Reason("unreachable", "every address bounced or unsubscribed")
    if buyer.unanswered >= rules.max_unanswered:
        return Reason("dormant", f"{buyer.unanswered} follow-ups unanswered "
                                 f"(at most {rules.max_unanswered}): dormant")
    if buyer.pending_followup:
        return Reason("pending", "a follow-up already waits for review or sending")
    if buyer.grade not in rules.cadences and not buyer.open_stage:
        return Reason("ungraded", "no grade and no open inquiry")
    return None


def _interval(buyer: BuyerState, rules: FollowupRules, step: int,
              anchor: date) -> tuple[int, list[Reason]]:
    reasons = []
    cadence = rules.cadences.get(buyer.grade or "")
    days = cadence.days(step) if cadence else rules.open_inquiry_days
    if cadence:
        reasons.append(Reason(cadence.name, f"grade {cadence.grade}, {cadence.description}: "
                                            f"{days} days after the last contact on {anchor} "
                                            f"(follow-up {step})"))
    if buyer.open_stage and days > rules.open_inquiry_days:
        days = rules.open_inquiry_days
        reasons.append(Reason("open-inquiry", f"an open inquiry ({buyer.open_stage}) is "
                                              f"followed up at least every {days} days"))
    elif not cadence:
        reasons.append(Reason("open-inquiry", f"open inquiry, no grade: every {days} days"))
    return days, reasons


def due(buyers: Iterable[BuyerState], rules: FollowupRules, today: date,
        days: int = 7) -> list[Due]:
    """Every follow-up falling in `days` days from today (today included), by day.

    Past the first, a buyer's later ones are projected as if each was sent on its day
    and went unanswered, so an A buyer shows twice in a week.
    """
    until = today + timedelta(days=max(days, 1) - 1)
    found: list[Due] = []
    for buyer in buyers:
        found.extend(_projected(buyer, rules, today, until))
    return sorted(found, key=lambda d: (d.when, d.grade, d.buyer_id, d.step))


def _projected(buyer: BuyerState, rules: FollowupRules, today: date,
               until: date) -> list[Due]:
    found = []
    state = buyer
    for _ in range(until.toordinal() - today.toordinal() + 1):
        nxt = next_followup(state, rules, today=today)
        if nxt.when is None or nxt.when > until or nxt.scheduled is None:
            break
        found.append(Due(buyer.buyer_id, buyer.label, buyer.grade or "-", nxt.step, nxt.when,
                         nxt.scheduled, nxt.scheduled < today, nxt.situation, nxt.reasons))
        arrival = nxt.situation == "sample_arrival"   # asked once: later ones are on cadence
        state = replace(state, last_contact=nxt.when, unanswered=state.unanswered + 1,
                        sample_expected=None, sample_sent=state.sample_sent or arrival)
        today = nxt.when + timedelta(days=1)
    return found


# ------------------------------------------------------------------ reading followups.toml


def _entries(data: Mapping[str, Any], table: str, source: str, problems: list[str],
             build: Any) -> list[Any]:
    entries = data.get(table, [])
    if not isinstance(entries, list):
        problems.append(f"{source}: '{table}' must be a list of [[{table}]] entries")
        return []
    built = []
    for n, entry in enumerate(entries, start=1):
        where = f"{source}: {table} '{entry.get('name', '?')}' (entry {n})"
        before = len(problems)
        name = entry.get("name")
        if not name or not _NAME.match(str(name)):
            problems.append(f"{where}: 'name' must be kebab-case, e.g. 'grade-a'")
        value = build(entry, where, problems)
        if len(problems) == before:
            built.append(value)
    return built


def _unknown(entry: Mapping[str, Any], allowed: set[str], where: str,
             problems: list[str]) -> None:
    allowed |= {"name", "description"}
    problems += [f"{where}: unknown key '{k}'" for k in sorted(set(entry) - allowed)]


def _cadence(entry: Mapping[str, Any], where: str, problems: list[str]) -> Cadence | None:
    _unknown(entry, {"grade", "every"}, where, problems)
    grade, every = entry.get("grade"), entry.get("every")
    if grade not in GRADES:
        problems.append(f"{where}: 'grade' must be one of A, B, C, D")
    if isinstance(every, int) and not isinstance(every, bool):
        every = [every]
    if not (isinstance(every, list) and every and all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 366 for d in every)):
        problems.append(f"{where}: 'every' must be a number of days (1-366) or a list of them")
        return None
    return Cadence(str(entry.get("name")), str(entry.get("description", "")), str(grade),
                   tuple(every))


def _weekend(entry: Mapping[str, Any], where: str, problems: list[str]) -> Weekend | None:
    _unknown(entry, {"countries", "days"}, where, problems)
    countries = entry.get("countries")
    if not (isinstance(countries, list) and countries
            and all(isinstance(c, str) and _CODE.match(c) for c in countries)):
        problems.append(f"{where}: 'countries' must be a list of ISO codes like \"AE\"")
        countries = []
    days = _days(entry.get("days"), f"{where}: 'days'", problems)
    return Weekend(str(entry.get("name")), str(entry.get("description", "")),
                   frozenset(countries), days)


def _days(value: Any, where: str, problems: list[str]) -> frozenset[int]:
    if not (isinstance(value, list) and all(isinstance(d, str) and d.lower()[:3] in DAYS
                                            for d in value)) or len(value) >= 7:
        problems.append(f"{where} must list fewer than 7 days, each one of "
                        f"{', '.join(DAYS)}")
        return frozenset()
    return frozenset(DAYS.index(d.lower()[:3]) for d in value)


def _blackout(entry: Mapping[str, Any], where: str, problems: list[str]) -> Blackout | None:
    _unknown(entry, {"from", "to"}, where, problems)
    start, end = entry.get("from"), entry.get("to", entry.get("from"))
    if not (isinstance(start, date) and isinstance(end, date)):
        problems.append(f"{where}: 'from' and 'to' must be dates like 2027-02-06 (no quotes)")
        return None
    if end < start:
        problems.append(f"{where}: 'to' ({end}) is before 'from' ({start})")
    elif (end - start).days > 90:
        problems.append(f"{where}: {(end - start).days + 1} days is too long for a blackout "
                        f"(at most 91)")
    return Blackout(str(entry.get("name")), str(entry.get("description") or entry.get("name")),
                    start, end)


def _limits(data: Any, where: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        problems.append(f"{where}: must be a table")
        return {}
    problems += [f"{where}: unknown key '{k}'" for k in sorted(set(data) - _LIMIT_KEYS)]
    out: dict[str, Any] = {}
    for key, low, high in (("open_inquiry_days", 1, 366), ("max_unanswered", 1, 100),
                           ("sample_arrival_days", 0, 60)):
        if key in data:
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.append(f"{where}: '{key}' must be a whole number from {low} to {high}")
            else:
                out[key] = value
    if "stop_statuses" in data:
        value = data["stop_statuses"]
        if not (isinstance(value, list) and all(isinstance(s, str) for s in value)):
            problems.append(f"{where}: 'stop_statuses' must be a list of buyer statuses")
        else:
            out["stop_statuses"] = frozenset(value)
    if "default_weekend" in data:
        out["default_weekend"] = _days(data["default_weekend"], f"{where}: 'default_weekend'",
                                       problems)
    return out

