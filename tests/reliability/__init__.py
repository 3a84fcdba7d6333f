"""Reliability tests: a real-world mail corpus, SIGKILL at random points, hostile messages.

Each runs inquiryd's real ingest (runner.poll, or `python -m daemon poll` in a child
process) against the session's real Dovecot. They assert outcomes, never timings: speed
is measured by bench/ingest.py.
"""
