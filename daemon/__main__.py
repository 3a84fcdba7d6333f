"""`python -m daemon` is the `inquiryd` command."""

from daemon.cli import main

main()
