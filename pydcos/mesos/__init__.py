"""The Mesos core: v1 messages, master, agent, and the scheduler and executor driver libraries."""
