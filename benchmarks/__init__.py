"""ganzoo's speed benchmarks: ``python benchmarks/run.py [--quick]`` (see benchmarks/README.md)."""
