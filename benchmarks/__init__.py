"""Benchmarks of the DarkHorse panel build (importable so tests can reuse the reference code)."""
