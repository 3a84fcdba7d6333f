"""The statistics as one self-contained HTML page, charts drawn as inline SVG (pure).

No scripts, no fonts or images from the network: the file opens anywhere, offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from daemon.report_stats import INTERVALS, Stats, Timing

BAR_COLOURS = ("#2f6fb0", "#e07b39", "#3a9a5b", "#c0392b", "#8e6bb8", "#b8860b")
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1rem}
figure{margin:0;padding:.5rem;border:1px solid #eee;border-radius:6px}
figcaption{font-weight:600;margin-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}.muted{color:#777}
"""


def bar_chart(title: str, items: Sequence[tuple[str, float]], *, colour: str = BAR_COLOURS[0],
              width: int = 480, bar_height: int = 22, label_width: int = 150,
              limit: int = 15) -> str:
    """A horizontal bar chart as an <svg> element; the first `limit` items are drawn."""
    items = list(items)[:limit]
    if not items:
        return f'<figure><figcaption>{escape(title)}</figcaption><p class="muted">no data</p></figure>'
    top = max(v for _, v in items) or 1
    plot = width - label_width - 60
    height = bar_height * len(items) + 10
    rows = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * bar_height
        w = max(1.0, plot * value / top) if value else 0
        text = escape(label if len(label) <= 22 else label[:21] + "…")
        rows.append(
            f'<text x="{label_width - 6}" y="{y + bar_height * 0.65:.1f}" text-anchor="end" '
            f'font-size="12">{text}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{bar_height - 6}" '
            f'fill="{colour}"><title>{escape(label)}: {_num(value)}</title></rect>'
            f'<text x="{label_width + w + 4:.1f}" y="{y + bar_height * 0.65:.1f}" '
            f'font-size="12">{_num(value)}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
           + "".join(rows) + "</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{svg}</figure>"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f}%"


def _hours(minutes: float | None) -> str:
    return "–" if minutes is None else f"{minutes / 60:.1f} h"


def _timing_table(rows: Sequence[tuple[str, dict[str, Timing]]]) -> str:
    head = "".join(f"<th colspan=4>{escape(n.replace('_', ' '))}</th>" for n, _, _ in INTERVALS)
    sub = "<th>n</th><th>median</th><th>≤2 h</th><th>≤1 working day</th>" * len(INTERVALS)
    body = []
    for who, timings in rows:
        cells = "".join(
            f"<td>{t.count}</td><td>{_hours(t.median_minutes)}</td><td>{_pct(t.within_2h)}</td>"
            f"<td>{_pct(t.within_1_working_day)}</td>"
            for t in (timings[n] for n, _, _ in INTERVALS))
        body.append(f"<tr><td>{escape(who)}</td>{cells}</tr>")
    return (f"<table><tr><th rowspan=2></th>{head}</tr><tr>{sub}</tr>"
            + "".join(body) + "</table>")


def render(stats: Stats, *, title: str, period: str) -> str:
    """The whole page."""
    buyers = "".join(
        bar_chart(f"Buyers by {dim}", items, colour=BAR_COLOURS[i % len(BAR_COLOURS)])
        for i, (dim, items) in enumerate(stats.buyers_by.items()))
    inquiries = (bar_chart("Products asked about (inquiries)", stats.products,
                           colour=BAR_COLOURS[1])
                 + bar_chart("Inquiries by grade", stats.grades, colour=BAR_COLOURS[2])
                 + bar_chart("Funnel: inquiries by stage", stats.funnel, colour=BAR_COLOURS[4],
                             limit=20))
    medians = [(n.replace("_", " "), (stats.reply_times[n].median_minutes or 0) / 60)
               for n, _, _ in INTERVALS]
    owners = [("all", stats.reply_times), *stats.reply_times_by_owner.items()]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=muted>{escape(period)}</p>"
        f"<h2>Buyers ({stats.buyers_total})</h2><div class=grid>{buyers}</div>"
        f"<h2>Inquiries ({stats.inquiries_total})</h2><div class=grid>{inquiries}</div>"
        f"<h2>Reply times</h2><div class=grid>"
        f"{bar_chart('Median reply time (hours)', medians, colour=BAR_COLOURS[3])}</div>"
        f"{_timing_table(owners)}</body></html>"
    )
