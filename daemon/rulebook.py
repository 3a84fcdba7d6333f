"""Loading rules/: the editable rules, as data, failing loudly with file and line.

Files are read here; what they mean is validated by the pure module that uses them
(classify, catalog, geo, grade, match_buyer), each reporting `FILE: entry: what`.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from daemon.errors import ConfigError
from daemon.rules import Rulebook

T = TypeVar("T")


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
    """Load the rules as the daemon would, and parse any other rules file; every problem."""
    if not root.is_dir():
        return [f"{root}: rules folder not found (paths.rules)"]
    problems = []
    known = {CLASSIFY, CATALOG, REGIONS, COUNTRIES, GRADING, MATCHING, FOLLOWUPS}
    for path in sorted(root.glob("*.toml")):
        if path.name not in known:
            try:
                read_toml(path)
            except ValueError as exc:
                problems.append(str(exc))
    for path in sorted(root.glob("*.csv")):
        if path.name not in known:
            problems.extend(_check_csv(path))
    try:
        load(root)
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def _check_csv(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot be read as UTF-8 CSV: {exc}"]
    return [] if header else [f"{path}:1: empty file, a header row is needed"]


# The rules files and what each holds; `load` reads them all and reports every problem.
CLASSIFY, CATALOG, REGIONS, COUNTRIES, GRADING, MATCHING = (
    "classify.toml", "catalog.csv", "regions.toml", "countries.toml", "grading.toml",
    "matching.toml")
FOLLOWUPS = "followups.toml"


def load(root: Path) -> Rulebook:
    """Read and validate rules/; raise ConfigError naming file and entry of every mistake."""
    from daemon.catalog import Catalog
    from daemon.classify import ClassifyRules
    from daemon.followup import FollowupRules
    from daemon.geo import Geo
    from daemon.grade import GradingRules
    from daemon.match_buyer import MatchingRules

    problems: list[str] = []

    def attempt(build: Callable[[], T]) -> T | None:
        try:
            return build()
        except ConfigError as exc:
            problems.extend(exc.problems)
        except ValueError as exc:
            problems.append(str(exc))
        return None

    def toml(name: str) -> dict[str, Any]:
        return read_toml(root / name)

    def text(name: str) -> str:
        try:
            return (root / name).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{root / name}: cannot be read as UTF-8: {exc}") from None

    matching = attempt(lambda: MatchingRules.from_toml(toml(MATCHING), str(root / MATCHING)))
    free_mail = matching.free_mail if matching else frozenset()
    classify = attempt(lambda: ClassifyRules.from_toml(toml(CLASSIFY), str(root / CLASSIFY)))
    catalog = attempt(lambda: Catalog.from_csv_text(text(CATALOG), str(root / CATALOG)))
    geo = attempt(lambda: Geo.from_toml(toml(REGIONS), toml(COUNTRIES),
                                        (str(root / REGIONS), str(root / COUNTRIES)),
                                        free_mail_domains=free_mail))
    grading = attempt(lambda: GradingRules.from_toml(toml(GRADING), str(root / GRADING)))
    followups = attempt(lambda: FollowupRules.from_toml(toml(FOLLOWUPS), str(root / FOLLOWUPS)))
    if problems:
        raise ConfigError(problems)
    return Rulebook(classify, catalog, geo, grading, matching, followups)  # type: ignore[arg-type]
