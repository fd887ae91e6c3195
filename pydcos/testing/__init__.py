"""Test helpers that ship with pydcos: fakes, factories, local clusters for end-to-end tests."""
