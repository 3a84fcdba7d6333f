"""Hypothesis profiles for the fuzz tests.

`ci` (the default) is derandomized, so every run tries the same examples, and sized so
that the whole package runs in under a minute on two cores (about 25 s measured).
`dev` tries many more, with fresh random examples each run:
HYPOTHESIS_PROFILE=dev tests/run tests/fuzz. The deadline of each example is generous
(5 s, 10 s): parse and the understanding stages take milliseconds.
No example database is kept for `ci`; `dev` keeps its failures under .hypothesis/
(git-ignored) so that a failure found once is tried first the next time.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

# Generating a deep MIME tree takes longer than Hypothesis expects of a strategy.
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci", max_examples=100, derandomize=True, database=None,
    deadline=timedelta(seconds=5), suppress_health_check=_SLOW_DATA, print_blob=True)
settings.register_profile(
    "dev", max_examples=2000, deadline=timedelta(seconds=10),
    suppress_health_check=_SLOW_DATA, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

