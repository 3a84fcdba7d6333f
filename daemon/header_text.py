"""Text safe to put in a header (pure): the one place that strips what could break one."""

from __future__ import annotations

import re

# Everything str.splitlines() splits on, and the rest of C0/C1, plus the BOM.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_RUNS = re.compile(r"  +")


def clean_line(text: str) -> str:
    """One line of text safe to copy into a header: no control or line-break chars."""
    return _RUNS.sub(" ", _CONTROLS.sub(" ", text)).strip()
