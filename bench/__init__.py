"""Benchmarks of accessmgr: `make bench` (python -m bench). See docs/benchmarks.md."""
