"""`python -m bench`: run the benchmarks and print the table (bench/run.py)."""

from bench.run import main

main()
