"""The one benchmark command: every scenario against its bare-library floor, one table.

    .venv/bin/python -m bench [--quick] [--only NAME ...] [--count N] [--json]

Each scenario's two sides run in child processes of their own (bench/harness.py), in
the same run and against the same servers, so the ratio compares like with like and
each peak memory figure belongs to one measurement.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

from bench.harness import BenchError, bench_run, progress

# Module names, in the table's order; each holds SCENARIO and measure(bench, count).
MODULES = ("ingest", "draft", "send", "matching", "poll", "newsletter")


def scenarios() -> dict[str, ModuleType]:
    loaded = (importlib.import_module(f"bench.{m}") for m in MODULES)
    return {module.SCENARIO.name: module for module in loaded}


def parser(names: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    p.add_argument("--only", action="append", choices=names, metavar="NAME",
                   help=f"run only this scenario (repeatable): {', '.join(names)}")
    p.add_argument("--count", type=int, help="size of the scenarios chosen: messages, "
                   "drafts, buyers (match) or polls (default: each one's own)")
    p.add_argument("--seed", type=int, default=20261124, help="changes the generated data")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    modules = scenarios()
    args = parser(list(modules)).parse_args(argv)
    if args.count is not None and args.count < 1:
        sys.exit("bench: --count must be 1 or more")
    chosen = [modules[n] for n in (args.only or modules)]
    try:
        rows = run(chosen, args.quick, args.count, args.seed)
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    result = {"machine": machine(), "quick": args.quick, "rows": rows}
    print(json.dumps(result, indent=2) if args.json else table(result))


def run(modules: Sequence[ModuleType], quick: bool, count: int | None,
        seed: int) -> list[dict[str, Any]]:
    rows = []
    with bench_run(seed) as bench:
        for module in modules:
            scenario = module.SCENARIO
            n = count or (scenario.quick if quick else scenario.full)
            progress(f"{scenario.name} ({n:,})")
            floor, ours, note = module.measure(bench, n)
            rows.append(row(scenario, floor, ours, note))
    return rows


def row(scenario: Any, floor: dict[str, Any], ours: dict[str, Any], note: str) -> dict[str, Any]:
    for side, m in (("floor", floor), ("inquiryd", ours)):
        if m["items"] <= 0 or m["seconds"] <= 0:
            raise BenchError(f"{scenario.name}: the {side} side handled nothing ({note})")
    rate, floor_rate = ours["items"] / ours["seconds"], floor["items"] / floor["seconds"]
    return {
        "scenario": scenario.name, "title": ours.get("title", scenario.title),
        "unit": scenario.unit, "items": ours["items"], "seconds": ours["seconds"],
        "items_per_s": rate, "ms_per_item": 1000 * ours["seconds"] / ours["items"],
        "floor_items": floor["items"], "floor_seconds": floor["seconds"],
        "floor_items_per_s": floor_rate, "ratio": rate / floor_rate,
        "peak_rss_mib": ours["peak_mib"], "floor_peak_rss_mib": floor["peak_mib"],
        "note": note,
    }


def machine() -> dict[str, Any]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "system": f"{platform.system()} {platform.release()}", "load_1min": load,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


COLUMNS = ("scenario", "items", "seconds", "items/s", "floor items/s", "ratio",
           "ms/item", "peak RSS MiB", "floor RSS MiB")


def table(result: dict[str, Any]) -> str:
    """The rows as a Markdown table, then one line of detail per scenario."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" + "---:|" * (len(COLUMNS) - 1)]
    for r in result["rows"]:
        cells = (r["title"], f"{r['items']:,}", f"{r['seconds']:.2f}",
                 f"{r['items_per_s']:,.0f}", f"{r['floor_items_per_s']:,.0f}",
                 f"{r['ratio']:.2g}", f"{r['ms_per_item']:.2f}",
                 f"{r['peak_rss_mib']:.0f}", f"{r['floor_peak_rss_mib']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    m = result["machine"]
    lines += ["", f"Python {m['python']}, {m['system']}, {m['cpus']} CPUs, load "
              f"{m['load_1min']:.2f} at the end; ratio = inquiryd items/s ÷ floor items/s;"
              " RSS = the measuring process's peak (VmHWM).", ""]
    lines += [f"- {r['scenario']}: {r['note']}" for r in result["rows"]]
    return "\n".join(lines)


def script(name: str) -> None:
    """`bench/NAME.py [N] [options]`: the runner with only that scenario."""
    argv = sys.argv[1:]
    if argv and argv[0].isdigit():
        argv = ["--count", argv[0], *argv[1:]]
    main(["--only", name, *argv])
