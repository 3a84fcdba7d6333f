"""Benchmark of the parse stage: the shared corpus N times, then each adversarial message.

    .venv/bin/python bench/parse_corpus.py [N]      # default N = 5

Prints messages/s over the corpus (parsed and refused alike), the slowest single
message, how many files parsed or were refused and why, and for each adversarial message
(the ones tests/test_parse.py generates) the time taken to refuse it. Asserts nothing:
the tests never time anything.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.errors import PermanentError  # noqa: E402
from daemon.parse import parse  # noqa: E402
from daemon.types import ParseLimits  # noqa: E402
from tests.test_parse import ADVERSARIAL, CORPUS, encoded_subject  # noqa: E402


def corpus_messages() -> list[tuple[Path, bytes]]:
    files = [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name != "LICENSE"
             and p.suffix != ".md" and not p.name.startswith(".")]
    return [(p, p.read_bytes()) for p in files]


def timed(raw: bytes, limits: ParseLimits = ParseLimits()) -> tuple[float, str | None]:
    """Seconds taken, and the refusal reason (None when the message parsed)."""
    start = time.perf_counter()
    try:
        parse(raw, limits)
        reason = None
    except PermanentError as exc:
        reason = str(exc)
    return time.perf_counter() - start, reason


def bench_corpus(messages: list[tuple[Path, bytes]], rounds: int) -> None:
    times: list[float] = []
    slowest = (0.0, Path())
    for _ in range(rounds):
        for path, raw in messages:
            seconds, _ = timed(raw)
            times.append(seconds)
            slowest = max(slowest, (seconds, path))
    size = sum(len(raw) for _, raw in messages)
    print(f"corpus: {len(messages)} files, {size / 1e6:.1f} MB, {rounds} rounds")
    total = sum(times)
    print(f"  {len(times) / total:,.0f} messages/s, {size * rounds / total / 1e6:.1f} MB/s;"
          f" median {statistics.median(times) * 1e3:.2f} ms")
    print(f"  slowest: {slowest[0] * 1e3:.1f} ms  {slowest[1].relative_to(CORPUS)}")


def report_outcomes(messages: list[tuple[Path, bytes]]) -> None:
    reasons: Counter[str] = Counter()
    for path, raw in messages:
        _, reason = timed(raw)
        if reason is not None:
            reasons[reason] += 1
            print(f"  refused {path.relative_to(CORPUS)}: {reason}")
    refused = sum(reasons.values())
    print(f"  parsed {len(messages) - refused}, refused {refused}")


def bench_adversarial() -> None:
    print("adversarial (default limits):")
    cases = {name: (make, ParseLimits()) for name, (make, _) in ADVERSARIAL.items()}
    cases["200,000 encoded words, 4 MiB header limit"] = (
        lambda: encoded_subject(200_000), ParseLimits(max_header_bytes=4 * 1024 * 1024))
    for name, (make, limits) in cases.items():
        raw = make()
        seconds, reason = timed(raw, limits)
        outcome = f"refused: {reason}" if reason else "parsed"
        print(f"  {name:44} {len(raw):>12,} B {seconds * 1e3:9.1f} ms  {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", nargs="?", type=int, default=5)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"no corpus at {CORPUS}")
    messages = corpus_messages()
    timed(messages[0][1])  # imports and caches warm, outside the figures
    bench_corpus(messages, args.rounds)
    report_outcomes(messages)
    bench_adversarial()


if __name__ == "__main__":
    main()
