"""The loaded rules, as one frozen value (pure); rulebook.py reads them from rules/."""

from __future__ import annotations

from dataclasses import dataclass

from daemon.catalog import Catalog
from daemon.classify import ClassifyRules
from daemon.followup import FollowupRules
from daemon.geo import Geo
from daemon.grade import GradingRules
from daemon.match_buyer import MatchingRules


@dataclass(frozen=True, slots=True)
class Rulebook:
    classify: ClassifyRules
    catalog: Catalog
    geo: Geo
    grading: GradingRules
    matching: MatchingRules
    followups: FollowupRules
