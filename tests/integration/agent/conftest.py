"""Fixtures for agent integration tests: a fake master and a real agent in the test's loop
(agent_fixtures.py)."""

from agent_fixtures import agent, agent_overrides, http, make_agent, master, work_dir

__all__ = ["agent", "agent_overrides", "http", "make_agent", "master", "work_dir"]
