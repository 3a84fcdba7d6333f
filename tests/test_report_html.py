"""The HTML report: the pure bar chart, and the whole page rendered in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.report_html import BAR_COLOURS, bar_chart, render
from daemon.report_stats import BuyerRow, InquiryRow, ReplyRow, compute
from tests.db.fixtures import missing

ARTEFACTS = Path(os.environ.get("INQUIRYD_ARTEFACTS", Path(__file__).resolve().parents[1] / "build" / "artefacts"))


def test_bar_widths_follow_the_values_and_labels_are_escaped() -> None:
    svg = bar_chart("Top <products>", [("A&B", 10), ("c", 5), ("d", 0)], width=400,
                    label_width=100)
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths == [240.0, 120.0, 0.0]                           # plot = 400 - 100 - 60
    assert "A&amp;B" in svg and "Top &lt;products&gt;" in svg and "<products>" not in svg
    assert "no data" in bar_chart("Empty", [])


def sample_stats():  # type: ignore[no-untyped-def]
    t0 = datetime(2025, 3, 3, 2, tzinfo=UTC)
    buyers = [BuyerRow("trade-show", "Middle East", "AE", "importer"),
              BuyerRow("website", "Europe", "DE", "retailer"),
              BuyerRow("trade-show", "Africa", "NG", "")]
    inquiries = [InquiryRow("A", "quoted", ("LED panel", "LED tube")),
                 InquiryRow("B", "won", ("LED panel",)), InquiryRow("C", "lost", ("太阳能灯",))]
    replies = [ReplyRow("alice", t0, t0 + timedelta(minutes=5), t0 + timedelta(hours=1),
                        t0 + timedelta(hours=2)),
               ReplyRow("bob", t0, t0 + timedelta(minutes=30), None, None)]
    return compute(buyers, inquiries, replies, UTC)


def test_the_page_is_self_contained() -> None:
    page = render(sample_stats(), title="Stats", period="March")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert re.findall(r"https?://[^\"']+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    assert "太阳能灯" in page and "alice" in page


def png_colours(data: bytes) -> set[bytes]:
    """Distinct pixel colours of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6)
            bpp = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, prev, colours = zlib.decompress(idat), width * bpp, bytearray(width * bpp), set()
    for row_start in range(0, len(raw), stride + 1):
        ftype, line = raw[row_start], bytearray(raw[row_start + 1:row_start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return colours


def test_the_page_renders_its_charts_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        missing("chromium", "apt-get install chromium")
    page = tmp_path / "stats.html"
    page.write_text(render(sample_stats(), title="Stats", period="March"), encoding="utf-8")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "report-stats.png"
    shot.unlink(missing_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    colours = png_colours(shot.read_bytes())
    # Each chart's bars are drawn in its own colour: seeing them means the SVG rendered.
    drawn = {c for c in BAR_COLOURS[:4] if bytes.fromhex(c[1:]) in colours}
    assert len(drawn) == 4, f"bar colours found: {drawn}; {len(colours)} colours in all"
