"""gridlab benchmarks: `python -m benchmarks.run [names...]` (see benchmarks/run.py)."""
