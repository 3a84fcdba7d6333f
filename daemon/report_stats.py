"""The sales manager's statistics, computed from plain rows (pure: no database, no files).

report_queries.py reads the rows; report_html.py and report_xlsx.py present the result.
Reply times are measured three ways: arrival to draft, draft to approval, arrival to sent;
each as a median in minutes, the share within 2 hours and the share within one working
day (Monday to Friday in the company's time zone: weekend hours do not count).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

STAGES = ("new", "quoted", "negotiating", "sample", "confirmed", "contract", "won", "lost",
          "dormant")
UNKNOWN = "(none)"
TWO_HOURS = timedelta(hours=2)
WORKING_DAY = timedelta(hours=24)

# (name, start field, end field): the three reply intervals, in report order.
INTERVALS = (
    ("arrival_to_draft", "arrived_at", "drafted_at"),
    ("draft_to_approval", "drafted_at", "approved_at"),
    ("arrival_to_sent", "arrived_at", "sent_at"),
)


@dataclass(frozen=True)
class BuyerRow:
    source: str
    region: str
    country: str
    buyer_type: str


@dataclass(frozen=True)
class InquiryRow:
    grade: str
    stage: str
    products: tuple[str, ...]  # product names (or SKUs), one per product asked about


@dataclass(frozen=True)
class ReplyRow:
    """One incoming message and the first reply drafted to it."""

    owner: str
    arrived_at: datetime
    drafted_at: datetime | None
    approved_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True)
class Timing:
    count: int
    median_minutes: float | None
    within_2h: float | None  # share 0..1
    within_1_working_day: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "median_minutes": self.median_minutes,
                "within_2h": self.within_2h, "within_1_working_day": self.within_1_working_day}


@dataclass(frozen=True)
class Stats:
    buyers_total: int
    buyers_by: dict[str, list[tuple[str, int]]]  # source, region, country, type
    inquiries_total: int
    products: list[tuple[str, int]]
    grades: list[tuple[str, int]]
    funnel: list[tuple[str, int]]
    reply_times: dict[str, Timing]  # overall, by interval name
    reply_times_by_owner: dict[str, dict[str, Timing]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def pairs(items: list[tuple[str, int]]) -> list[dict[str, Any]]:
            return [{"label": k, "count": v} for k, v in items]

        return {
            "buyers": {"total": self.buyers_total,
                       **{k: pairs(v) for k, v in self.buyers_by.items()}},
            "inquiries": {"total": self.inquiries_total, "products": pairs(self.products),
                          "grades": pairs(self.grades)},
            "funnel": pairs(self.funnel),
            "reply_times": {k: t.as_dict() for k, t in self.reply_times.items()},
            "reply_times_by_owner": {o: {k: t.as_dict() for k, t in d.items()}
                                     for o, d in self.reply_times_by_owner.items()},
        }


def tally(values: Iterable[str]) -> list[tuple[str, int]]:
    """Counts, most frequent first, ties by label; empty values shown as '(none)'."""
    counts = Counter(v or UNKNOWN for v in values)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def funnel(stages: Iterable[str]) -> list[tuple[str, int]]:
    """Inquiries in each stage, in pipeline order (every stage shown, zeros too)."""
    counts = Counter(stages)
    return [(s, counts.get(s, 0)) for s in STAGES]


def working_time(start: datetime, end: datetime, tz: tzinfo) -> timedelta:
    """Time between start and end that falls on Monday to Friday in tz."""
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    cursor = start.astimezone(tz)
    stop = end.astimezone(tz)
    while cursor < stop:
        next_midnight = datetime.combine(cursor.date() + timedelta(days=1), time(0), tz)
        piece_end = min(next_midnight, stop)
        if cursor.weekday() < 5:
            total += piece_end - cursor
        cursor = piece_end
    return total


def timing(pairs: Sequence[tuple[datetime, datetime]], tz: tzinfo) -> Timing:
    """Median and shares of (start, end) pairs; an empty list gives None values."""
    if not pairs:
        return Timing(0, None, None, None)
    minutes = [(end - start).total_seconds() / 60 for start, end in pairs]
    fast = sum(1 for start, end in pairs if end - start <= TWO_HOURS)
    in_day = sum(1 for start, end in pairs if working_time(start, end, tz) <= WORKING_DAY)
    n = len(pairs)
    return Timing(n, round(statistics.median(minutes), 1), fast / n, in_day / n)


def reply_timings(rows: Sequence[ReplyRow], tz: tzinfo) -> dict[str, Timing]:
    """The three intervals over rows; a row counts where both of its ends are known."""
    result = {}
    for name, start_attr, end_attr in INTERVALS:
        pairs = [(getattr(r, start_attr), getattr(r, end_attr)) for r in rows
                 if getattr(r, start_attr) is not None and getattr(r, end_attr) is not None]
        result[name] = timing(pairs, tz)
    return result


def compute(buyers: Sequence[BuyerRow], inquiries: Sequence[InquiryRow],
            replies: Sequence[ReplyRow], tz: tzinfo) -> Stats:
    """Every figure of `report stats` from the rows of the period."""
    owners = sorted({r.owner or UNKNOWN for r in replies})
    return Stats(
        buyers_total=len(buyers),
        buyers_by={
            "source": tally(b.source for b in buyers),
            "region": tally(b.region for b in buyers),
            "country": tally(b.country for b in buyers),
            "type": tally(b.buyer_type for b in buyers),
        },
        inquiries_total=len(inquiries),
        products=tally(p for i in inquiries for p in i.products),
        grades=tally(i.grade for i in inquiries),
        funnel=funnel(i.stage for i in inquiries),
        reply_times=reply_timings(replies, tz),
        reply_times_by_owner={
            o: reply_timings([r for r in replies if (r.owner or UNKNOWN) == o], tz)
            for o in owners
        },
    )
