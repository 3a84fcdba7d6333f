"""HTML to readable plain text, with the standard library's html.parser only.

For HTML-only mail: scripts, styles and the <head> are dropped; block elements end a
line; table cells are kept apart by a space; whitespace is collapsed; link text is kept
(the address is not, as a reader of the mail would not see it either). Quoted history
in <blockquote> comes out with "> " in front of each line, so the reply splitter in
`daemon.parse` recognises it like quoted plain text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Longer input is cut, not refused: an inquiry's words are in the first few hundred
# kilobytes, and html.parser is pure Python.
MAX_HTML_CHARS = 1_000_000

# html.parser rescans from every "<" that does not complete a construct: "</" repeated
# 1,000,000 times took 300 s on Python 3.11.7, "<!" 24 s, "<![CDATA[" 52 s. So before
# parsing, comments and declarations are removed and every "<" that does not open a
# complete tag becomes "&lt;". Quoted attribute values cannot span a "<" and the
# repetition is possessive, so each scan stops at the next "<": linear overall.
_DECLARATION = re.compile(r"<[!?][^<>]*+>")
_STRAY_LT = re.compile(r"""<(?!/?[A-Za-z](?:"[^"<]*+"|'[^'<]*+'|[^<>])*+>)""")

_SKIP = frozenset({"script", "style", "head", "title", "template", "svg"})
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol",
    "p", "pre", "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
})
_CELL = frozenset({"td", "th"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area",
                   "base", "source", "track", "embed", "param"})
_SPACES = re.compile(r"[ \t\n\r\f\v\u00a0\u200b]+")


class _TextCollector(HTMLParser):
    """Collects lines of text, each with the <blockquote> depth it started at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._current: list[str] = []
        self._skip_depth = 0
        self._quote_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag == "body":
            # Browsers close an unclosed <head> here; without this the whole body is lost.
            self._skip_depth = 0
        elif tag == "br":
            self._end_line(force=True)
        elif tag in _BLOCK:
            self._end_line()
            self._quote_depth += tag == "blockquote"
            self._pre_depth += tag == "pre"
        elif tag in _CELL:
            self._current.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> and <p/> alike: a self-closed element opens nothing.
        if tag == "br" or tag in _BLOCK:
            self._end_line(force=tag == "br")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK and tag not in _VOID:
            self._end_line()
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)
            elif tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            first, *rest = data.split("\n")
            self._current.append(first)
            for line in rest:
                self._end_line(force=True)
                self._current.append(line)
        else:
            self._current.append(data)

    def close(self) -> None:
        super().close()
        self._end_line()

    def _end_line(self, force: bool = False) -> None:
        raw = "".join(self._current)
        self._current = []
        text = raw.rstrip() if self._pre_depth else _SPACES.sub(" ", raw).strip()
        if text or force:
            self.lines.append((self._quote_depth, text))


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML document or fragment."""
    collector = _TextCollector()
    collector.feed(_well_formed(html[:MAX_HTML_CHARS]))
    collector.close()
    return _render(collector.lines)


def _without_comments(html: str) -> str:
    """Drop <!-- ... --> comments; an unclosed one runs to the end, as in browsers."""
    kept: list[str] = []
    position = 0
    while (start := html.find("<!--", position)) >= 0:
        kept.append(html[position:start])
        end = html.find("-->", start + 4)
        if end < 0:
            return "".join(kept)
        position = end + 3
    kept.append(html[position:])
    return "".join(kept)


def _well_formed(html: str) -> str:
    return _STRAY_LT.sub("&lt;", _DECLARATION.sub("", _without_comments(html)))


def _render(lines: list[tuple[int, str]]) -> str:
    """Join lines, prefixing quoted ones, with at most one blank line in a row."""
    out: list[str] = []
    for depth, text in lines:
        line = ("> " * depth + text).rstrip() if depth else text
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
