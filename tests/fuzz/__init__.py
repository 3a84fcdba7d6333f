"""Property tests on generated mail: parse, classify, extract and the review folder.

Messages, headers and review files are generated (never stored) by the strategies in
this package; every failing case found is kept as an explicit example beside its test.
"""
