"""Measurement, outside the runtime package: ``python -m bench.accuracy`` (make bench),
``python -m bench.loadbench`` (make bench-load), the BM25 baseline and the Locust file."""
