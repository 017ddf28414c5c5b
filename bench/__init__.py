"""Benchmarks of the sync server over real HTTP against PostGIS (see bench/README.md)."""
