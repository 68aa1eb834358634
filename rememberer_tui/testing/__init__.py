"""Helpers shipped for users' own tests (no network, no real LLM)."""
