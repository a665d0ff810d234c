"""Offline tooling: the mock engine that runs the real program, and the plan command built on it."""
