"""The benchmark runner still runs: every scenario, both sides, positive figures.

Benchmarks are run by hand (`python -m bench`); this smoke test only keeps their code
from rotting. It compares no figure with a threshold.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from bench.run import scenarios, table
from tests.helpers import ROOT

FIGURES = ("items", "seconds", "items_per_s", "floor_items", "floor_items_per_s", "ratio",
           "ms_per_item", "peak_rss_mib", "floor_peak_rss_mib")


@pytest.mark.imap
def test_quick_run_has_every_scenario_with_positive_figures(dovecot: Any) -> None:
    # The runner starts a Dovecot of its own; the fixture gives this test the same skip
    # (or, in CI, failure) as every other IMAP test when Dovecot cannot run here.
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    rows = {row["scenario"]: row for row in result["rows"]}
    assert list(rows) == list(scenarios())
    for name, row in rows.items():
        assert all(row[key] > 0 for key in FIGURES), (name, row)
        assert "WARNING" not in row["note"], (name, row["note"])
    printed = table(result)
    assert all(f"| {row['title']} | {row['items']:,} |" in printed for row in rows.values())
