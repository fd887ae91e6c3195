"""Fixtures for agent integration tests: a fake master and a real agent in the test's loop, or a
real master and the agent as a process (agent_fixtures.py)."""

from agent_fixtures import (
    agent,
    agent_overrides,
    http,
    make_agent,
    master,
    real_master,
    start_agent,
    work_dir,
)

__all__ = ["agent", "agent_overrides", "http", "make_agent", "master", "real_master", "start_agent", "work_dir"]
