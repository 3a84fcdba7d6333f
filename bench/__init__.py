"""inquiryd's benchmarks: each scenario against the bare libraries, run by hand."""
