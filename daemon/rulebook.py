"""Loading rules/: the editable rules, as data, failing loudly with file and line.

Every `rules/*.toml` must parse; `rules/*.csv` must be UTF-8 with a header row.
The rule kinds themselves are read by the stages that use them.
"""

from __future__ import annotations

import csv
import re
import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path) -> dict[str, Any]:
    """One rules file; a ValueError's text is `FILE:LINE: what is wrong`."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(toml_problem(path, exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read: {exc}") from None


def toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """`FILE:LINE: what` from tomllib's "... (at line N, column M)"."""
    m = re.search(r"^(.*) \(at line (\d+), column (\d+)\)$", str(exc))
    if not m:
        return f"{path}: not valid TOML: {exc}"
    return f"{path}:{m[2]}: not valid TOML: {m[1]} (column {m[3]})"


def check_rules(root: Path) -> list[str]:
    """Parse every rules file; return one problem line per broken file."""
    if not root.is_dir():
        return [f"{root}: rules folder not found (paths.rules)"]
    problems = []
    for path in sorted(root.glob("*.toml")):
        try:
            read_toml(path)
        except ValueError as exc:
            problems.append(str(exc))
    for path in sorted(root.glob("*.csv")):
        problems.extend(_check_csv(path))
    return problems


def _check_csv(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot be read as UTF-8 CSV: {exc}"]
    return [] if header else [f"{path}:1: empty file, a header row is needed"]
