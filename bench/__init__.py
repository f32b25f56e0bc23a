"""The benchmark: `python -m bench` (make bench) and its CI quick mode (make bench-quick)."""
