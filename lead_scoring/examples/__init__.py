"""Example rules files, data loaders and synthetic data for evaluation and benchmarks."""
