"""Rose Ash benchmarks: every figure a ratio against a bare Quart route measured in the same run."""
