"""Benchmarks: run each as ``python -m bench.<module>`` from the repo root."""
