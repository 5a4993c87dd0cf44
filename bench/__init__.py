"""Benchmarks (`make bench`): ratios measured side by side in one run, medians of repeats."""
