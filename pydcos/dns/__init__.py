"""Mesos-DNS for pydcos: names for tasks, frameworks and masters, over DNS and HTTP."""
