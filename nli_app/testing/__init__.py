"""Helpers that the tests and the serving benchmarks share: a server process, requests, a toy SavedModel."""
