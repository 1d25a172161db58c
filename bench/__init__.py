"""signdeal's benchmarks: ``python -m bench.run`` (``make bench``); see docs/performance.md."""
